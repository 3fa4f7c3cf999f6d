"""Loss and image-quality functions shared by training and evaluation."""

from __future__ import annotations

import math
from functools import lru_cache

import torch
import torch.nn.functional as F

from mmdemo.schema import UNKNOWN


@lru_cache(maxsize=4)
def _gaussian_window(size: int, sigma: float, channels: int, device_str: str) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = (g / g.sum())[:, None] @ (g / g.sum())[None, :]
    return g.expand(channels, 1, size, size).contiguous().to(device_str)


def _fp32(fn):
    """Runs `fn` in float32 even under autocast: its variances cancel catastrophically in bf16."""

    def wrapped(*args, **kwargs):
        with torch.autocast(device_type=args[0].device.type, enabled=False):
            return fn(*(x.float() if torch.is_tensor(x) else x for x in args), **kwargs)

    wrapped.__name__, wrapped.__doc__ = fn.__name__, fn.__doc__
    return wrapped


@_fp32
def ssim(a: torch.Tensor, b: torch.Tensor, window: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Per-image SSIM (B,) of images in [0, 1], Gaussian window as in Wang et al. 2004."""
    c = a.shape[1]
    w = _gaussian_window(window, sigma, c, str(a.device)).to(a.dtype)
    pad = window // 2
    mu_a, mu_b = F.conv2d(a, w, padding=pad, groups=c), F.conv2d(b, w, padding=pad, groups=c)
    var_a = F.conv2d(a * a, w, padding=pad, groups=c) - mu_a**2
    var_b = F.conv2d(b * b, w, padding=pad, groups=c) - mu_b**2
    cov = F.conv2d(a * b, w, padding=pad, groups=c) - mu_a * mu_b
    c1, c2 = 0.01**2, 0.03**2
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return s.flatten(1).mean(1)


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB (B,) of images in [0, 1]."""
    mse = ((a - b) ** 2).flatten(1).mean(1).clamp_min(1e-10)
    return 10 * torch.log10(1.0 / mse)


@_fp32
def kl_to_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(q || N(0, I)) per sample (B,), summed over latent dimensions."""
    return 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(-1)


@_fp32
def info_nce(a: torch.Tensor, b: torch.Tensor, temperature: float) -> torch.Tensor:
    """Symmetric InfoNCE: row i of `a` and row i of `b` are the positive pair."""
    if a.shape[0] < 2:
        return a.new_zeros(())
    logits = F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T / temperature
    target = torch.arange(a.shape[0], device=a.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def attribute_cross_entropy(logits: list[torch.Tensor], attrs: torch.Tensor) -> torch.Tensor:
    """(B,) cross-entropy of per-attribute logits against (B, attributes) value indices, averaged over
    each row's known attributes (UNKNOWN marks the others)."""
    per_attribute = [
        F.cross_entropy(lg, attrs[:, i], ignore_index=UNKNOWN, reduction="none")
        for i, lg in enumerate(logits)
    ]
    known = (attrs != UNKNOWN).float()
    return torch.stack(per_attribute, 1).sum(1) / known.sum(1).clamp_min(1)


def hinge_d(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()


def hinge_g(fake_logits: torch.Tensor) -> torch.Tensor:
    return -fake_logits.mean()


def adaptive_gan_weight(
    reconstruction: torch.Tensor, adversarial: torch.Tensor, last_layer: torch.Tensor, cap: float = 1e4
) -> torch.Tensor:
    """VQGAN's adaptive weight (Esser et al. 2021): the ratio of the reconstruction loss's gradient
    norm to the adversarial loss's at the decoder's last layer, so the GAN pulls on the decoder as
    hard as the pixels do whatever the two losses' scales; detached, capped at `cap`."""
    g_rec = torch.autograd.grad(reconstruction, last_layer, retain_graph=True)[0]
    g_adv = torch.autograd.grad(adversarial, last_layer, retain_graph=True)[0]
    return (g_rec.float().norm() / (g_adv.float().norm() + 1e-4)).clamp(0, cap).detach()


def warmup_cosine(step: int, *, warmup: int, total: int, floor: float = 0.02) -> float:
    """LR multiplier: linear warm-up, then cosine decay to `floor`."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))
