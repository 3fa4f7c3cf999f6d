"""dlib's 128-d face descriptor network, run by torch on weights read from dlib's own model file.

dlib's build in `dlib-bin` has no BLAS, so its ResNet takes ~180 ms a face on two cores; the same
network as torch convolutions takes ~10 ms and gives the same descriptor (to float
rounding: `tests/test_face_descriptor.py` checks it against dlib on real chips). The weights are
read straight from `dlib_face_recognition_resnet_model_v1.dat` in the `face-recognition-models`
package: dlib's serialisation is a plain stream of tagged integers, strings and little-endian
float32 tensors, parsed here without executing anything, so nothing is converted or committed.

The network (dlib's `dnn_face_recognition_ex.cpp`): a 7x7/2 convolution and 3x3/2 max pool on a
150x150 chip, then residual blocks of two 3x3 convolutions with affine (frozen batch-norm) layers,
4 stages at 32, 64, 128 and 256 channels, global average pooling and a 256->128 linear map. A
downsampling block adds a 2x2/2 average pool of its input to its strided branch; where the two
differ in channels or size, dlib adds them over the overlap (the rest is zero), as `_add` does.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

DESCRIPTOR_DIM = 128
CHIP_SIDE = 150  # dlib's chip: the face aligned by its 5/68 landmarks, 25 % padding
CHIP_PADDING = 0.25
# input_rgb_image_sized subtracts these channel means and divides by 256
CHANNEL_MEANS = (122.782, 117.001, 104.298)
DESCRIPTOR_MODEL_FILE = "dlib_face_recognition_resnet_model_v1.dat"
# residual blocks per stage, in forward order: (channels, downsamples first, blocks)
STAGES = ((32, False, 3), (64, True, 4), (128, True, 3), (256, True, 3), (256, True, 1))


class DlibFormatError(ValueError):
    """The model file is not the dlib network this module knows."""


class _Stream:
    """dlib's serialisation: integers as a size/sign byte and little-endian bytes, strings as a
    length and bytes, tensors as version 2, four dimensions and raw float32."""

    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def integer(self) -> int:
        head = self.data[self.pos]
        size = head & 0x0F
        value = int.from_bytes(self.data[self.pos + 1 : self.pos + 1 + size], "little")
        self.pos += 1 + size
        return -value if head & 0x80 else value

    def string(self) -> str:
        n = self.integer()
        text = self.data[self.pos : self.pos + n]
        self.pos += n
        return text.decode("ascii", "replace")

    def tensor(self) -> np.ndarray:
        if (version := self.integer()) != 2:
            raise DlibFormatError(f"tensor version {version}, expected 2")
        count = int(np.prod([self.integer() for _ in range(4)]))
        values = np.frombuffer(self.data, "<f4", count, self.pos)
        self.pos += 4 * count
        return values

    def alias_shape(self) -> tuple[int, int, int, int]:
        self.integer()  # alias_tensor version
        return tuple(self.integer() for _ in range(4))

    def seek(self, name: str) -> None:
        """Moves to just after the next layer tagged `name` (never inside a tensor: those are
        skipped whole by `tensor`)."""
        tag = bytes([0x01, len(name)]) + name.encode()
        found = self.data.find(tag, self.pos)
        if found < 0:
            raise DlibFormatError(f"no '{name}' layer after byte {self.pos}")
        self.pos = found + len(tag)


def _read_conv(stream: _Stream) -> tuple[torch.Tensor, torch.Tensor, int, int]:
    """(weight OIHW, bias, stride, padding) of the next `con_4` layer."""
    stream.seek("con_4")
    params = stream.tensor()
    n_filters, rows, cols, stride, stride_x, padding, padding_x = (stream.integer() for _ in range(7))
    shape = stream.alias_shape()
    if shape[0] != n_filters or (rows, cols) != shape[2:] or stride != stride_x or padding != padding_x:
        raise DlibFormatError(f"unexpected convolution {shape}, stride {stride}, padding {padding}")
    n_weights = int(np.prod(shape))
    weight = torch.from_numpy(params[:n_weights].reshape(shape).copy())
    bias = torch.from_numpy(params[n_weights : n_weights + n_filters].copy())
    return weight, bias, stride, padding


def _read_affine(stream: _Stream) -> tuple[torch.Tensor, torch.Tensor]:
    stream.seek("affine_")
    params = stream.tensor()
    half = len(params) // 2
    return torch.from_numpy(params[:half].copy()), torch.from_numpy(params[half:].copy())


class _ConvAffine(nn.Module):
    """A convolution followed by dlib's affine layer, folded into one convolution."""

    def __init__(self, stream: _Stream):
        super().__init__()
        weight, bias, self.stride, self.padding = _read_conv(stream)
        gamma, beta = _read_affine(stream)
        self.weight = nn.Parameter(weight * gamma[:, None, None, None], requires_grad=False)
        self.bias = nn.Parameter(bias * gamma + beta, requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding)


