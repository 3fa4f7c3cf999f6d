"""Fitting the face decoder and the private face latent on a trained network's frozen latents.

Trained jointly, the face decoder learns from latents that are pulled towards the description's and
the voice's (the contrastive term) and decodes them as often without the face as with it: it learns
the average face of each set of attributes, and an average face is what it draws (docs/generation).
Here the rest of the network is finished and frozen, so the fit can do what joint training cannot
afford on 2 cores:

- a modulated decoder four times the joint one's cost (`face_detail.ModulatedImageDecoder`), run on
  cached latents only: the fusion, MiniLM and dlib run once per person, not once per step;
- a private face latent w read from the pixels (MMVAE+), which takes the detail the shared latent
  lacks: the decoder is shown the same face from the latent of each subset the person can be read
  under (everything, the face, the description, the voice), always with that face's w, so the shared
  part it relies on is what every subset knows;
- a conditional prior p(w | z), fitted last: the private latent a face with this shared latent is
  expected to have. Left alone, w also learns the hair colour and the hat (a face drawn from a voice's
  z needs them from somewhere), so a face drawn with w at N(0, I)'s mean loses them; the conditional
  prior's w agrees with z instead.

Tried and dropped (docs/generation): a frozen attribute critic reading faces drawn with w from N(0, I)
(StarGAN's classification loss): the decoder learnt to draw patterns that satisfy the critic, not
faces. An adversary keeping the attributes out of w (Fader networks): w spread over 120 nats, and the
faces drawn from a description read worse (0.60 against 0.79).

The network's shared latent, its other decoders and its readers are untouched: embeddings, maps,
attribute readings and calibration stay as they were.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from mmdemo import checkpoint as ckpt
from mmdemo.data.features import cached_or_computed
from mmdemo.data.loaders import Sample, load_audio, load_image, open_samples
from mmdemo.model.face_detail import FACE_DECODER_FILE
from mmdemo.model.inputs import network_inputs
from mmdemo.model.losses import kl_to_standard_normal, psnr, ssim
from mmdemo.model.network import FusionAutoencoder, load_network
from mmdemo.model.precision import bf16_autocast
from mmdemo.model.text import shared_encoder
from mmdemo.runtime import resolve_device
from mmdemo.schema import MODALITIES

log = logging.getLogger(__name__)

REFITTED = ("image_decoder.", "private_encoder.", "private_prior.")  # the only weights the fit changes


@dataclass
class FaceDecoderFit:
    steps: int = 2500
    batch_size: int = 64
    lr: float = 1e-3
    private_dim: int = 32  # W
    channels: int = 128  # the decoder's widest map
    kl_weight: float = 5e-4  # per nat of the private latent, against the per-pixel L1
    ssim_weight: float = 0.5
    seed: int = 0


@dataclass
class LatentRows:
    """Per training face: the face (N, 64, 64, 3) uint8 and its shared latents under each subset it
    can be read under (N, K, Z), with (N, K) marking the subsets it has."""

    faces: np.ndarray
    latents: torch.Tensor
    valid: torch.Tensor
    weights: torch.Tensor  # (N,) how often each face is drawn, relative to the others

    # the subsets, in the K order: everything the sample has, then each single input
    KINDS = ("all", "image", "text", "voice")

    def draw(self, n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(rows, subsets): n faces drawn by weight, each with one of the subsets it has."""
        index = torch.multinomial(self.weights, n, replacement=True, generator=gen)
        return index, torch.multinomial(self.valid[index].float(), 1, generator=gen)[:, 0]


@torch.no_grad()
def read_latents(
    net: FusionAutoencoder,
    samples: Sequence[Sample],
    *,
    batch_size: int = 128,
    progress: Callable[[int], None] | None = None,
) -> LatentRows:
    """The shared latents of `samples` that have a face, read as the training loader frames them."""
    device = next(net.parameters()).device
    text_encoder = shared_encoder(device)
    with_face = [s for s in samples if s.image is not None]
    groups: dict[tuple[str, ...], list[int]] = {}
    for i, s in enumerate(with_face):
        groups.setdefault(tuple(m for m in MODALITIES if s.has(m)), []).append(i)
    z = net.config.latent_dim
    latents = torch.zeros(len(with_face), len(LatentRows.KINDS), z)
    valid = torch.zeros(len(with_face), len(LatentRows.KINDS), dtype=torch.bool)
    faces = np.zeros((len(with_face), net.config.image_size, net.config.image_size, 3), np.uint8)
    was_training, done = net.training, 0
    net.eval()
    for available, members in groups.items():
        kinds = {"all": available, "image": ("image",)}
        kinds |= {m: (m,) for m in ("text", "voice") if m in available}
        for start in range(0, len(members), batch_size):
            index = members[start : start + batch_size]
            chunk = [with_face[i] for i in index]
            faces[index] = np.stack([load_image(s, net.config.image_size) for s in chunk])
            waves = [load_audio(s) for s in chunk] if "voice" in available else None
            given = network_inputs(
                net.config,
                text_encoder,
                device,
                faces[index],
                [s.text for s in chunk] if "text" in available else None,
                waves,
                face_features=cached_or_computed(chunk, "face") if net.config.face_feature_dim else None,
                speaker_features=(
                    cached_or_computed(chunk, "speaker", waves=waves)
                    if waves and net.config.speaker_feature_dim
                    else None
                ),
            )
            tokens = net.tokens(given.tensors, pixel_evidence=False)
            for kind, subset in kinds.items():
                k = LatentRows.KINDS.index(kind)
                latents[index, k] = net.fuse(net.subset(tokens, subset)).mu.float().cpu()
                valid[index, k] = True
            done += len(chunk)
            if progress is not None:
                progress(done)
    net.train(was_training)
    return LatentRows(faces, latents, valid, torch.ones(len(with_face)))


