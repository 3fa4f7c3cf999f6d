"""Training the fusion autoencoder (single process, or DDP under torchrun).

Each step draws, per sample, a random non-empty subset of its modalities
(pass A) and one single modality (pass B). Both latents are decoded to every
modality, so every subset learns to generate everything; an InfoNCE term pulls
the two latents of the same sample together. Optional: a PatchGAN hinge loss
on faces (`gan`). Checkpoints are atomic; `resume` continues from the newest
complete one with optimizer, schedule, step and random state.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mmdemo import checkpoint as ckpt
from mmdemo.data.loaders import MultimodalDataset, add_log_mel, collate, open_samples
from mmdemo.model.losses import hinge_d, hinge_g, info_nce, kl_to_standard_normal, ssim, warmup_cosine
from mmdemo.model.network import VOICE_PARAM_NAMES, FusionAutoencoder, ModelConfig
from mmdemo.model.text import TextVocab
from mmdemo.runtime import Distributed, init_distributed, resolve_device, shutdown_distributed
from mmdemo.schema import MODALITIES, UNKNOWN
from mmdemo.synth.descriptions import describe
from mmdemo.training.textcache import TextStateCache, wordings

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    steps: int = 2000
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 0.02
    warmup_steps: int = 200
    grad_clip: float = 1.0
    kl_weight: float = 5e-4  # on the KL summed over latent dims; small, so reconstructions stay sharp
    kl_warmup_steps: int = 500
    image_l1: float = 1.0
    image_ssim: float = 0.5
    text_ce: float = 0.3
    voice: float = 0.3
    attributes: float = 1.0
    contrastive: float = 0.1
    temperature: float = 0.2
    text_token_dropout: float = 0.05
    text_wordings: int = 2  # cached wordings per training sample (original + one re-worded)
    gan: bool = False
    gan_weight: float = 0.05
    gan_start_fraction: float = 0.3
    checkpoint_every: int = 250
    cpu_bf16: bool = True  # bf16 autocast on CPUs with native bf16 (AVX512-BF16/AMX): ~1.4x faster steps
    seed: int = 0
    num_workers: int = 0  # on 2 cores a loader process slows the step more than it saves
    model: ModelConfig = field(default_factory=ModelConfig)


PRESETS: dict[str, TrainConfig] = {
    "tiny": TrainConfig(
        steps=40,
        batch_size=16,
        warmup_steps=5,
        kl_warmup_steps=10,
        checkpoint_every=10,
        text_wordings=2,
        num_workers=0,
        model=ModelConfig(dim=64, depth=4, heads=4, latent_dim=32, decoder_channels=64, text_hidden=64),
    ),
    "default": TrainConfig(),
}


def mixed_precision(device: torch.device, cpu_bf16: bool):
    """bf16 autocast on CUDA; on CPU only where the hardware has bf16 instructions (else it is slower)."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    native = (
        getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)()
        or getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)()
    )
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=cpu_bf16 and native)


# ------------------------------------------------------------------ batching
# every non-empty subset of (image, text, voice), as rows of a (7, 3) bool table
SUBSETS = torch.tensor(
    [[bool(k >> i & 1) for i in range(len(MODALITIES))] for k in range(1, 2 ** len(MODALITIES))]
)