def _add(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """dlib's add_prev: the sum over the overlap of two tensors, zero-extended to the larger."""
    size = [max(s, t) for s, t in zip(a.shape, b.shape)]

    def grown(x: torch.Tensor) -> torch.Tensor:
        pads = [p for dim in (3, 2, 1) for p in (0, size[dim] - x.shape[dim])]
        return F.pad(x, pads) if any(pads) else x

    return grown(a) + grown(b)


class _Residual(nn.Module):
    def __init__(self, stream: _Stream, downsample: bool):
        super().__init__()
        self.first, self.second = _ConvAffine(stream), _ConvAffine(stream)
        self.downsample = downsample
        if downsample:
            stream.seek("avg_pool_2")
        stream.seek("add_prev_")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch = self.second(torch.relu(self.first(x)))
        shortcut = F.avg_pool2d(x, 2, 2) if self.downsample else x
        return torch.relu(_add(branch, shortcut))


class FaceDescriptorNet(nn.Module):
    """(B, 3, 150, 150) RGB chips in 0..255 -> (B, 128) descriptors, as dlib computes them."""

    def __init__(self, data: bytes):
        super().__init__()
        stream = _Stream(data)
        stream.seek("input_rgb_image_sized")
        self.stem = _ConvAffine(stream)
        stream.seek("max_pool_2")
        blocks = []
        for channels, downsamples, count in STAGES:
            for i in range(count):
                blocks.append(_Residual(stream, downsample=downsamples and i == 0))
                if blocks[-1].second.weight.shape[0] != channels:
                    raise DlibFormatError(f"expected a stage of {channels} channels")
        self.blocks = nn.Sequential(*blocks)
        stream.seek("fc_2")
        n_out, n_in = stream.integer(), stream.integer()
        if (n_out, n_in) != (DESCRIPTOR_DIM, STAGES[-1][0]):
            raise DlibFormatError(f"expected a {STAGES[-1][0]}->{DESCRIPTOR_DIM} map, got {n_in}->{n_out}")
        weights = stream.tensor()[: n_in * n_out].reshape(n_in, n_out)
        self.project = nn.Parameter(torch.from_numpy(weights.copy()), requires_grad=False)
        self.register_buffer("means", torch.tensor(CHANNEL_MEANS).view(1, 3, 1, 1))

    def forward(self, chips: torch.Tensor) -> torch.Tensor:
        x = (chips.float() - self.means) / 256.0
        x = F.max_pool2d(torch.relu(self.stem(x)), 3, 2)
        x = self.blocks(x)
        return x.mean(dim=(2, 3)) @ self.project


def load_descriptor_net(path: Path) -> FaceDescriptorNet:
    """dlib's descriptor network in torch from its model file (~22 MB of weights; 0.05 s)."""
    # channels-last lets torch pick oneDNN's convolutions for every layer (NCHW sent most of them
    # down its slow im2col path): 16 -> 10 ms a face, the same numbers
    return FaceDescriptorNet(Path(path).read_bytes()).eval().to(memory_format=torch.channels_last)


@torch.no_grad()
def describe_chips(net: FaceDescriptorNet, chips: np.ndarray) -> np.ndarray:
    """(B, 150, 150, 3) uint8 RGB chips (`dlib.get_face_chip(rgb, shape, 150, 0.25)`) -> (B, 128)
    float32 descriptors."""
    x = torch.from_numpy(np.ascontiguousarray(chips)).permute(0, 3, 1, 2)  # NHWC memory: channels-last
    return net(x.float().contiguous(memory_format=torch.channels_last)).numpy().astype(np.float32)