def with_modulated_decoder(net: FusionAutoencoder, fit: FaceDecoderFit) -> FusionAutoencoder:
    """`net` with a fresh modulated face decoder, private face encoder and conditional prior of the
    fit's sizes, every other weight kept (and frozen by the caller)."""
    config = replace(
        net.config,
        face_decoder="modulated",
        private_dim=fit.private_dim,
        decoder_channels=fit.channels,
        private_prior=True,
    )
    device = next(net.parameters()).device
    new = FusionAutoencoder(config).to(device)
    kept = {k: v for k, v in net.state_dict().items() if not k.startswith(REFITTED)}
    missing, unexpected = new.load_state_dict(kept, strict=False)
    if unexpected or not all(k.startswith(REFITTED) for k in missing):
        raise ValueError(f"cannot refit the face decoder: the layers differ ({unexpected or missing})")
    return new


def fit_face_decoder(
    net: FusionAutoencoder,
    data: Sequence[str | Path],
    fit: FaceDecoderFit | None = None,
    *,
    progress: Callable[[str, int, int], None] | None = None,
) -> tuple[FusionAutoencoder, dict]:
    """A copy of `net` whose face decoder and private face latent are fitted on the train split of
    `data` (each folder scored on its val split), and a record of the fit. progress(stage, done, total)."""
    fit = fit or FaceDecoderFit()
    folders = [Path(d) for d in data]
    train = {f: [s for s in open_samples(f, "train") if s.image is not None] for f in folders}
    val = {f: [s for s in open_samples(f, "val") if s.image is not None] for f in folders}
    if not any(train.values()):
        raise ValueError(f"no training sample in {', '.join(map(str, folders))} has a face")
    started = time.perf_counter()
    device = next(net.parameters()).device

    def report(stage: str, total: int) -> Callable[[int], None] | None:
        return (lambda n: progress(stage, n, total)) if progress else None

    unique = list(dict.fromkeys(folders))  # a folder listed twice is read once and weighs twice
    every = [s for f in unique for s in train[f]]
    rows = read_latents(net, every, progress=report("reading the training faces", len(every)))
    # each folder weighs the same: 35,000 real photos do not drown 4,800 synthetic people
    share = [torch.full((len(train[f]),), folders.count(f) / len(train[f])) for f in unique if train[f]]
    rows.weights = torch.cat(share)
    read_s = time.perf_counter() - started
    torch.manual_seed(fit.seed)
    new = with_modulated_decoder(net, fit)
    for name, p in new.named_parameters():
        p.requires_grad_(name.startswith(REFITTED))
    trained = [p for p in new.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trained, fit.lr, weight_decay=0.01)
    # a short fit (tests, smoke runs) still needs two warm-up steps, or OneCycleLR divides by zero
    total = max(fit.steps, 4)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, fit.lr, total_steps=total, pct_start=max(0.05, 2 / total)
    )
    gen = torch.Generator().manual_seed(fit.seed)
    faces = torch.from_numpy(rows.faces).permute(0, 3, 1, 2)
    history, step_started = [], time.perf_counter()
    new.train()
    tick = report("fitting the face decoder", fit.steps)
    for step in range(fit.steps):
        parts = _step(new, rows, faces, fit, gen, device)
        opt.zero_grad(set_to_none=True)
        parts["total"].backward()
        torch.nn.utils.clip_grad_norm_(trained, 1.0)
        opt.step()
        sched.step()
        if (step + 1) % 100 == 0 or step + 1 == fit.steps:
            history.append({"step": step + 1, **{k: round(float(v.detach()), 4) for k, v in parts.items()}})
            log.info("face decoder step %d: %s", step + 1, history[-1])
        if tick is not None:
            tick(step + 1)
    new.eval()
    prior_record = fit_private_prior(new, rows, faces, fit, gen)
    for p in new.parameters():
        p.requires_grad_(True)
    record = {
        "data": [str(f) for f in folders],
        "train_faces": {str(f): len(train[f]) for f in unique},
        "settings": asdict(fit),
        "read_s": round(read_s, 1),
        "fit_s": round(time.perf_counter() - step_started, 1),
        "history": history,
        "private_prior": prior_record,
    }
    record["val"] = {str(f): reconstruction_scores(new, read_latents(new, val[f])) for f in unique if val[f]}
    return new, record


