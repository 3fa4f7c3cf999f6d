"""Training the fusion autoencoder, single process or DDP under torchrun.

`train` reads top to bottom: resolve the config, build the run (`Run`: model, optimizers, text
cache, random generator ...), restore it from its newest checkpoint when resuming, then step it
(`StepLoop`). The objective of a step is in `objective`, the presets in `config`, the on-disk
format of checkpoints in `mmdemo.checkpoint`. Checkpoints are atomic; `resume` continues from the
newest complete one with optimizer, schedule, step and random state, bit for bit.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mmdemo import checkpoint as ckpt
from mmdemo.data.features import KINDS, FeatureTable
from mmdemo.data.loaders import MultimodalDataset, Sample, add_log_mel, collate, open_samples
from mmdemo.data.real import TRAINING_DATA_FILE, training_data_record
from mmdemo.extractors.face import FEATURE_DIM as FACE_DIM
from mmdemo.extractors.speaker import EMBEDDING_DIM as SPEAKER_DIM
from mmdemo.model.discriminator import PatchDiscriminator
from mmdemo.model.face_detail import FACE_DECODER_FILE
from mmdemo.model.losses import adaptive_gan_weight, hinge_d, hinge_g, warmup_cosine
from mmdemo.model.network import (
    LONE_READERS_FILE,
    VOICE_PARAM_NAMES,
    FusionAutoencoder,
    ModelConfig,
    load_network,
)
from mmdemo.model.precision import bf16_autocast
from mmdemo.model.text import TextVocab
from mmdemo.runtime import Distributed, init_distributed, resolve_device, shutdown_distributed, usable_cores
from mmdemo.synth.descriptions import describe
from mmdemo.training.config import PRESETS, TrainConfig, resolve_config
from mmdemo.training.critic import load_or_fit_critic
from mmdemo.training.curves import save_loss_curve
from mmdemo.training.finetune import widened, with_private_latent
from mmdemo.training.objective import LossModule
from mmdemo.training.textcache import TextStateCache, wordings

__all__ = ["PRESETS", "Run", "StepLoop", "TrainConfig", "train"]

log = logging.getLogger(__name__)


def train(
    data: str | Path | Sequence[str | Path],
    out: str | Path,
    *,
    preset: str = "tiny",
    gan: bool = False,
    resume: bool = False,
    device: str = "auto",
    steps: int | None = None,
    init: str | Path | None = None,
    real_features: bool | None = None,
    critic: float | None = None,
    private_dim: int | None = None,
    face_decoder_steps: int | None = None,
    fit_readers: bool = True,
    progress: bool = True,
) -> Path:
    """Trains on the train split of `data` (one dataset folder or several) and writes a checkpoint
    folder at `out`.

    init: a checkpoint folder to fine-tune from: its architecture, vocabulary and weights are kept and
    the preset supplies the schedule (at `config.FINE_TUNE_LR_SCALE` of its learning rate).
    real_features: read the frozen face and speaker features (None: as the preset says).
    critic, private_dim: the face critic's loss weight and the private face latent's width (None: as
    the preset says; with `init`, a private latent is added to a checkpoint that has none).
    face_decoder_steps: recorded in the run's config for the `train` command's face decoder fit (None:
    the preset's; 0: none). fit_readers: False leaves the readers as the steps left them."""
    overrides = dict(
        real_features=real_features,
        critic=critic,
        private_dim=private_dim,
        face_decoder_steps=face_decoder_steps,
    )
    cfg = resolve_config(preset, gan=gan, steps=steps, init=init, **overrides)
    out, dev = Path(out), resolve_device(device)
    state = _resume_state(out, resume)
    place = _set_up_process(out, dev, seed=cfg.seed, progress=progress)
    run = build_run(cfg, data, place, init=init, resuming=state is not None)
    if state is not None:
        run.start, run.history = ckpt.restore_training(out, state, run)
    elif place.dd.main:
        ckpt.write_config(
            out,
            model=run.cfg.model.to_dict(),
            train={k: v for k, v in asdict(run.cfg).items() if k != "model"},
            data=" + ".join(str(d) for d in _folders(data)),
            init=str(init) if init else None,
        )
        ckpt.atomic_write_json(out / TRAINING_DATA_FILE, training_data_record(_folders(data)))
    StepLoop(run).to_end()
    if place.dd.main and run.model.attribute_readers and fit_readers:
        _fit_readers(run, _folders(data))
    shutdown_distributed(place.dd)
    return out


def _fit_readers(run: Run, folders: list[Path]) -> None:
    """Solves the attribute readers to convergence on the finished network (the steps only start
    them) and publishes the weights with them."""
    from mmdemo.training import refit

    try:
        record = refit.fit_all_readers(run.model, folders, progress=run.place.progress)
    except ValueError as e:  # e.g. no row has features: the readers stay as the steps left them
        log.warning("attribute readers not refitted: %s", e)
        return
    refit.save(run.model, run.place.out, record)
    log.info("attribute readers fitted: val balanced accuracy %s", record["val_balanced_accuracy"])


# ----------------------------------------------------------------- the run
@dataclass(frozen=True)
class Place:
    """Where a run happens: its checkpoint folder, this process's device and rank, and whether it
    shows progress (only the main process of a torchrun group does)."""

    out: Path
    device: torch.device
    dd: Distributed
    progress: bool


@dataclass
class Run:
    """A training run's built pieces: what a checkpoint restores and the step loop advances."""

    cfg: TrainConfig  # with the model config resolved
    place: Place
    samples: list[Sample]  # the train split
    choices: list[list[str]]  # per sample, the wordings whose text states are cached
    cache: TextStateCache
    vocab: TextVocab  # the text decoder's word pieces
    model: FusionAutoencoder
    opt: torch.optim.Optimizer
    gen: torch.Generator  # the run's own random stream: subset draws, latent noise, token dropout
    # per kind ("face", "speaker"): (N, dim) frozen features of the samples and (N,) presence
    features: dict[str, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)
    disc: PatchDiscriminator | None = None  # with --gan
    disc_opt: torch.optim.Optimizer | None = None
    critic: nn.Module | None = None  # the frozen face critic, when cfg.critic > 0
    start: int = 0  # the step the loop starts from (a resumed run's checkpoint step)
    history: list[dict] = field(default_factory=list)  # one record of losses per step done


def _set_up_process(out: Path, device: torch.device, *, seed: int, progress: bool) -> Place:
    """Sets this process up for training: joins a torchrun group if there is one, seeds torch."""
    if device.type == "cpu":
        torch.set_flush_denormal(True)  # tiny weights/gradients as denormals slow x86 maths many-fold
    dd = init_distributed(device)
    if dd.active and device.type == "cuda":
        device = torch.device("cuda", dd.local_rank)
    torch.manual_seed(seed + dd.rank)
    return Place(out, device, dd, progress and dd.main)


def build_run(
    cfg: TrainConfig, data: str | Path, place: Place, *, init: str | Path | None, resuming: bool
) -> Run:
    """The run's pieces, in the order that fixes their random initialisation (so do not reorder).

    The model config comes from the checkpoint being resumed, else from `init`, else from the data."""
    folders = _folders(data)
    samples = [s for folder in folders for s in open_samples(folder, "train")]
    if not samples:
        raise ValueError(f"{' + '.join(map(str, folders))} has no training samples")
    choices = wordings(samples, cfg.text_wordings, cfg.seed)
    texts = [t for c in choices for t in c]
    start_from = None if resuming or init is None else load_network(init, place.device)
    if resuming:
        model_cfg = ModelConfig.from_dict(ckpt.read_json(place.out / "config.json")["model"])
    elif start_from is not None:
        model_cfg = with_private_latent(start_from.config, cfg.model.private_dim)
    else:
        model_cfg = build_model_config(cfg, samples, texts)
    if cfg.real_features and not resuming:
        readers = dict(attribute_readers=True, pixel_reader=True, latent_gates=True)
        model_cfg = replace(model_cfg, face_feature_dim=FACE_DIM, speaker_feature_dim=SPEAKER_DIM, **readers)
    if start_from is not None and start_from.config != model_cfg:  # fine-tuning adds layers (finetune.py)
        start_from = widened(start_from, model_cfg, place.device)
    cfg = replace(cfg, model=model_cfg)
    features = _train_features(folders, place) if model_cfg.face_feature_dim else {}
    cache = TextStateCache(texts, progress=place.progress, device=place.device)
    vocab = TextVocab(model_cfg.text_vocab)
    model = start_from if start_from is not None else FusionAutoencoder(model_cfg).to(place.device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    disc = PatchDiscriminator().to(place.device) if cfg.gan else None
    disc_opt = torch.optim.AdamW(disc.parameters(), lr=cfg.lr * 0.5, betas=(0.5, 0.9)) if disc else None
    gen = torch.Generator().manual_seed(cfg.seed * 7 + place.dd.rank)
    critic = None
    if cfg.critic:
        options = dict(image_size=model_cfg.image_size, steps=cfg.critic_steps, seed=cfg.seed)
        critic = load_or_fit_critic(place.out, samples, device=place.device, main=place.dd.main, **options)
    return Run(
        cfg=cfg,
        place=place,
        samples=samples,
        choices=choices,
        cache=cache,
        vocab=vocab,
        model=model,
        opt=opt,
        gen=gen,
        features=features,
        disc=disc,
        disc_opt=disc_opt,
        critic=critic,
    )


def _folders(data: str | Path | Sequence[str | Path]) -> list[Path]:
    return [Path(data)] if isinstance(data, (str, Path)) else [Path(d) for d in data]


def _train_features(folders: list[Path], place: Place) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """The train samples' frozen features, in `Run.samples` order (folder by folder), computed where
    a folder's cache lacks them. Under torchrun the main process computes, the others wait and read."""
    parts: dict[str, list[tuple[torch.Tensor, torch.Tensor]]] = {kind: [] for kind in KINDS}
    # one worker process a core (faces: 1.6x one process on 2 cores; voices batch in-process)
    workers = usable_cores()
    for folder in folders:
        mine = open_samples(folder, "train")
        # the val split's too: the readers' fit, the face decoder's scores and the calibration read it
        # after the steps, in one process, where this pool has a worker a core
        read_later = open_samples(folder, "val")
        for kind in KINDS:
            if place.dd.main:
                FeatureTable(folder, kind).update(mine + read_later, workers=workers, progress=place.progress)
            if place.dd.active:
                torch.distributed.barrier()
            parts[kind].append(FeatureTable(folder, kind).stacked(mine))
    return {kind: (torch.cat([v for v, _ in p]), torch.cat([m for _, m in p])) for kind, p in parts.items()}


def build_model_config(cfg: TrainConfig, samples: list[Sample], texts: list[str]) -> ModelConfig:
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


def _voice_stats(samples: list[Sample]) -> tuple[list[float], list[float]]:
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


def _resume_state(out: Path, resume: bool):
    """The state to continue from (None: start afresh), or a refusal that says what to do."""
    has_weights = (out / "model.safetensors").exists()
    if not resume:
        if has_weights:
            raise ValueError(
                f"{out} already holds a checkpoint; pass --resume to continue it or choose another --out"
            )
        return None  # a run killed before its first checkpoint left only config.json: start again
    fitted_after = [name for name in (FACE_DECODER_FILE, LONE_READERS_FILE) if (out / name).exists()]
    if fitted_after:
        # its weights are no longer the ones its training state goes with
        raise ValueError(
            f"{out} finished training and was fitted after ({', '.join(fitted_after)}): there is "
            f"nothing to resume. To train it further, start a new run from it: --init {out} --out NEW_FOLDER"
        )
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


# ----------------------------------------------------------------- the steps
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


def prepare_batch(batch: dict, run: Run) -> dict:
    """Adds cached text states, decoder targets and voice targets; moves tensors to the run's device."""
    batch["text_states"], batch["text_mask"] = run.cache.batch(
        batch["text"], token_dropout=run.cfg.text_token_dropout, gen=run.gen
    )
    targets = [t or "" for t in batch["target_text"]]
    ids = run.vocab.encode(targets)
    batch["target_ids"] = ids[:, : int((ids != 0).sum(1).max())]  # drop all-padding columns
    index = {v: i for i, v in enumerate(run.cfg.model.voice_variants)}
    batch["variant_idx"] = torch.tensor([index.get(v, -1) if v else -1 for v in batch["voice_variant"]])
    batch["has_voice_params"] = (batch["variant_idx"] >= 0) & ~batch["voice_params"].isnan().any(1)
    batch["voice_params_norm"] = run.model.normalise_voice(torch.nan_to_num(batch["voice_params"]))
    batch["has_target"] = torch.tensor([t is not None for t in batch["target_text"]])
    for kind, key in (("face", "face_features"), ("speaker", "speaker_features")):
        if kind in run.features:
            values, present = run.features[kind]
            keep = torch.rand(len(batch["index"]), generator=run.gen) >= run.cfg.feature_dropout
            batch[key], batch[f"{key}_mask"] = values[batch["index"]], present[batch["index"]] & keep
    device = run.place.device
    batch = {k: (v.to(device, non_blocking=True) if torch.is_tensor(v) else v) for k, v in batch.items()}
    return add_log_mel(batch)


MAX_SKIPPED = 20  # non-finite losses tolerated before the run gives up


class StepLoop:
    """Steps a built (and possibly restored) run from `run.start` to `cfg.steps`, checkpointing on the
    way. Each epoch's loader starts at the run's offset into that epoch, so a resumed run sees the same
    batches in the same order as an unbroken one."""

    def __init__(self, run: Run):
        cfg, place = run.cfg, run.place
        self.run, self.cfg = run, cfg
        self.loss = LossModule(run.model, cfg, run.critic)
        if place.dd.active:
            self.loss = nn.parallel.DistributedDataParallel(
                self.loss,
                device_ids=[place.dd.local_rank] if place.device.type == "cuda" else None,
                find_unused_parameters=True,
            )
        self.dataset = MultimodalDataset(run.samples, augment=True, seed=cfg.seed, text_choices=run.choices)
        self.sampler = EpochSampler(len(self.dataset), seed=cfg.seed, dd=place.dd, batch_size=cfg.batch_size)
        self.sched = torch.optim.lr_scheduler.LambdaLR(
            run.opt,
            lambda s: warmup_cosine(s, warmup=cfg.warmup_steps, total=cfg.steps),
            last_epoch=run.start - 1,
        )
        # bf16 on CUDA; on the CPU only where native (else slower) and the config allows it
        self.autocast = bf16_autocast(place.device, enabled=place.device.type == "cuda" or cfg.cpu_bf16)
        self.gan_from = int(cfg.gan_start_fraction * cfg.steps)
        self.skipped = 0

    def to_end(self) -> None:
        from tqdm import tqdm

        run, cfg = self.run, self.cfg
        per_epoch = self.sampler.steps_per_epoch()
        bar = tqdm(
            total=cfg.steps, initial=run.start, desc="train", disable=not run.place.progress, unit="step"
        )
        step, t0 = run.start, time.perf_counter()
        while step < cfg.steps:
            self.sampler.epoch, self.sampler.offset = step // per_epoch, step % per_epoch
            self.dataset.epoch = self.sampler.epoch
            for raw in self._loader():
                done = self._step(prepare_batch(raw, run), step)
                if done is None:  # skipped: the same step again with the next batch
                    continue
                step += 1
                self._record(step, *done, bar)
                if step >= cfg.steps:
                    break
        bar.close()
        if run.place.dd.main:
            log.info("trained %d steps in %.0f s", cfg.steps - run.start, time.perf_counter() - t0)

    def _loader(self) -> torch.utils.data.DataLoader:
        # its own generator: a loader seeds its workers from the global RNG otherwise, and a resumed run,
        # which starts a loader mid-epoch, would then draw different dropout masks than an unbroken one
        return torch.utils.data.DataLoader(
            self.dataset,
            batch_size=self.cfg.batch_size,
            sampler=self.sampler,
            collate_fn=collate,
            num_workers=self.cfg.num_workers,
            drop_last=True,
            generator=torch.Generator().manual_seed(self.cfg.seed + self.sampler.epoch),
        )

    def _step(self, batch: dict, step: int) -> tuple[torch.Tensor, dict] | None:
        """One optimiser step (and one discriminator step with --gan); None when the loss was not finite."""
        run, cfg = self.run, self.cfg
        faces = batch["has_image"]
        gan = run.disc is not None and step >= self.gan_from and faces.any()
        self.loss.train()
        with self.autocast:
            total, parts, recon = self.loss(batch, step, run.gen)
            if gan:
                parts["gan_g"] = hinge_g(run.disc(recon[faces]))
                weight = cfg.gan_weight
                if cfg.gan_adaptive:
                    pixels = cfg.image_l1 * parts["image_l1"] + cfg.image_ssim * parts["image_ssim"]
                    last = run.model.image_decoder.out.weight
                    parts["gan_ratio"] = adaptive_gan_weight(pixels, parts["gan_g"], last)
                    weight = weight * parts["gan_ratio"]
                total = total + weight * parts["gan_g"]
        run.opt.zero_grad(set_to_none=True)
        if not torch.isfinite(total):  # one bad batch must not poison the weights
            self._skip(step)
            return None
        total.backward()
        nn.utils.clip_grad_norm_(run.model.parameters(), cfg.grad_clip)
        run.opt.step()
        self.sched.step()
        if gan:
            parts["gan_d"] = _disc_step(run, batch["image"][faces], recon[faces].detach(), self.autocast)
        return total, parts

    def _skip(self, step: int) -> None:
        self.skipped += 1
        if self.skipped > MAX_SKIPPED:
            raise FloatingPointError(
                f"the loss was not finite for {self.skipped} steps; lower the learning rate"
            )
        log.warning("non-finite loss at step %d skipped", step)

    def _record(self, step: int, total: torch.Tensor, parts: dict, bar) -> None:
        """Logs the step's losses; the main process checkpoints every `checkpoint_every` steps and last."""
        run = self.run
        record = {"step": step, "total": total.item(), **{k: float(v.detach()) for k, v in parts.items()}}
        run.history.append(record)
        bar.update(1)
        bar.set_postfix(
            {k: f"{record[k]:.3g}" for k in ("total", "image_l1", "text_ce", "attributes") if k in record}
        )
        if run.place.dd.main and (step % self.cfg.checkpoint_every == 0 or step == self.cfg.steps):
            ckpt.save_training(run.place.out, run, step)
            save_loss_curve(run.history, run.place.out / "loss_curve.png")


def _disc_step(run: Run, real: torch.Tensor, fake: torch.Tensor, autocast) -> torch.Tensor:
    with autocast:
        loss = hinge_d(run.disc(real), run.disc(fake))
    run.disc_opt.zero_grad(set_to_none=True)
    loss.backward()
    run.disc_opt.step()
    return loss.detach()
