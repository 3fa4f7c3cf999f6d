"""Fitting a checkpoint's calibration (`mmdemo.inference.calibration`) on the folders it trained on.

The latent mixture is fitted on the train split's people (face, description and voice fused: the
latents the decoders learned to read), its number of components chosen by how well its samples cover
the val split's people without straying from them (precision and recall of generative models,
Kynkaanniemi et al. 2019, in the latent space). The val log-likelihood, which chose it before, prefers
a few broad components whose samples fall between the attribute clusters, where no person lies: on
the bundled checkpoint 16 components drew people whose face, description and voice agreed 0.82 of the
time, 256 components 0.91. The same-person curves are fitted on the val split's people, whom the network never
trained on, so their cosines look like a new user's: each person's own pairs of single-input latents
(matched) against as many pairs of two different people (mismatched).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from mmdemo.data.loaders import Sample, open_samples
from mmdemo.inference.calibration import (
    CALIBRATION_FILE,
    Calibration,
    LatentMixture,
    PairCalibration,
    attribute_llr,
    attribute_prior,
    single_attributes,
)
from mmdemo.inference.model import MultimodalModel, load_model
from mmdemo.schema import MODALITIES

log = logging.getLogger(__name__)

PAIRS = (("image", "text"), ("image", "voice"), ("text", "voice"))
COMPONENTS = (1, 4, 16, 32, 64, 128, 256)
NEIGHBOURS = 3  # the k of the k-nearest-neighbour balls that stand for a set's manifold
SINGLES = [(m,) for m in MODALITIES]


def people(folders: Sequence[str | Path], split: str) -> list[Sample]:
    """The samples of `split` in each folder that have a face, a description and a voice."""
    return [s for f in folders for s in open_samples(f, split) if s.image and s.text and s.audio]


def mismatched_partners(person_ids: Sequence[str], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(partner, usable): each sample's partner in a mismatched pair, and which of those pairs are two
    different people (two samples of one person are not a mismatch)."""
    n = len(person_ids)
    order = np.random.default_rng(seed).permutation(n)
    partner = np.empty(n, int)
    partner[order] = np.roll(order, -1)  # a cycle through a shuffled order: nobody is paired with itself
    ids = np.asarray(person_ids)
    return partner, ids[partner] != ids