def _step(net, rows: LatentRows, faces: torch.Tensor, fit: FaceDecoderFit, gen, device) -> dict:
    """One batch's losses: the faces redrawn from each row's latent of a random subset and its own w."""
    index, kind = rows.draw(fit.batch_size, gen)
    z = rows.latents[index, kind].to(device)
    x = faces[index].float().div(255).to(device)
    mu_w, logvar_w = net.private_encoder(x)
    w = mu_w + torch.randn(mu_w.shape, generator=gen).to(device) * (0.5 * logvar_w).exp()
    with bf16_autocast(device):
        drawn = net.decode_image(z, w).float()
    parts = {
        "image_l1": (drawn - x).abs().mean(),
        "image_ssim": (1 - ssim(drawn, x)).mean(),
        "kl_private": kl_to_standard_normal(mu_w, logvar_w).mean(),
    }
    total = parts["image_l1"] + fit.ssim_weight * parts["image_ssim"] + fit.kl_weight * parts["kl_private"]
    parts["total"] = total
    return parts


def fit_private_prior(
    net: FusionAutoencoder, rows: LatentRows, faces: torch.Tensor, fit: FaceDecoderFit, gen, steps: int = 3000
) -> dict:
    """Fits the conditional prior: from any subset's shared latent of a face, the mean of that face's
    private latent (squared error). Decoding with it draws the detail a face with those attributes
    typically has: in a synthetic trial (fitted on data/synth6k's train split, judged on a test split),
    the faces drawn from a description alone were read right 0.97 of the time against 0.79 with w = 0
    (N(0, I)'s mean), which lacked the hair colour and the hat that w had learnt to carry."""
    device = next(net.parameters()).device
    own = _private_means(net, faces.float().div(255).to(device))
    prior = net.private_prior.train()
    for p in prior.parameters():
        p.requires_grad_(True)
    opt = torch.optim.AdamW(prior.parameters(), 1e-3, weight_decay=0.01)
    for _ in range(steps):
        index, kind = rows.draw(256, gen)
        loss = (prior(rows.latents[index, kind].to(device)) - own[index]).pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    prior.eval()
    return {"steps": steps, "mse": round(loss.item(), 4), "variance_of_w": round(float(own.var(0).mean()), 4)}


@torch.no_grad()
def _private_means(net: FusionAutoencoder, faces: torch.Tensor) -> torch.Tensor:
    """(N, W) private latent means of (N, 3, size, size) faces in [0, 1], 256 at a time."""
    return torch.cat([net.private_encoder(faces[i : i + 256])[0] for i in range(0, len(faces), 256)])


@torch.no_grad()
def reconstruction_scores(net: FusionAutoencoder, rows: LatentRows) -> dict:
    """PSNR and SSIM of the faces redrawn from everything each person has (and their own w), and of
    those drawn from the face alone."""
    device = next(net.parameters()).device
    faces = torch.from_numpy(rows.faces).permute(0, 3, 1, 2).float().div(255).to(device)
    out = {"people": len(faces)}
    own = _private_means(net, faces)
    for kind in ("all", "image"):
        z = rows.latents[:, LatentRows.KINDS.index(kind)].to(device)
        drawn = torch.cat([net.decode_image(z[i : i + 256], own[i : i + 256]) for i in range(0, len(z), 256)])
        drawn = drawn.clamp(0, 1)
        out[f"{kind}/psnr"] = round(float(psnr(drawn, faces).mean()), 3)
        out[f"{kind}/ssim"] = round(float(ssim(drawn, faces).mean()), 4)
    return out


def fit_checkpoint(
    folder: str | Path,
    data: Sequence[str | Path],
    fit: FaceDecoderFit | None = None,
    *,
    device: str = "auto",
    progress: Callable[[str, int, int], None] | None = None,
) -> dict:
    """Fits the face decoder of the checkpoint at `folder` and rewrites its config and weights (each
    atomically) and its `FACE_DECODER_FILE` record. Returns the record."""
    folder = Path(folder)
    net = load_network(folder, resolve_device(device))
    new, record = fit_face_decoder(net, data, fit, progress=progress)
    ckpt.rewrite_network(folder, new)
    ckpt.atomic_write_json(folder / FACE_DECODER_FILE, record)
    return record