def random_subsets(avail: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """(B, 3) bool: a uniformly drawn non-empty subset of each row's available modalities."""
    valid = ~(SUBSETS[None] & ~avail[:, None]).any(-1)  # (B, 7)
    scores = torch.rand(valid.shape, generator=gen).masked_fill(~valid, -1)
    return SUBSETS[scores.argmax(1)]


def random_singles(avail: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """(B, 3) bool: one available modality per row."""
    scores = torch.rand(avail.shape, generator=gen).masked_fill(~avail, -1)
    return F.one_hot(scores.argmax(1), avail.shape[1]).bool() & avail


def fuse_by_subset(model: FusionAutoencoder, tokens: dict, chosen: torch.Tensor):
    """Fuses each row with only its chosen modalities; rows sharing a subset run together.

    Returns mu, logvar (B, Z). Grouping keeps sequences short: no padded keys for absent modalities."""
    b = chosen.shape[0]
    z = model.config.latent_dim
    device = next(iter(tokens.values()))[0].device
    mu, logvar = torch.zeros(b, z, device=device), torch.zeros(b, z, device=device)
    patterns, inverse = torch.unique(chosen, dim=0, return_inverse=True)
    for p, pattern in enumerate(patterns):
        rows = (inverse == p).nonzero()[:, 0].to(device)
        sub = {m: (tokens[m][0][rows], tokens[m][1][rows]) for i, m in enumerate(MODALITIES) if pattern[i]}
        if not sub:
            continue
        out = model.fuse(sub)
        mu, logvar = mu.index_copy(0, rows, out.mu), logvar.index_copy(0, rows, out.logvar)
    return mu, logvar


class PatchDiscriminator(nn.Module):
    """PatchGAN: one real/fake logit per overlapping ~22 px patch of a 64x64 face."""

    def __init__(self, channels: int = 32):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, channels, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(channels, channels * 2, 4, 2, 1),
            nn.GroupNorm(8, channels * 2),
            nn.LeakyReLU(0.2),
            nn.Conv2d(channels * 2, channels * 4, 4, 1, 1),
            nn.GroupNorm(8, channels * 4),
            nn.LeakyReLU(0.2),
            nn.Conv2d(channels * 4, 1, 4, 1, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x * 2 - 1)


# -------------------------------------------------------------------- losses
def decoder_losses(
    model: FusionAutoencoder, cfg: TrainConfig, batch: dict, mu, logvar, weight_rows, gen: torch.Generator
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Reconstruction, attribute, voice and KL losses of one latent batch; also returns the decoded faces."""
    eps = torch.randn(mu.shape, generator=gen).to(mu.device)
    z = mu + eps * (0.5 * logvar).exp()
    losses = {}
    rows = weight_rows.float()
    denom = rows.sum().clamp_min(1)
    recon = model.image_decoder(z)
    has_img = batch["has_image"].float() * rows
    if has_img.any():
        l1 = (recon - batch["image"]).abs().flatten(1).mean(1)
        losses["image_l1"] = (l1 * has_img).sum() / has_img.sum()
        losses["image_ssim"] = ((1 - ssim(recon, batch["image"])) * has_img).sum() / has_img.sum()
    if "target_ids" in batch:
        logits = model.text_decoder(z, batch["target_ids"])
        ce = F.cross_entropy(
            logits.transpose(1, 2), batch["target_ids"][:, 1:], ignore_index=0, reduction="none"
        )
        tokens = (batch["target_ids"][:, 1:] != 0).float()
        has_target = batch["has_target"].float() * rows
        losses["text_ce"] = (
            (ce.sum(1) / tokens.sum(1).clamp_min(1)) * has_target
        ).sum() / has_target.sum().clamp_min(1)
    has_vp = batch["has_voice_params"].float() * rows
    if has_vp.any():
        variant_logits, params = model.voice_outputs(z)
        v_ce = F.cross_entropy(variant_logits, batch["variant_idx"].clamp_min(0), reduction="none")
        v_mse = ((params - batch["voice_params_norm"]) ** 2).mean(1)
        losses["voice"] = ((v_ce + v_mse) * has_vp).sum() / has_vp.sum()
    attr_losses = [
        F.cross_entropy(logits, batch["attrs"][:, i], ignore_index=UNKNOWN, reduction="none")
        for i, logits in enumerate(model.attribute_logits(mu))
    ]
    known = (batch["attrs"] != UNKNOWN).float()
    per_row = torch.stack(attr_losses, 1).sum(1) / known.sum(1).clamp_min(1)
    losses["attributes"] = (per_row * rows).sum() / denom
    losses["kl"] = (kl_to_standard_normal(mu, logvar) * rows).sum() / denom
    return losses, recon


class LossModule(nn.Module):
    """The model with its training objective as `forward`, so DDP sees (and syncs) the whole step."""

    def __init__(self, model: FusionAutoencoder, cfg: TrainConfig):
        super().__init__()
        self.model, self.cfg = model, cfg

    def forward(self, batch: dict, step: int, gen: torch.Generator):
        return step_losses(self.model, self.cfg, batch, step, gen)


def step_losses(model: FusionAutoencoder, cfg: TrainConfig, batch: dict, step: int, gen: torch.Generator):
    """All losses of one training step; returns (total, parts for logging, pass-A faces)."""
    inputs = {}
    if batch["has_image"].any():
        inputs["image"] = batch["image"]
    if batch["has_text"].any():
        inputs["text_states"], inputs["text_mask"] = batch["text_states"], batch["text_mask"]
    if batch["has_voice"].any():
        inputs["mel"], inputs["mel_len"] = batch["mel"], batch["mel_len"]
    tokens = model.tokens(inputs)
    avail = torch.stack([batch["has_image"], batch["has_text"], batch["has_voice"]], 1).cpu()
    subset, single = random_subsets(avail, gen), random_singles(avail, gen)
    mu_a, logvar_a = fuse_by_subset(model, tokens, subset)
    mu_b, logvar_b = fuse_by_subset(model, tokens, single)
    every = torch.ones(avail.shape[0], dtype=torch.bool, device=mu_a.device)
    parts_a, recon_a = decoder_losses(model, cfg, batch, mu_a, logvar_a, every, gen)
    parts_b, _ = decoder_losses(model, cfg, batch, mu_b, logvar_b, every, gen)
    weights = {
        "image_l1": cfg.image_l1,
        "image_ssim": cfg.image_ssim,
        "text_ce": cfg.text_ce,
        "voice": cfg.voice,
        "attributes": cfg.attributes,
        "kl": cfg.kl_weight * min(1.0, step / max(1, cfg.kl_warmup_steps)),
    }
    parts = {k: 0.5 * (parts_a.get(k, 0) + parts_b.get(k, 0)) for k in parts_a}
    total = sum(weights[k] * v for k, v in parts.items())
    parts["contrastive"] = info_nce(mu_a, mu_b, cfg.temperature)
    total = total + cfg.contrastive * parts["contrastive"]
    return total, parts, recon_a


# ----------------------------------------------------------------- the loop
class EpochSampler(torch.utils.data.Sampler):
    """A seeded permutation per epoch, this rank's share of it, from an offset (for resume)."""

    def __init__(self, n: int, *, seed: int, dd: Distributed, batch_size: int):
        self.n, self.seed, self.dd, self.batch_size = n, seed, dd, batch_size
        self.epoch, self.offset = 0, 0

    def indices(self) -> list[int]:
        perm = torch.randperm(
            self.n, generator=torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        )
        mine = perm[self.dd.rank :: self.dd.world].tolist()
        usable = len(mine) - len(mine) % self.batch_size  # whole batches only: equal steps on every rank
        return mine[:usable][self.offset * self.batch_size :]

    def __iter__(self):
        return iter(self.indices())

    def __len__(self) -> int:
        return len(self.indices())

    def steps_per_epoch(self) -> int:
        per_rank = len(range(self.dd.rank, self.n, self.dd.world))
        return max(1, per_rank // self.batch_size)


def prepare_batch(
    batch: dict,
    cache: TextStateCache,
    vocab: TextVocab,
    variants: list[str],
    core: FusionAutoencoder,
    device: torch.device,
    token_dropout: float,
    gen: torch.Generator,
) -> dict:
    """Adds cached text states, decoder targets and voice targets; moves tensors to `device`."""
    batch["text_states"], batch["text_mask"] = cache.batch(
        batch["text"], token_dropout=token_dropout, gen=gen
    )
    targets = [t or "" for t in batch["target_text"]]
    ids = vocab.encode(targets)
    batch["target_ids"] = ids[:, : int((ids != 0).sum(1).max())]  # drop all-padding columns
    index = {v: i for i, v in enumerate(variants)}
    batch["variant_idx"] = torch.tensor([index.get(v, -1) if v else -1 for v in batch["voice_variant"]])
    batch["has_voice_params"] = (batch["variant_idx"] >= 0) & ~batch["voice_params"].isnan().any(1)
    batch["voice_params_norm"] = core.normalise_voice(torch.nan_to_num(batch["voice_params"]))
    batch["has_target"] = torch.tensor([t is not None for t in batch["target_text"]])
    batch = {k: (v.to(device, non_blocking=True) if torch.is_tensor(v) else v) for k, v in batch.items()}
    return add_log_mel(batch)


def _voice_stats(samples) -> tuple[list[float], list[float]]:
    values = np.array(
        [
            [float(s.voice[f"voice_{k}"]) for k in VOICE_PARAM_NAMES]
            for s in samples
            if all(f"voice_{k}" in s.voice for k in VOICE_PARAM_NAMES)
        ]
    )
    if len(values) < 2:
        return ModelConfig().voice_param_mean, ModelConfig().voice_param_std
    return values.mean(0).round(3).tolist(), np.maximum(values.std(0), 1.0).round(3).tolist()


def build_model_config(cfg: TrainConfig, samples, texts: list[str]) -> ModelConfig:
    """The model's data-dependent fields: decoder vocabulary, voice variants and scales."""
    from mmdemo.synth.voices import VARIANTS

    rng = np.random.default_rng(cfg.seed)
    # the vocabulary also covers wordings the training set happens not to contain
    extra = [describe(s.attrs, rng)[0] for s in samples[:2000] if s.attrs for _ in range(3)]
    vocab = TextVocab.build([*texts, *extra])
    mean, std = _voice_stats(samples)
    return replace(
        cfg.model,
        text_vocab=vocab.pieces,
        voice_variants=list(VARIANTS),
        voice_param_mean=mean,
        voice_param_std=std,
    )


def save_checkpoint(
    out: Path,
    core: FusionAutoencoder,
    cfg: TrainConfig,
    opt,
    disc,
    disc_opt,
    step: int,
    history: list[dict],
    gen: torch.Generator,
) -> None:
    tensors = {f"model.{k}": v for k, v in core.state_dict().items()}
    opt_tensors, opt_meta = _flatten_optimizer(opt, "optim")
    tensors.update(opt_tensors)
    state = {"step": step, "optim": opt_meta, "history": history}
    if disc is not None:
        tensors.update({f"disc.{k}": v for k, v in disc.state_dict().items()})
        d_tensors, state["disc_optim"] = _flatten_optimizer(disc_opt, "disc_optim")
        tensors.update(d_tensors)
    tensors["rng.torch"] = torch.get_rng_state()
    tensors["rng.gen"] = gen.get_state()
    ckpt.save_resume(out, step, tensors, state)
    ckpt.atomic_save_tensors(out / "model.safetensors", core.state_dict())
    ckpt.atomic_write_json(out / "history.json", history)


def _flatten_optimizer(opt: torch.optim.Optimizer, prefix: str) -> tuple[dict, dict]:
    sd = opt.state_dict()
    tensors = {
        f"{prefix}.{pid}.{key}": value
        for pid, st in sd["state"].items()
        for key, value in st.items()
        if torch.is_tensor(value)
    }
    scalars = {
        f"{pid}.{key}": value
        for pid, st in sd["state"].items()
        for key, value in st.items()
        if not torch.is_tensor(value)
    }
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def _restore_optimizer(opt, tensors: dict, meta: dict, prefix: str) -> None:
    state: dict = {}
    for name, value in tensors.items():
        if name.startswith(prefix + "."):
            pid, key = name[len(prefix) + 1 :].split(".", 1)
            state.setdefault(int(pid), {})[key] = value
    for name, value in meta["scalars"].items():
        pid, key = name.split(".", 1)
        state.setdefault(int(pid), {})[key] = value
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def save_loss_curve(history: list[dict], path: Path) -> None:
    """Loss curves (log scale) as a PNG beside the checkpoint."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not history:
        return
    keys = [k for k in history[0] if k != "step"]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    steps = [h["step"] for h in history]
    for k in keys:
        values = np.array([h.get(k, np.nan) for h in history], dtype=float)
        ax.plot(steps, np.clip(values, 1e-4, None), label=k, lw=1.2)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend(fontsize=7, ncol=3)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(path)


FINE_TUNE_LR_SCALE = 0.25  # --init: a quarter of the preset's learning rate, so the start is not forgotten


def train(
    data: str | Path,
    out: str | Path,
    *,
    preset: str = "tiny",
    gan: bool = False,
    resume: bool = False,
    device: str = "auto",
    steps: int | None = None,
    init: str | Path | None = None,
    progress: bool = True,
) -> Path:
    """Trains on the train split of `data` and writes a checkpoint folder at `out`.

    init: a checkpoint folder to fine-tune from: its architecture, vocabulary and weights are kept and
    the preset supplies the schedule (at FINE_TUNE_LR_SCALE of its learning rate)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    cfg = replace(PRESETS[preset], gan=gan, **({"steps": steps} if steps else {}))
    if init is not None:
        cfg = replace(cfg, lr=cfg.lr * FINE_TUNE_LR_SCALE)
    out, dev = Path(out), resolve_device(device)
    state = _resume_state(out, resume)
    if dev.type == "cpu":
        torch.set_flush_denormal(True)  # tiny weights/gradients as denormals slow x86 maths many-fold
    dd = init_distributed(dev)
    if dd.active and dev.type == "cuda":
        dev = torch.device("cuda", dd.local_rank)
    torch.manual_seed(cfg.seed + dd.rank)
    samples = open_samples(data, "train")
    if not samples:
        raise ValueError(f"{data} has no training samples")
    choices = wordings(samples, cfg.text_wordings, cfg.seed)
    all_texts = [t for c in choices for t in c]
    from mmdemo.model.network import load_network

    start_from = None if state is not None or init is None else load_network(init, dev)
    if state is not None:
        saved = ckpt.read_json(out / "config.json")
        model_cfg = ModelConfig.from_dict(saved["model"])
    elif start_from is not None:
        model_cfg = start_from.config
    else:
        model_cfg = build_model_config(cfg, samples, all_texts)
    cfg = replace(cfg, model=model_cfg)
    cache = TextStateCache(all_texts, progress=progress and dd.main, device=dev)
    vocab = TextVocab(model_cfg.text_vocab)
    model = start_from if start_from is not None else FusionAutoencoder(model_cfg).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    disc = PatchDiscriminator().to(dev) if cfg.gan else None
    disc_opt = torch.optim.AdamW(disc.parameters(), lr=cfg.lr * 0.5, betas=(0.5, 0.9)) if disc else None
    gen = torch.Generator().manual_seed(cfg.seed * 7 + dd.rank)
    history: list[dict] = []
    start = 0
    if state is not None:
        tensors, meta = state
        ckpt.load_state_into(model, {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}, out)
        _restore_optimizer(opt, tensors, meta["optim"], "optim")
        if disc is not None and "disc_optim" in meta:
            disc.load_state_dict({k[5:]: v for k, v in tensors.items() if k.startswith("disc.")})
            _restore_optimizer(disc_opt, tensors, meta["disc_optim"], "disc_optim")
        torch.set_rng_state(tensors["rng.torch"])
        gen.set_state(tensors["rng.gen"])
        start, history = meta["step"], meta["history"]
    elif dd.main:
        out.mkdir(parents=True, exist_ok=True)
        ckpt.atomic_write_json(
            out / "config.json",
            {
                "format": 1,
                "model": model_cfg.to_dict(),
                "train": {k: v for k, v in asdict(cfg).items() if k != "model"},
                "data": str(data),
                "init": str(init) if init else None,
            },
        )
    ddp_model = LossModule(model, cfg)
    if dd.active:
        ddp_model = nn.parallel.DistributedDataParallel(
            ddp_model, device_ids=[dd.local_rank] if dev.type == "cuda" else None, find_unused_parameters=True
        )
    _loop(
        ddp_model,
        model,
        cfg,
        samples,
        choices,
        cache,
        vocab,
        opt,
        disc,
        disc_opt,
        gen,
        dd,
        dev,
        out,
        start,
        history,
        progress,
    )
    shutdown_distributed(dd)
    return out


def _resume_state(out: Path, resume: bool):
    """The state to continue from (None: start afresh), or a refusal that says what to do."""
    has_weights = (out / "model.safetensors").exists()
    if not resume:
        if has_weights:
            raise ValueError(
                f"{out} already holds a checkpoint; pass --resume to continue it or choose another --out"
            )
        return None  # a run killed before its first checkpoint left only config.json: start again
    state = ckpt.load_resume(out)
    if state is None:
        if has_weights or not (out / "config.json").exists():
            raise ValueError(f"{out} has no complete training state to resume; train without --resume first")
        log.warning("%s was stopped before its first checkpoint; starting from step 0", out)
        return None
    removed = ckpt.remove_stale_temporaries(out)
    if removed:
        log.info("removed %d temporary files left by an interrupted run", len(removed))
    return state


def _loop(
    ddp_model,
    model,
    cfg,
    samples,
    choices,
    cache,
    vocab,
    opt,
    disc,
    disc_opt,
    gen,
    dd,
    dev,
    out,
    start,
    history,
    progress,
) -> None:
    from tqdm import tqdm

    dataset = MultimodalDataset(samples, augment=True, seed=cfg.seed, text_choices=choices)
    sampler = EpochSampler(len(dataset), seed=cfg.seed, dd=dd, batch_size=cfg.batch_size)
    per_epoch = sampler.steps_per_epoch()
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: warmup_cosine(s, warmup=cfg.warmup_steps, total=cfg.steps), last_epoch=start - 1
    )
    autocast = mixed_precision(dev, cfg.cpu_bf16)
    gan_from = int(cfg.gan_start_fraction * cfg.steps)
    bar = tqdm(total=cfg.steps, initial=start, desc="train", disable=not (progress and dd.main), unit="step")
    step, t0, skipped = start, time.perf_counter(), 0
    while step < cfg.steps:
        sampler.epoch, sampler.offset = step // per_epoch, step % per_epoch
        dataset.epoch = sampler.epoch
        # its own generator: a loader seeds its workers from the global RNG otherwise, and a resumed run,
        # which starts a loader mid-epoch, would then draw different dropout masks than an unbroken one
        loader = torch.utils.data.DataLoader(
            dataset,
            batch_size=cfg.batch_size,
            sampler=sampler,
            collate_fn=collate,
            num_workers=cfg.num_workers,
            drop_last=True,
            generator=torch.Generator().manual_seed(cfg.seed + sampler.epoch),
        )
        for raw in loader:
            batch = prepare_batch(
                raw, cache, vocab, cfg.model.voice_variants, model, dev, cfg.text_token_dropout, gen
            )
            ddp_model.train()
            with autocast:
                total, parts, recon = ddp_model(batch, step, gen)
                if disc is not None and step >= gan_from and batch["has_image"].any():
                    parts["gan_g"] = hinge_g(disc(recon[batch["has_image"]]))
                    total = total + cfg.gan_weight * parts["gan_g"]
            opt.zero_grad(set_to_none=True)
            if not torch.isfinite(total):  # one bad batch must not poison the weights
                skipped += 1
                if skipped > 20:
                    raise FloatingPointError(
                        f"the loss was not finite for {skipped} steps; lower the learning rate"
                    )
                log.warning("non-finite loss at step %d skipped", step)
                continue
            total.backward()
            nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            sched.step()
            if disc is not None and step >= gan_from and batch["has_image"].any():
                parts["gan_d"] = _disc_step(
                    disc,
                    disc_opt,
                    batch["image"][batch["has_image"]],
                    recon[batch["has_image"]].detach(),
                    autocast,
                )
            step += 1
            record = {"step": step, "total": total.item(), **{k: float(v.detach()) for k, v in parts.items()}}
            history.append(record)
            bar.update(1)
            bar.set_postfix(
                {k: f"{record[k]:.3g}" for k in ("total", "image_l1", "text_ce", "attributes") if k in record}
            )
            if dd.main and (step % cfg.checkpoint_every == 0 or step == cfg.steps):
                save_checkpoint(out, model, cfg, opt, disc, disc_opt, step, history, gen)
                save_loss_curve(history, out / "loss_curve.png")
            if step >= cfg.steps:
                break
    bar.close()
    if dd.main:
        log.info("trained %d steps in %.0f s", cfg.steps - start, time.perf_counter() - t0)


def _disc_step(disc, disc_opt, real, fake, autocast) -> torch.Tensor:
    with autocast:
        loss = hinge_d(disc(real), disc(fake))
    disc_opt.zero_grad(set_to_none=True)
    loss.backward()
    disc_opt.step()
    return loss.detach()
