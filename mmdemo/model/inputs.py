"""People's raw inputs -> the network's input tensors (`FusionAutoencoder.tokens`' keys).

One recipe for every caller, so the app, batch embedding and the fitting of the attribute readers
feed the network the same numbers: faces as (B, 64, 64, 3) uint8, descriptions through the frozen
MiniLM, voices as log-mel frames clipped to what the voice encoder takes, frozen features as given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from mmdemo.audio import HOP_LENGTH, log_mel
from mmdemo.model.chinese_text import BilingualTextEncoder
from mmdemo.model.network import ModelConfig
from mmdemo.model.text import FrozenMiniLM, trim


@dataclass
class NetworkInputs:
    tensors: dict[str, torch.Tensor]  # FusionAutoencoder.tokens' inputs
    text_tokens: list[list[str]] | None  # each description's word pieces (attention labels)


def network_inputs(
    config: ModelConfig,
    text_encoder: FrozenMiniLM | BilingualTextEncoder,
    device: torch.device,
    images: np.ndarray | None = None,
    texts: Sequence[str] | None = None,
    waves: Sequence[np.ndarray] | None = None,
    *,
    face_features: np.ndarray | None = None,
    speaker_features: np.ndarray | None = None,
) -> NetworkInputs:
    """images: (B, 64, 64, 3) uint8; texts: B strings; waves: B float32 16 kHz clips; the frozen
    features (B, dim)."""
    inputs: dict[str, torch.Tensor] = {}
    text_tokens = None
    if images is not None:
        x = torch.as_tensor(np.ascontiguousarray(images), device=device)
        inputs["image"] = x.permute(0, 3, 1, 2).float().div(255.0)
    if texts is not None:
        enc = trim(text_encoder.encode(list(texts)))
        inputs["text_states"], inputs["text_mask"] = enc.states, enc.mask
        text_tokens = enc.tokens
    if waves is not None:
        inputs["mel"], inputs["mel_len"] = _mel(config, waves, device)
    for key, values in (("face_features", face_features), ("speaker_features", speaker_features)):
        if values is not None:
            inputs[key] = torch.as_tensor(np.asarray(values, np.float32), device=device)
    return NetworkInputs(inputs, text_tokens)


def _mel(config: ModelConfig, waves: Sequence[np.ndarray], device) -> tuple[torch.Tensor, torch.Tensor]:
    limit = (config.voice_max_frames - 1) * HOP_LENGTH
    clips = [np.asarray(w, np.float32)[:limit] for w in waves]
    lengths = torch.tensor([len(c) for c in clips])
    batch = torch.zeros(len(clips), int(lengths.max()))
    for i, c in enumerate(clips):
        batch[i, : len(c)] = torch.from_numpy(c)
    mel = log_mel(batch.to(device))
    return mel, (torch.div(lengths, HOP_LENGTH, rounding_mode="floor") + 1).to(device)
