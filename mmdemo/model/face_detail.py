"""The face's own detail: its private latent's encoder and the modulated decoder that draws a face
from the shared latent and the private one.

The shared latent z holds what a face, a description and a voice agree on, and is pulled towards the
other modalities' latents; a face drawn from z alone is the average face of those attributes (issue 3's
finding). The private latent w (MMVAE+, Palumbo et al. 2023) carries the rest (the background, the
hat's colour, the exact hairline), read from the pixels by a small CNN of its own. The decoder is told
z (and w) at every resolution through adaptive group norm (each level's features are normalised, then
scaled and shifted by a linear map of the latent, as StyleGAN and diffusion U-Nets condition), so an
attribute the latent names (a hat, glasses, a smile) is drawn at the scale where it shows, not only
through the 4x4 map the first layer writes.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

FACE_DECODER_FILE = "face_decoder.json"  # beside a checkpoint's weights: how its face decoder was fitted


class AdaptiveGroupNorm(nn.Module):
    """GroupNorm without its own affine; the scale and shift come from the latent."""

    def __init__(self, channels: int, latent_dim: int):
        super().__init__()
        self.norm = nn.GroupNorm(min(8, channels // 2), channels, affine=False)
        self.modulation = nn.Linear(latent_dim, 2 * channels)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        scale, shift = self.modulation(z)[:, :, None, None].chunk(2, 1)
        return self.norm(x) * (1 + scale) + shift


class _UpBlock(nn.Module):
    """x2 nearest upsampling, two modulated 3x3 convolutions, a 1x1 residual path."""

    def __init__(self, c_in: int, c_out: int, latent_dim: int):
        super().__init__()
        self.conv1, self.norm1 = nn.Conv2d(c_in, c_out, 3, padding=1), AdaptiveGroupNorm(c_out, latent_dim)
        self.conv2, self.norm2 = nn.Conv2d(c_out, c_out, 3, padding=1), AdaptiveGroupNorm(c_out, latent_dim)
        self.skip = nn.Conv2d(c_in, c_out, 1)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        h = F.gelu(self.norm1(self.conv1(x), z))
        return F.gelu(self.norm2(self.conv2(h), z) + self.skip(x))


class ModulatedImageDecoder(nn.Module):
    """(B, Z) -> (B, 3, size, size) in [0, 1]: a 4x4 map of `channels` from the latent, then x2 blocks
    of `channels`, its half, its quarter... (at least 16; 128, 64, 32, 16 for 64 px), each modulated
    by the latent."""

    def __init__(self, *, latent_dim: int, channels: int, image_size: int):
        super().__init__()
        self.start = 4
        steps = int(math.log2(image_size // self.start))
        chans = [channels] + [max(16, channels >> i) for i in range(steps)]
        self.fc = nn.Linear(latent_dim, chans[0] * self.start**2)
        self.blocks = nn.ModuleList(_UpBlock(a, b, latent_dim) for a, b in zip(chans, chans[1:]))
        self.out = nn.Conv2d(chans[-1], 3, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.fc(z).view(len(z), -1, self.start, self.start)
        for block in self.blocks:
            x = block(x, z)
        return torch.sigmoid(self.out(x))


class PrivateFaceEncoder(nn.Module):
    """(B, 3, size, size) faces in [0, 1] -> the private latent's (mean, log-variance), each (B, W):
    four stride-2 convolutions to a 4x4 map, then a linear map of the whole map (the detail is where it
    is on the face, so it is not pooled away)."""

    def __init__(self, private_dim: int, image_size: int):
        super().__init__()
        chans, layers = [3, 32, 64, 128, 128], []
        for c_in, c_out in zip(chans, chans[1:]):
            layers += [nn.Conv2d(c_in, c_out, 4, stride=2, padding=1), nn.GELU()]
        side = image_size // 16
        self.net = nn.Sequential(*layers, nn.Flatten(1), nn.Linear(chans[-1] * side * side, 2 * private_dim))

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.net(image * 2 - 1).chunk(2, -1)
        return mu, logvar.clamp(-10, 6)
