"""Frozen text-encoder states cached for training.

MiniLM is frozen, so the states of a sentence never change: training encodes
a few wordings of every description once (the original plus re-sampled ones,
the text augmentation) and looks them up per batch instead of running the
22M-parameter encoder at every step.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from tqdm import tqdm

from mmdemo.data.loaders import Sample
from mmdemo.model.text import shared_encoder
from mmdemo.synth.descriptions import describe


def wordings(samples: Sequence[Sample], per_sample: int, seed: int) -> list[list[str]]:
    """Per sample: its own description plus per_sample-1 re-worded ones stating the same attributes."""
    out = []
    for i, s in enumerate(samples):
        if s.text is None:
            out.append([])
            continue
        rng = np.random.default_rng([seed, 2, i])
        extra = (
            [describe(s.attrs, rng, mentions=s.mentions)[0] for _ in range(per_sample - 1)]
            if s.mentions
            else []
        )
        out.append([s.text, *extra])
    return out


class TextStateCache:
    """text -> (tokens, 384) float16 states of the frozen encoder."""

    def __init__(
        self,
        texts: Sequence[str],
        *,
        batch_size: int = 256,
        progress: bool = False,
        device: torch.device | str = "cpu",
    ):
        unique = sorted(set(texts), key=len)  # similar lengths per batch: less padding
        encoder = shared_encoder(device)
        self.states: dict[str, torch.Tensor] = {}
        for i in tqdm(range(0, len(unique), batch_size), desc="text states", disable=not progress):
            chunk = unique[i : i + batch_size]
            enc = encoder.encode(chunk)
            for text, states, mask in zip(chunk, enc.states, enc.mask):
                self.states[text] = states[mask].half().cpu()

    def __contains__(self, text: str) -> bool:
        return text in self.states

    def batch(
        self, texts: Sequence[str | None], *, token_dropout: float = 0.0, gen: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, L, 384) float states and (B, L) mask; rows without text are all-False.

        token_dropout hides word pieces (never [CLS]/[SEP]) from the fusion, the
        cached equivalent of word dropout."""
        rows = [self.states[t] if t is not None else None for t in texts]
        width = max([r.shape[0] for r in rows if r is not None] or [1])
        dim = next((r.shape[1] for r in rows if r is not None), 384)
        states = torch.zeros(len(rows), width, dim)
        mask = torch.zeros(len(rows), width, dtype=torch.bool)
        for j, r in enumerate(rows):
            if r is not None:
                states[j, : r.shape[0]] = r.float()
                mask[j, : r.shape[0]] = True
        if token_dropout > 0:
            drop = torch.rand(mask.shape, generator=gen) < token_dropout
            drop[:, 0] = False
            lengths = mask.sum(1)
            drop[torch.arange(len(rows)), (lengths - 1).clamp_min(0)] = False
            mask &= ~drop
        return states, mask
