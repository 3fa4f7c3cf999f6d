"""A small CNN that reads a face's attributes straight from its pixels: an attribute reader.

dlib's descriptor is trained for identity and its landmarks for shape; neither carries a hat, the
frame of a pair of glasses or the colour of hair well (linear probes on them read real hats at
0.62-0.75), and the fusion's own image encoder is shared with the face decoder and has seen little
real data. This reader is trained for appearance alone. Like the feature-token readers it adds its
logits to the latent's attribute logits (`FusionAutoencoder.fuse` puts them in the evidence) and
only for the attributes a face shows; it does not enter the fusion, so the embedding, the map and
what is generated stay as they were. `mmdemo.training.pixel_fit` solves it on a finished network.
"""

from __future__ import annotations

import torch
from torch import nn

WIDTHS = (24, 48, 96, 192, 256)  # a strided stem, then one convolution per halving of the face


def _conv(c_in: int, c_out: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]


class PixelReader(nn.Module):
    """(B, 3, H, W) faces in [0, 1] -> (B, n_logits) attribute logits."""

    def __init__(self, n_logits: int, widths: tuple[int, ...] = WIDTHS, dropout: float = 0.3):
        super().__init__()
        stages = [nn.Sequential(*_conv(i, o), nn.MaxPool2d(2)) for i, o in zip(widths[:-1], widths[1:])]
        self.body = nn.Sequential(*_conv(3, widths[0], stride=2), *stages[:-1], *_conv(*widths[-2:]))
        pool = (nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout))
        self.head = nn.Sequential(*pool, nn.Linear(widths[-1], n_logits))
        self.silence()

    @torch.no_grad()
    def silence(self) -> None:
        """Zero output: a new or reset reader adds nothing until it is trained."""
        self.head[-1].weight.zero_()
        self.head[-1].bias.zero_()

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = ((image - 0.5) / 0.25).contiguous(memory_format=torch.channels_last)
        return self.head(self.body(x))
