"""What a checkpoint's latent space means in numbers, fitted after training on data it did not train on.

- **Where people lie** (`LatentMixture`): a Gaussian mixture fitted on the training split's fused
  latents, the aggregate posterior. The model was trained to decode latents from there, not from all
  of N(0, I), so "sample new people" and joint coherence draw from it.
- **Whether two inputs are one person** (`PairCalibration`): for each pair of modalities, a logistic
  curve from the cosine of their single-input latents to the probability that they come from the same
  person, fitted on held-out matched pairs and as many mismatched ones (a 50/50 prior). Cosines are
  not comparable across pairs (face-voice sits lower than face-text for the same person), a fitted
  probability is.

`calibration.safetensors` in the checkpoint folder holds both (tensors, no pickle) and the fit's record
as metadata; `python -m mmdemo calibrate` writes it and `train` ends with it. A checkpoint without one
samples N(0, I) and gives no probability.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import torch

from mmdemo import checkpoint as ckpt

CALIBRATION_FILE = "calibration.safetensors"
# the verdict a probability earns in the app's agreement table
AGREE_FROM, DISAGREE_BELOW = 0.75, 0.25


@dataclass
class LatentMixture:
    weights: torch.Tensor  # (K,)
    means: torch.Tensor  # (K, Z)
    scale_tril: torch.Tensor  # (K, Z, Z): Cholesky factors of the covariances

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        component = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        noise = torch.randn(n, self.means.shape[1], 1, generator=generator)
        return self.means[component] + (self.scale_tril[component] @ noise)[..., 0]


@dataclass
class PairCalibration:
    slope: float
    intercept: float

    def probability(self, cosine: float) -> float:
        return 1.0 / (1.0 + math.exp(-(self.slope * cosine + self.intercept)))


def verdict(probability: float) -> str:
    if probability >= AGREE_FROM:
        return "agree"
    return "disagree" if probability < DISAGREE_BELOW else "unsure"


@dataclass
class Calibration:
    mixture: LatentMixture | None = None
    pairs: dict[str, PairCalibration] = field(default_factory=dict)  # "image-voice" -> curve
    record: dict = field(default_factory=dict)  # how and on what it was fitted, with its scores

    def same_person(self, cosines: dict[str, float]) -> dict[str, float]:
        """{pair: probability} for the pairs this calibration has a curve for."""
        return {p: self.pairs[p].probability(c) for p, c in cosines.items() if p in self.pairs}

    def save(self, folder: str | Path) -> Path:
        """Writes `CALIBRATION_FILE` atomically (a reader never sees half a file)."""
        tensors = {f"pair.{p}": torch.tensor([c.slope, c.intercept]) for p, c in self.pairs.items()}
        if self.mixture is not None:
            m = self.mixture
            tensors |= {"mixture.weights": m.weights, "mixture.means": m.means}
            tensors["mixture.scale_tril"] = m.scale_tril
        path = Path(folder) / CALIBRATION_FILE
        tensors = {k: v.float() for k, v in tensors.items()}
        ckpt.atomic_save_tensors(path, tensors, {"record": json.dumps(self.record)})
        return path

    @classmethod
    def load(cls, folder: str | Path | None) -> Calibration | None:
        path = Path(folder) / CALIBRATION_FILE if folder is not None else None
        if path is None or not path.is_file():
            return None
        t = ckpt.read_tensors(path)  # refuses a truncated or corrupt file with a clear message
        record = ckpt.read_record(path)
        pairs = {k[5:]: PairCalibration(*v.tolist()) for k, v in t.items() if k.startswith("pair.")}
        mixture = (
            LatentMixture(t["mixture.weights"], t["mixture.means"], t["mixture.scale_tril"])
            if "mixture.means" in t
            else None
        )
        return cls(mixture, pairs, record)
