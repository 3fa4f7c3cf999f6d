"""What a checkpoint's latent space means in numbers, fitted after training on data it did not train on.

- **Where people lie** (`LatentMixture`): a Gaussian mixture fitted on the training split's fused
  latents, the aggregate posterior. The model was trained to decode latents from there, not from all
  of N(0, I), so "sample new people" and joint coherence draw from it.
- **Whether two inputs are one person** (`PairCalibration`): for each pair of modalities, a logistic
  curve from two readings of the pair to the probability that they come from the same person, fitted
  on held-out matched pairs and as many mismatched ones (a 50/50 prior):
  - the cosine of their single-input latents;
  - how much more likely the attributes read from each are under "one person" than under "two people"
    (`attribute_llr`: for each attribute both can show, the chance the two readings name the same
    value over the chance two strangers' would; agreeing on a rare value says more than on a common
    one). The cosine alone ranks a person's own face-voice pairs above strangers' 0.94 of the time,
    with this beside it 0.98 (bundled checkpoint, synthetic test split).
  Cosines are not comparable across pairs (face-voice sits lower than face-text for the same person),
  a fitted probability is.

`calibration.safetensors` in the checkpoint folder holds both (tensors, no pickle) and the fit's record
as metadata; `python -m mmdemo calibrate` writes it and `train` ends with it. A checkpoint without one
samples N(0, I) and gives no probability.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from mmdemo import checkpoint as ckpt
from mmdemo.schema import ATTRIBUTES, VOICE_ATTRIBUTES

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
    attribute_slope: float = 0.0  # the weight of `attribute_llr` (0: the cosine alone, as fitted before)

    def probability(self, cosine: float, attribute_llr: float = 0.0) -> float:
        logit = self.slope * cosine + self.attribute_slope * attribute_llr + self.intercept
        return 1.0 / (1.0 + math.exp(-min(max(logit, -50.0), 50.0)))  # two sure contradictions: no overflow


def compared_attributes(pair: str) -> list[int]:
    """Indices (schema order) of the attributes a pair of inputs is compared on: a voice shows only
    its own three; a face and a description all (what a description leaves unsaid reads as the
    prior, which weighs nothing)."""
    voice = "voice" in pair.split("-")
    return [i for i, a in enumerate(ATTRIBUTES) if not voice or a.name in VOICE_ATTRIBUTES]


def attribute_llr(
    probs_a: list[np.ndarray], probs_b: list[np.ndarray], prior: list[np.ndarray], pair: str
) -> np.ndarray:
    """(N,) log-likelihood ratio of "one person" to "two people" for N pairs of attribute readings
    (per attribute, (N, values) probabilities): the sum over the compared attributes of
    log sum_v p_a(v) p_b(v) / prior(v)."""
    terms = [
        np.log(np.maximum((probs_a[i] * probs_b[i] / np.maximum(prior[i], 1e-6)).sum(-1), 1e-9))
        for i in compared_attributes(pair)
    ]
    return np.sum(terms, axis=0)


def single_attributes(model, singles: dict) -> dict[str, list[np.ndarray]]:
    """Per modality, the attribute probabilities its input alone is read with, as `analyze` reads them
    for the agreement table. model: a `MultimodalModel`; singles: {modality: that input's reading (a
    `Reading` or `FusionOutput`: its `mu` and `evidence`)}."""
    return {m: model.attribute_probs(r.mu, r.evidence) for m, r in singles.items()}


def attribute_prior(attributes: dict[str, list[np.ndarray]]) -> list[np.ndarray]:
    """Per attribute, the mean of `single_attributes`' probabilities over the people and modalities:
    what the agreement's attribute ratio weighs a shared value against."""
    per_modality = list(attributes.values())
    return [
        np.mean([probs[i].mean(0) for probs in per_modality], axis=0) for i in range(len(per_modality[0]))
    ]


def verdict(probability: float) -> str:
    if probability >= AGREE_FROM:
        return "agree"
    return "disagree" if probability < DISAGREE_BELOW else "unsure"


@dataclass
class Calibration:
    mixture: LatentMixture | None = None
    pairs: dict[str, PairCalibration] = field(default_factory=dict)  # "image-voice" -> curve
    record: dict = field(default_factory=dict)  # how and on what it was fitted, with its scores
    # per attribute (schema order), the share of people with each value, as the model reads them
    attribute_prior: list[np.ndarray] | None = None

    def same_person(
        self, cosines: dict[str, float], attributes: dict[str, list[np.ndarray]] | None = None
    ) -> dict[str, float]:
        """{pair: probability} for the pairs this calibration has a curve for. attributes: each
        input's attribute probabilities read alone ({modality: per attribute (1, values)}); without
        them, or for a calibration fitted without them, the cosine alone decides."""
        return {
            p: self.pairs[p].probability(c, self._pair_llr(p, attributes))
            for p, c in cosines.items()
            if p in self.pairs
        }

    def _pair_llr(self, pair: str, attributes: dict[str, list[np.ndarray]] | None) -> float:
        if attributes is None or self.attribute_prior is None or not self.pairs[pair].attribute_slope:
            return 0.0
        a, b = pair.split("-")
        return float(attribute_llr(attributes[a], attributes[b], self.attribute_prior, pair)[0])

    def save(self, folder: str | Path) -> Path:
        """Writes `CALIBRATION_FILE` atomically (a reader never sees half a file)."""
        tensors = {
            f"pair.{p}": torch.tensor([c.slope, c.intercept, c.attribute_slope])
            for p, c in self.pairs.items()
        }
        if self.attribute_prior is not None:
            tensors |= {
                f"prior.{a.name}": torch.from_numpy(p) for a, p in zip(ATTRIBUTES, self.attribute_prior)
            }
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
        names = [f"prior.{a.name}" for a in ATTRIBUTES]
        prior = [t[n].double().numpy() for n in names] if all(n in t for n in names) else None
        return cls(mixture, pairs, record, prior)
