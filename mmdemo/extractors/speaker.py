"""A speaker embedding from real speech: a GE2E encoder (3-layer LSTM, 256-d, L2-normed).

The weights are those of the `Resemblyzer` wheel (Apache-2.0; `pretrained.pt`, trained on
thousands of real speakers), converted once to safetensors by `scripts/convert_speaker_encoder.py`
and committed beside this file (5.7 MB). The package itself is not needed: its audio module wants
webrtcvad and librosa at import time, and its loader unpickles.
The features match its own: 40 mel bands (Slaney scale and norm) of the power spectrum, 25 ms
windows every 10 ms, 1.6 s partials at 1.3 per second, their mean embedding re-normed.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file
from torch import nn

from mmdemo.audio import SAMPLE_RATE
from mmdemo.extractors.face import ExtractorMissing

EMBEDDING_DIM = 256
N_MELS = 40
WINDOW = 400  # 25 ms
HOP = 160  # 10 ms
PARTIAL_FRAMES = 160  # 1.6 s
PARTIAL_STEP = round(SAMPLE_RATE / 1.3 / HOP)  # frames between partial starts (1.3 partials a second)
TARGET_DBFS = -30.0  # the loudness the encoder's training clips were raised to


WEIGHTS = Path(__file__).parent / "weights" / "speaker_encoder.safetensors"


class SpeakerEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(N_MELS, 256, 3, batch_first=True)
        self.linear = nn.Linear(256, EMBEDDING_DIM)

    def forward(self, mels: torch.Tensor) -> torch.Tensor:
        """(B, frames, 40) mel power -> (B, 256) L2-normed embeddings."""
        _, (hidden, _) = self.lstm(mels)
        e = torch.relu(self.linear(hidden[-1]))
        return e / e.norm(dim=1, keepdim=True).clamp_min(1e-8)


@lru_cache(maxsize=1)
def load_encoder() -> SpeakerEncoder:
    if not WEIGHTS.is_file():
        raise ExtractorMissing(f"{WEIGHTS} is missing; run scripts/convert_speaker_encoder.py")
    encoder = SpeakerEncoder()
    encoder.load_state_dict(load_file(WEIGHTS))
    return encoder.eval()


def available() -> bool:
    return WEIGHTS.is_file()


def _slaney_mel(f: np.ndarray) -> np.ndarray:
    # linear below 1 kHz, logarithmic above: the Slaney (Auditory Toolbox) scale librosa uses
    f = np.asarray(f, dtype=np.float64)
    linear = f / (200.0 / 3)
    log_part = 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(f >= 1000.0, log_part, linear)


def _slaney_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    return np.where(m >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (m - 15.0)), m * (200.0 / 3))


@lru_cache(maxsize=1)
def mel_filters() -> torch.Tensor:
    """(201, 40) Slaney-normalised triangular filters over the 400-point FFT's bins."""
    edges = _slaney_hz(np.linspace(_slaney_mel(0.0), _slaney_mel(SAMPLE_RATE / 2), N_MELS + 2))
    bins = np.linspace(0, SAMPLE_RATE / 2, WINDOW // 2 + 1)
    widths = np.diff(edges)
    ramps = edges[:, None] - bins[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper)) * (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return torch.from_numpy(weights.T.astype(np.float32))


def mel_power(wave: np.ndarray) -> torch.Tensor:
    """(frames, 40) mel power spectrogram of a 16 kHz clip (centred, zero-padded frames)."""
    x = torch.as_tensor(np.asarray(wave, dtype=np.float32).reshape(-1))
    spec = torch.stft(
        x,
        WINDOW,
        HOP,
        WINDOW,
        torch.hann_window(WINDOW),
        center=True,
        pad_mode="constant",
        return_complex=True,
    )
    return (spec.abs() ** 2).mT @ mel_filters()


def normalise_loudness(wave: np.ndarray, target_dbfs: float = TARGET_DBFS) -> np.ndarray:
    """The clip at `target_dbfs` RMS, clipped to [-1, 1]. Resemblyzer only raises quiet clips; here
    loud ones are lowered too, so the same voice gives the same embedding at any recording level."""
    rms = float(np.sqrt(np.mean(np.square(wave, dtype=np.float64)))) if len(wave) else 0.0
    if rms <= 1e-7:
        return wave
    gain = 10 ** ((target_dbfs - 20 * np.log10(rms)) / 20)
    return np.clip(wave * gain, -1.0, 1.0).astype(np.float32)


def partials(mel: torch.Tensor) -> torch.Tensor:
    """(n, 160, 40) overlapping 1.6 s windows covering the clip; the last is zero-padded when it
    holds at least 3/4 of a window (or is the only one)."""
    n = mel.shape[0]
    starts = list(range(0, max(1, n - PARTIAL_FRAMES + PARTIAL_STEP + 1), PARTIAL_STEP))
    if len(starts) > 1 and (n - starts[-1]) / PARTIAL_FRAMES < 0.75:
        starts = starts[:-1]
    padded = torch.nn.functional.pad(mel, (0, 0, 0, max(0, starts[-1] + PARTIAL_FRAMES - n)))
    return torch.stack([padded[s : s + PARTIAL_FRAMES] for s in starts])


@torch.no_grad()
def embed_speech(wave: np.ndarray) -> np.ndarray:
    """(256,) float32 speaker embedding of a 16 kHz mono clip."""
    return embed_speeches([wave])[0]


@torch.no_grad()
def embed_speeches(waves: Sequence[np.ndarray], max_partials: int = 512) -> np.ndarray:
    """(N, 256) float32 speaker embeddings of 16 kHz mono clips, the same as `embed_speech` of each.
    Every clip's partials go through the LSTM together (up to `max_partials` at a time): one clip's
    few partials leave the LSTM's per-step matrix products nearly empty, so a dataset's clips read
    one by one cost several times more."""
    windows = [partials(mel_power(normalise_loudness(np.asarray(w, dtype=np.float32)))) for w in waves]
    if not windows:
        return np.zeros((0, EMBEDDING_DIM), np.float32)
    stacked = torch.cat(windows)
    encoder = load_encoder()
    each = torch.cat([encoder(stacked[i : i + max_partials]) for i in range(0, len(stacked), max_partials)])
    means = torch.stack([part.mean(0) for part in each.split([len(w) for w in windows])])
    return (means / means.norm(dim=1, keepdim=True).clamp_min(1e-8)).numpy().astype(np.float32)
