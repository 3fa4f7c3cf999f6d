"""The PatchGAN discriminator of the optional GAN loss on faces (`train --gan`); its hinge losses are
in `losses`, and a checkpoint's resume state holds its weights as `disc.*`."""

from __future__ import annotations

import torch
from torch import nn


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
        return self.net(x * 2 - 1)  # faces arrive in [0, 1]; the convolutions see [-1, 1]
