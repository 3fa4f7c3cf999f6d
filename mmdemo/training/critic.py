"""The face critic: a frozen attribute classifier that judges the faces the model generates.

A face decoded from a description or a voice alone should show what that description or voice says:
the hat, the beard, the smile. The attribute heads read those from the shared latent, but the image
loss alone lets the decoder draw an average head (issue 3's finding). Decoding the face, reading it
with a critic and penalising the attributes it does not show is StarGAN's classification loss.

The critic is its own network (the pixel reader's architecture), trained here on the run's training
faces before the first step and then frozen: its cross-entropy's gradient flows through the decoded
face into the decoder and the latent only. It is neither the evaluator in `CKPT/evaluator/` (trained
separately, the independent judge of coherence) nor the pixel reader (which reads inputs, not
outputs). It is kept as `critic.safetensors` in the run folder, so a resumed run uses the same one.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from mmdemo import checkpoint as ckpt
from mmdemo.data.augment import augment_image
from mmdemo.data.loaders import Sample, load_image
from mmdemo.model.losses import attribute_cross_entropy
from mmdemo.model.pixel_reader import PixelReader
from mmdemo.schema import ATTRIBUTE_SIZES, ATTRIBUTES, to_indices

log = logging.getLogger(__name__)

CRITIC_FILE = "critic.safetensors"
# what a face shows, the attributes the critic judges (a face says nothing of a voice's emotion
# that its expression does not)
JUDGED = [i for i, a in enumerate(ATTRIBUTES) if "image" in a.observable_from]


def critic_loss(critic: PixelReader, faces: torch.Tensor, attrs: torch.Tensor) -> torch.Tensor:
    """(B,) cross-entropy of the critic's reading of `faces` against the (B, attributes) values they
    should show, averaged over each row's known attributes that a face shows."""
    logits = critic(faces).float().split(ATTRIBUTE_SIZES, -1)
    return attribute_cross_entropy([logits[i] for i in JUDGED], attrs[:, JUDGED])


def fit_critic(
    samples: Sequence[Sample],
    *,
    image_size: int,
    steps: int,
    batch_size: int = 64,
    lr: float = 2e-3,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> PixelReader:
    """A critic trained for `steps` batches on the faces of `samples`, framed as the training loader
    frames them (the faces the decoder learns to draw) and augmented; frozen, in eval mode."""
    with_face = [s for s in samples if s.image is not None]
    if not with_face:
        raise ValueError("the critic needs training samples with a face")
    with torch.random.fork_rng(devices=[]):  # the run's own random stream is left as it was
        torch.manual_seed(seed)
        return _fit(with_face, image_size, steps, batch_size, lr, np.random.default_rng(seed), device)


def _fit(with_face, image_size, steps, batch_size, lr, rng, device) -> PixelReader:
    faces = np.stack([load_image(s, image_size) for s in with_face])
    targets = torch.tensor([to_indices(s.attrs) for s in with_face], dtype=torch.long)
    critic = PixelReader(sum(ATTRIBUTE_SIZES)).to(device)
    opt = torch.optim.AdamW(critic.parameters(), lr, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=max(1, steps))
    critic.train()
    for step in range(steps):
        rows = rng.integers(len(with_face), size=batch_size)
        batch = np.stack([augment_image(faces[i], rng) for i in rows])
        x = torch.from_numpy(batch).permute(0, 3, 1, 2).float().div(255).to(device)
        loss = critic_loss(critic, x, targets[rows].to(device)).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if (step + 1) % 100 == 0:
            log.info("critic step %d: loss %.3f", step + 1, loss.item())
    return frozen(critic)


def frozen(critic: PixelReader) -> PixelReader:
    critic.eval()
    for p in critic.parameters():
        p.requires_grad_(False)
        p.grad = None  # the fit's last gradients would otherwise ride along in the run
    return critic


def load_or_fit_critic(
    folder: Path, samples: Sequence[Sample], *, image_size: int, steps: int, seed: int, device, main: bool
) -> PixelReader:
    """The run's critic: the one saved in `folder` (a resumed run), else a new one, which the main
    process saves there. Every process of a torchrun fits the same one (same seed, same samples)."""
    path = Path(folder) / CRITIC_FILE
    if path.is_file():
        critic = PixelReader(sum(ATTRIBUTE_SIZES))
        ckpt.load_state_into(critic, ckpt.read_tensors(path), path)
        return frozen(critic.to(device))
    critic = fit_critic(samples, image_size=image_size, steps=steps, seed=seed, device=device)
    if main:
        path.parent.mkdir(parents=True, exist_ok=True)
        ckpt.atomic_save_tensors(path, critic.state_dict())
    return critic
