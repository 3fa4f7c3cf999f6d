"""Reading the fusion transformer's attention: which face patches each word looks at, how much
each modality contributes to [FUSE], where [FUSE] listens in the voice, and attention rollout
(Abnar & Zuidema 2020) from [FUSE] to the face patches.

Everything here reads the typed `FusionOutput.attentions` the network returns when asked;
nothing hooks into the network.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from mmdemo.model.network import FusionOutput


@dataclass
class AttentionMaps:
    words: list[str]  # description words, in order
    text_to_image: np.ndarray | None  # (n_words, grid, grid): where each word looks on the face
    modality_share: dict[str, float]  # share of the [FUSE] token's attention per modality
    voice_frames: np.ndarray | None  # (n_voice_tokens,) [FUSE] attention over the voice
    voice_token_seconds: float  # seconds of audio per voice token
    rollout: np.ndarray | None  # (grid, grid) attention rollout from [FUSE] to face patches


def attention_maps(
    fused: FusionOutput, text_pieces: list[str] | None, *, grid: int, voice_token_seconds: float
) -> AttentionMaps:
    """The maps of the first sample of a fused batch that was run with want_attention=True."""
    layers = torch.stack([a[0].float() for a in fused.attentions])  # (layers, H, N, N)
    mean = layers.mean((0, 1))  # (N, N)
    lay = fused.layout
    fuse_row = mean[0]
    shares = {m: float(fuse_row[s].sum()) for m, s in lay.items()}
    total = sum(shares.values()) or 1.0
    words, text_map = [], None
    if "text" in lay:
        words, groups = words_of(text_pieces or [])
        if "image" in lay and groups:
            per_piece = mean[lay["text"], lay["image"]]  # (L, grid*grid)
            per_piece = per_piece / per_piece.sum(-1, keepdim=True).clamp_min(1e-9)
            text_map = (
                torch.stack([per_piece[g].mean(0) for g in groups]).reshape(-1, grid, grid).cpu().numpy()
            )
    voice = None
    if "voice" in lay:
        voice = fuse_row[lay["voice"]]
        voice = (voice / voice.sum().clamp_min(1e-9)).cpu().numpy()
    rollout = rollout_to_image(layers.mean(1), lay).reshape(grid, grid) if "image" in lay else None
    return AttentionMaps(
        words=words,
        text_to_image=text_map,
        modality_share={m: v / total for m, v in shares.items()},
        voice_frames=voice,
        voice_token_seconds=voice_token_seconds,
        rollout=rollout,
    )


def words_of(pieces: list[str]) -> tuple[list[str], list[list[int]]]:
    """Word pieces -> words and, per word, the piece positions; [CLS]/[SEP] and punctuation dropped."""
    words, groups = [], []
    for i, p in enumerate(pieces):
        if p in ("[CLS]", "[SEP]", "[PAD]") or not any(ch.isalnum() for ch in p):
            continue
        if p.startswith("##") and groups and groups[-1][-1] == i - 1:
            words[-1] += p[2:]
            groups[-1].append(i)
        else:
            words.append(p)
            groups.append([i])
    return words, groups


def rollout(attn: torch.Tensor) -> torch.Tensor:
    """Attention rollout: (layers, N, N) head-averaged maps -> (N, N), residual counted as half."""
    eye = torch.eye(attn.shape[-1], device=attn.device)
    result = eye
    for a in attn:
        a = 0.5 * a + 0.5 * eye
        result = (a / a.sum(-1, keepdim=True)) @ result
    return result


def attention_rollout(fused: FusionOutput) -> np.ndarray:
    """[FUSE] -> face-patch rollout of one fused sample, normalised to sum 1 (grid*grid,)."""
    layers = torch.stack([a[0].float() for a in fused.attentions]).mean(1)  # (layers, N, N)
    return rollout_to_image(layers, fused.layout)


def rollout_to_image(head_mean: torch.Tensor, layout: dict[str, slice]) -> np.ndarray:
    """Rollout of head-averaged maps (layers, N, N), [FUSE]'s row over the face patches, summing to 1."""
    r = rollout(head_mean)[0, layout["image"]]
    return (r / r.sum().clamp_min(1e-9)).cpu().numpy()