def pair_features(
    singles: dict[str, torch.Tensor],
    person_ids: Sequence[str],
    pair: tuple[str, str],
    seed: int = 0,
    attributes: dict[str, list[np.ndarray]] | None = None,
    prior: list[np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(features (N, 2), 1 = same person) of every person's own `pair` of single inputs and of as many
    pairs of two different people (each person's first modality against another person's second).
    Features: the cosine of the single-input latents, and with `attributes` (per modality, the
    attribute probabilities read from each single input) and `prior` their `attribute_llr` (else 0)."""
    a, b = (torch.nn.functional.normalize(singles[m].float(), dim=-1) for m in pair)
    partner, other = mismatched_partners(person_ids, seed)
    rows_a = np.r_[np.arange(len(person_ids)), np.flatnonzero(other)]
    rows_b = np.r_[np.arange(len(person_ids)), partner[other]]
    cos = (a[torch.from_numpy(rows_a)] * b[torch.from_numpy(rows_b)]).sum(-1).numpy()
    llr = np.zeros_like(cos)
    if attributes is not None and prior is not None:
        pa, pb = ([p[rows] for p in attributes[m]] for m, rows in zip(pair, (rows_a, rows_b)))
        llr = attribute_llr(pa, pb, prior, "-".join(pair))
    same = np.r_[np.ones(len(person_ids)), np.zeros(int(other.sum()))]
    return np.stack([cos, llr], axis=1), same


def pair_scores(features: np.ndarray, same: np.ndarray, curve: PairCalibration | None = None) -> dict:
    """How well the cosine (`pair_features`' first column) separates matched from mismatched pairs
    (ROC AUC), and with a fitted curve how well its probability does and how good those are (ROC AUC,
    Brier score, accuracy of the 0.5 cut)."""
    from sklearn.metrics import brier_score_loss, roc_auc_score

    cos = features[:, 0]
    auc_cosine = float(roc_auc_score(same, cos))
    out = {
        "auc": auc_cosine,
        "auc_cosine": auc_cosine,
        "cos_matched": float(cos[same == 1].mean()),
        "cos_mismatched": float(cos[same == 0].mean()),
    }
    if curve is not None:
        p = np.array([curve.probability(*row) for row in features])
        out |= {
            "auc": float(roc_auc_score(same, p)),
            "brier": float(brier_score_loss(same, p)),
            "accuracy": float(((p >= 0.5) == same).mean()),
        }
    return out


def fit_pair(features: np.ndarray, same: np.ndarray) -> PairCalibration:
    """A logistic curve on the cosine and the attribute log-likelihood ratio (or on a column of
    cosines alone)."""
    from sklearn.linear_model import LogisticRegression

    features = features.reshape(len(features), -1)
    fit = LogisticRegression(C=100.0).fit(features, same)
    attribute_slope = float(fit.coef_[0, 1]) if features.shape[1] > 1 else 0.0
    return PairCalibration(float(fit.coef_[0, 0]), float(fit.intercept_[0]), attribute_slope)


def sample_precision_recall(real: np.ndarray, drawn: np.ndarray, k: int = NEIGHBOURS) -> tuple[float, float]:
    """(precision, recall) of `drawn` points against `real` ones: the share of drawn points inside a
    real point's ball (radius: its distance to its k-th nearest real neighbour), and the share of real
    points inside a drawn point's ball. High precision: the draws look like people; high recall: they
    reach where every kind of person lies."""
    from scipy.spatial.distance import cdist

    def radii(x: np.ndarray) -> np.ndarray:
        return np.sort(cdist(x, x), axis=1)[:, k]  # column 0 is the point itself

    between = cdist(drawn, real)
    precision = float((between <= radii(real)[None]).any(1).mean())
    recall = float((between.T <= radii(drawn)[None]).any(1).mean())
    return precision, recall


def fit_mixture(train: np.ndarray, val: np.ndarray, seed: int = 0) -> tuple[LatentMixture, dict]:
    """A full-covariance Gaussian mixture on `train` latents; the number of components is the one
    whose samples score the best F1 of precision and recall against `val` (at least 10 training
    latents per component). Each fit's val log-likelihood is recorded beside it."""
    from sklearn.mixture import GaussianMixture

    record: dict[str, dict] = {"val_log_likelihood": {}, "precision": {}, "recall": {}, "f1": {}}
    mixtures = {}
    for k in (k for k in COMPONENTS if k * 10 <= len(train)):
        g = GaussianMixture(k, covariance_type="full", reg_covar=1e-4, random_state=seed).fit(train)
        chol = np.linalg.cholesky(g.covariances_)
        mixtures[k] = LatentMixture(
            *(torch.tensor(x, dtype=torch.float32) for x in (g.weights_, g.means_, chol))
        )
        drawn = mixtures[k].sample(len(val), torch.Generator().manual_seed(seed)).numpy()
        precision, recall = sample_precision_recall(val, drawn)
        record["val_log_likelihood"][k] = float(g.score(val))
        record["precision"][k], record["recall"][k] = precision, recall
        record["f1"][k] = 2 * precision * recall / max(precision + recall, 1e-9)
    best = max(record["f1"], key=record["f1"].get)
    return mixtures[best], {"components": best, "chosen_by": "f1 of precision and recall", **record}


def fit_calibration(
    model: MultimodalModel,
    folders: Sequence[str | Path],
    *,
    seed: int = 0,
    max_train: int = 5000,
    max_val: int = 1000,
) -> Calibration:
    """max_train, max_val: at most this many people of each split, a seeded sample (embedding a
    20,000-person folder's faces and voices would add minutes to the end of every training)."""
    rng = np.random.default_rng(seed)
    train, val = people(folders, "train"), people(folders, "val")
    train, val = (
        [split[i] for i in sorted(rng.permutation(len(split))[:cap])]
        for split, cap in ((train, max_train), (val, max_val))
    )
    if len(train) < 10 or len(val) < 10:
        raise ValueError(
            f"calibration needs people with a face, a description and a voice in the train and val splits "
            f"of {', '.join(map(str, folders))} (found {len(train)} and {len(val)}); pass the synthetic "
            f"folders the checkpoint was trained on"
        )
    log.info("calibration: embedding %d train and %d val people", len(train), len(val))
    z_train = model.embed(train, [MODALITIES])[MODALITIES].float().numpy()
    readings = model.read(val, [MODALITIES, *SINGLES])
    mixture, mixture_record = fit_mixture(z_train, readings[MODALITIES].mu.float().numpy(), seed)
    singles = {m: readings[(m,)].mu for m in MODALITIES}
    attributes = single_attributes(model, {m: readings[(m,)] for m in MODALITIES})
    prior = attribute_prior(attributes)
    ids = [s.person_id for s in val]
    curves, scores = {}, {}
    for pair in PAIRS:
        name = "-".join(pair)
        features, same = pair_features(singles, ids, pair, seed, attributes, prior)
        curves[name] = fit_pair(features, same)
        scores[name] = {**pair_scores(features, same, curves[name]), "pairs": len(same)}
    record = {
        "data": [str(f) for f in folders],
        "train_people": len(train),
        "val_people": len(val),
        "mixture": mixture_record,
        "pairs_val": scores,  # scored on the pairs they were fitted on (three numbers per curve)
    }
    return Calibration(mixture, curves, record, prior)


def calibrate_checkpoint(folder: str | Path, data: Sequence[str | Path], *, device: str = "auto") -> dict:
    """Fits and writes `CALIBRATION_FILE` into the checkpoint at `folder`; returns the fit's record."""
    calibration = fit_calibration(load_model(folder, device), data)
    calibration.save(folder)
    log.info("wrote %s", Path(folder) / CALIBRATION_FILE)
    return calibration.record
