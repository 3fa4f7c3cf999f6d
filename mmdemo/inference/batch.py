"""Many people at once: their inputs as model-ready arrays (`Inputs`), and what the model reads of
them under one subset of inputs (`Reading`). `MultimodalModel.read` goes from one to the other."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from mmdemo.model.network import FusionOutput
from mmdemo.schema import MODALITIES


@dataclass
class Inputs:
    """N people's inputs as model-ready arrays; a modality is None when none of them has it."""

    images: np.ndarray | None = None  # (N, 64, 64, 3) uint8
    texts: list[str] | None = None
    waves: list[np.ndarray] | None = None  # float32 16 kHz clips
    # frozen real-world features (mmdemo.extractors), for a model that reads them; None: not given
    face_features: np.ndarray | None = None  # (N, face.FEATURE_DIM)
    speaker_features: np.ndarray | None = None  # (N, speaker.EMBEDDING_DIM)

    @classmethod
    def load(
        cls, samples: Sequence, modalities: Sequence[str] = MODALITIES, *, features: bool = False
    ) -> Inputs:
        """Reads the chosen modalities of dataset samples (each must have them); `features` also
        computes their frozen features (from a folder's `mmdemo features` cache when it has them)."""
        from mmdemo.data.loaders import load_audio, load_image

        waves = [load_audio(s) for s in samples] if "voice" in modalities else None
        out = cls(
            images=np.stack([load_image(s) for s in samples]) if "image" in modalities else None,
            texts=[s.text for s in samples] if "text" in modalities else None,
            waves=waves,
        )
        if features:
            from mmdemo.data.features import cached_or_computed

            if "image" in modalities:
                out.face_features = cached_or_computed(samples, "face")
            if "voice" in modalities:
                out.speaker_features = cached_or_computed(samples, "speaker", waves=waves)
        return out

    def __len__(self) -> int:
        return len(next(x for x in (self.images, self.texts, self.waves) if x is not None))

    def get(self, modality: str):
        """The arrays of one modality ("image", "text" or "voice"), or None."""
        return {"image": self.images, "text": self.texts, "voice": self.waves}[modality]

    def rows(self, start: int, stop: int) -> Inputs:
        return Inputs(
            *(
                None if x is None else x[start:stop]
                for x in (self.images, self.texts, self.waves, self.face_features, self.speaker_features)
            )
        )


@dataclass
class Reading:
    """N people read under one subset: the fused latent means and, for a network with attribute
    readers, their (N, logits) correction from the frozen features (see `attribute_probs`). Both
    on the CPU whatever the model's device: callers hand them to numpy, and a large dataset's
    readings need not sit in GPU memory (the model's methods move them back when given them)."""

    mu: torch.Tensor  # (N, Z)
    evidence: torch.Tensor | None = None
    private: torch.Tensor | None = None  # (N, W) the face's private latent mean, when the face was read

    @classmethod
    def joined(cls, parts: Sequence[FusionOutput]) -> Reading:
        def cat(name: str) -> torch.Tensor | None:
            values = [getattr(p, name) for p in parts]
            return None if any(v is None for v in values) else torch.cat([v.float().cpu() for v in values])

        return cls(cat("mu"), cat("evidence"), cat("private_mu"))
