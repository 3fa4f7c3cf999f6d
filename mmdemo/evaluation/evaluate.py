"""Measuring a checkpoint: attribute accuracy per input subset, cross-modal
coherence judged by the independent evaluator, retrieval and reconstruction.

Every metric is computed from the model's deterministic path (z = mu) on
un-augmented test data. Each generated output comes from its own decoder
alone (a voice is the decoded voice parameters speaking a neutral phrase), so
what is judged is what the model made. The JSON keys are a contract (see the
model issue); values are in [0, 1] except PSNR (dB). `evaluator/*` keys give
the judges' own accuracy on real held-out faces and voices: the ceiling of
the coherence figures they judge.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mmdemo import checkpoint as ckpt
from mmdemo.data.loaders import Sample, load_audio, load_image, open_samples
from mmdemo.evaluation.calibrate import PAIRS, mismatched_partners, pair_features, pair_scores
from mmdemo.evaluation.judges import Evaluator
from mmdemo.evaluation.provenance import ensure_evaluator, evaluator_ceiling
from mmdemo.evaluation.wording import wording_accuracy
from mmdemo.inference.calibration import single_attributes
from mmdemo.inference.model import Inputs, MultimodalModel, load_model
from mmdemo.model.losses import psnr, ssim
from mmdemo.schema import MODALITIES, NAMES, SUBSETS, VOICE_ATTRIBUTES, observable, subset_name
from mmdemo.synth.descriptions import applicable_attributes, describe, parse_description


@dataclass
class TestSet:
    samples: list[Sample]
    images: np.ndarray  # (N, 64, 64, 3) uint8
    texts: list[str]
    waves: list[np.ndarray]
    face_features: np.ndarray | None = None  # frozen features, for a model that reads them
    speaker_features: np.ndarray | None = None

    @property
    def inputs(self) -> Inputs:
        return Inputs(self.images, self.texts, self.waves, self.face_features, self.speaker_features)


def load_test_set(
    data: str | Path, split: str, limit: int | None = None, *, features: bool = False
) -> TestSet:
    """Samples that have all three modalities (the subsets are cut from them); `features` adds their
    frozen face and speaker features (from the folder's cache where fresh), as the app computes them."""
    samples = [s for s in open_samples(data, split) if s.image and s.text and s.audio]
    if limit:
        samples = samples[:limit]
    if not samples:
        raise ValueError(f"{data} has no {split} samples with face, text and voice to evaluate")
    waves = [load_audio(s) for s in samples]
    ts = TestSet(samples, np.stack([load_image(s) for s in samples]), [s.text for s in samples], waves)
    if features:
        from mmdemo.data.features import cached_or_computed

        ts.face_features = cached_or_computed(samples, "face")
        ts.speaker_features = cached_or_computed(samples, "speaker", waves=waves)
    return ts


def _accuracy(pred: Sequence[dict], truth: Sequence[dict], attrs_per_row: Sequence[Sequence[str]]) -> float:
    """Mean over attributes of the per-attribute accuracy, each over the rows where it is scored."""
    per_attr: dict[str, list[bool]] = {}
    for p, t, names in zip(pred, truth, attrs_per_row):
        for n in names:
            if n in t:
                per_attr.setdefault(n, []).append(p.get(n) == t[n])
    return float(np.mean([np.mean(v) for v in per_attr.values()])) if per_attr else float("nan")


def scored_attributes(subset: str, sample: Sample) -> list[str]:
    names: set[str] = set()
    for m in subset.split("+"):
        names |= set(sample.mentions) if m == "text" else set(observable(m))
    return [n for n in NAMES if n in names]


def evaluate(
    checkpoint: str | Path,
    data: str | Path,
    *,
    split: str = "test",
    device: str = "auto",
    limit: int | None = None,
    batch_size: int = 256,
    seed: int = 0,
    train_evaluator_on_data: bool = False,
) -> tuple[dict, dict]:
    """Returns (metrics, per-modality predictions for reports).

    train_evaluator_on_data: when the checkpoint has no evaluator and the data it was trained on is
    gone, train one on the train split of `data` instead of refusing."""
    model = load_model(checkpoint, device)
    evaluator = ensure_evaluator(
        Path(checkpoint), data, model.device, allow_other_data=train_evaluator_on_data
    )
    test_set = load_test_set(data, split, limit, features=model.reads_features)
    metrics, preds = measure(model, evaluator, test_set, batch_size=batch_size, seed=seed)
    for lang in ("en", "zh", "zh_dev") if model.text_encoder.chinese is not None else ("en",):
        accuracy, rows = wording_accuracy(model, lang)  # descriptions held back by hand
        metrics[f"wording/{lang}"] = accuracy
        metrics[f"wording/{lang}/in_language"] = sum(r["in_language"] for r in rows) / len(rows)
        metrics[f"wording/{lang}/faithful"] = sum(r["faithful"] for r in rows) / len(rows)
    return metrics, preds


def measure(
    model: MultimodalModel, evaluator: Evaluator, ts: TestSet, *, batch_size: int = 256, seed: int = 0
) -> tuple[dict, dict]:
    """Every metric of `model` on `ts`, judged by `evaluator`; (metrics, predictions for reports)."""
    truth = [s.attrs for s in ts.samples]
    readings = {subset_name(s): r for s, r in model.read(ts.inputs, SUBSETS, batch_size=batch_size).items()}
    mus = {subset: r.mu for subset, r in readings.items()}
    metrics, preds = {}, {}
    for subset, r in readings.items():
        preds[subset] = model.predict_attributes(r.mu, r.evidence)  # as analyze reads them
        metrics[f"attr_acc/{subset}"] = _accuracy(
            preds[subset], truth, [scored_attributes(subset, s) for s in ts.samples]
        )
    if model.text_encoder.chinese is not None:
        metrics["attr_acc/text/zh"] = _chinese_text_accuracy(model, ts.samples, truth, seed, batch_size)
    metrics.update(_coherence(model, evaluator, ts.samples, mus, seed))
    metrics.update(evaluator_ceiling(evaluator))
    metrics.update(_retrieval(ts.samples, mus))
    metrics.update(_agreement(model, ts.samples, readings, seed))
    every = readings["image+text+voice"]
    metrics.update(_reconstruction(model, ts.images, every.mu, every.private))
    return metrics, {"truth": truth, **{m: preds[m] for m in MODALITIES}}


def _chinese_text_accuracy(model: MultimodalModel, samples: list[Sample], truth, seed: int, batch_size: int):
    """attr_acc/text on Chinese descriptions of the same people stating the same attributes (written by
    `describe(..., lang="zh")` from a seeded stream), read through the checkpoint's Chinese encoder."""
    rng = np.random.default_rng([seed, 86])
    texts = [describe(s.attrs, rng, mentions=s.mentions, lang="zh")[0] for s in samples]
    reading = model.read(Inputs(texts=texts), [("text",)], batch_size=batch_size)[("text",)]
    preds = model.predict_attributes(reading.mu, reading.evidence)
    return _accuracy(preds, truth, [s.mentions for s in samples])


def _coherence(
    model: MultimodalModel, evaluator: Evaluator, samples: list[Sample], mus: dict, seed: int
) -> dict:
    truth = [s.attrs for s in samples]
    voice_attrs = [VOICE_ATTRIBUTES] * len(truth)
    out = {}
    faces_from_text = evaluator.face_attributes(model.decode_images(mus["text"]))
    out["coherence/text->image"] = _accuracy(faces_from_text, truth, [s.mentions for s in samples])
    faces_from_voice = evaluator.face_attributes(model.decode_images(mus["voice"]))
    out["coherence/voice->image"] = _accuracy(faces_from_voice, truth, voice_attrs)
    parsed = [parse_description(t) for t in model.decode_texts(mus["image"])]
    out["coherence/image->text"] = _accuracy(parsed, truth, [applicable_attributes(t) for t in truth])
    # The decoded voice parameters speaking a neutral phrase: the emotion the judge hears has to come
    # from the decoded pitch, rate, range and volume, not from the attribute head's guess.
    voices = evaluator.voice_attributes(model.render_voices(mus["image"]))
    out["coherence/image->voice"] = _accuracy(voices, truth, voice_attrs)
    # new people as "sample new people" draws them: from the latent mixture fitted on the training
    # people (a calibrated checkpoint's), and from N(0, I) beside it, the prior the KL term aims at
    normal = model.sample_latents(len(truth), torch.Generator().manual_seed(seed), prior="normal")
    out["coherence/joint/normal"] = _joint_coherence(model, evaluator, normal)
    out["coherence/joint"] = out["coherence/joint/normal"]
    if model.calibration is not None and model.calibration.mixture is not None:
        z = model.sample_latents(len(truth), torch.Generator().manual_seed(seed), prior="mixture")
        out["coherence/joint"] = _joint_coherence(model, evaluator, z)
    return out


def _joint_coherence(model: MultimodalModel, evaluator: Evaluator, z: torch.Tensor) -> float:
    """New people (z from N(0, I), or from the latent mixture fitted on the training latents) decoded
    to all three, each by its own decoder; mean agreement of the attributes each pair of outputs shows
    (the voice speaks a neutral phrase, so no emotion is copied from the text)."""
    faces = evaluator.face_attributes(model.decode_images(z))
    texts = [parse_description(t) for t in model.decode_texts(z)]
    voices = evaluator.voice_attributes(model.render_voices(z))
    agree = []
    for f, t, v in zip(faces, texts, voices):
        agree += [f[k] == t[k] for k in t if k in f]
        agree += [f[k] == v[k] for k in VOICE_ATTRIBUTES]
        agree += [t[k] == v[k] for k in VOICE_ATTRIBUTES if k in t]
    return float(np.mean(agree)) if agree else float("nan")


def _agreement(model: MultimodalModel, samples: list[Sample], readings: dict, seed: int) -> dict:
    """Per pair of inputs: how well the agreement table's score tells a person's own pair from two
    different people's (ROC AUC: of the calibrated probability, or of the cosine of the single-input
    latents for an uncalibrated checkpoint; `auc/cosine` the cosine's alone) and how good that
    probability is on these unseen people (Brier score; accuracy of the 0.5 cut). Beside each AUC, the
    highest any scorer can reach on these pairs (`_agreement_ceiling`). readings: {subset name:
    `Reading`}, the single inputs' among them."""
    calibration = model.calibration
    curves = calibration.pairs if calibration is not None else {}
    prior = calibration.attribute_prior if calibration is not None else None
    singles = {m: readings[m].mu for m in MODALITIES}
    attributes = single_attributes(model, {m: readings[m] for m in MODALITIES}) if prior is not None else None
    ids = [s.person_id for s in samples]
    out = {}
    for pair in PAIRS:
        name = "-".join(pair)
        features, same = pair_features(singles, ids, pair, seed, attributes, prior)
        scores = pair_scores(features, same, curves.get(name))
        out |= {f"agreement/{name}/{k}": scores[k] for k in ("auc", "brier", "accuracy") if k in scores}
        out[f"agreement/{name}/auc/cosine"] = scores["auc_cosine"]
        out[f"agreement/{name}/auc/ceiling"] = _agreement_ceiling(samples, pair, seed)
    return out


def _shown_by(sample: Sample, modality: str) -> set[str]:
    """The attributes an input of `modality` shows: a face all, a voice its three, a description
    those it states."""
    return {"image": set(NAMES), "voice": set(VOICE_ATTRIBUTES), "text": set(sample.mentions)}[modality]


def _alike_counter(samples: list[Sample]) -> Callable[[Sample, set[str]], int]:
    """count(sample, names): how many of `samples` have `sample`'s values of those attributes (itself
    included), counted once for each distinct set of names and values."""
    counts: dict[tuple, int] = {}

    def count(sample: Sample, names: set[str]) -> int:
        # names are unique, so sorting never compares values
        key = tuple(sorted((n, sample.attrs.get(n)) for n in names))
        if key not in counts:
            counts[key] = sum(all(s.attrs.get(n) == sample.attrs.get(n) for n in names) for s in samples)
        return counts[key]

    return count


def _agreement_ceiling(samples: list[Sample], pair: tuple[str, str], seed: int) -> float:
    """The ROC AUC on `pair_features`' pairs of the best scorer that knows every true attribute: the
    likelihood ratio of "one person" to "two people". Two inputs that disagree on an attribute both show
    are two people (ratio 0); two that agree on all of them, with values v, score 1 / p(v), p(v) the
    share of this split's people with those values (agreeing on rare values says more). A mismatched
    pair that agrees on everything both show (two young happy women's voices; a description that names
    neither's age) cannot be told from a matched pair with the same values. Where inputs share nothing
    but the attributes (the synthetic people: a face, its description and its voice are drawn
    independently given them), no scorer passes it but by luck."""
    from sklearn.metrics import roc_auc_score

    alike = _alike_counter(samples)

    def ratio(a: Sample, b: Sample) -> float:
        shown = _shown_by(a, pair[0]) & _shown_by(b, pair[1])
        if any(a.attrs.get(n) != b.attrs.get(n) for n in shown):
            return 0.0
        return len(samples) / alike(a, shown)

    partner, usable = mismatched_partners([s.person_id for s in samples], seed)
    matched = [ratio(s, s) for s in samples]
    mismatched = [ratio(samples[i], samples[partner[i]]) for i in np.flatnonzero(usable)]
    if not mismatched:
        return float("nan")
    return float(roc_auc_score(np.r_[np.ones(len(matched)), np.zeros(len(mismatched))], matched + mismatched))


def _retrieval(samples: list[Sample], mus: dict, k: int = 10) -> dict:
    """Precision of each description's and voice's 10 nearest faces (a face is a hit when it has every
    attribute the query shows), beside its ceiling: a query that only fewer than k faces answer
    cannot reach 1 (a description stating six attributes is matched by few of 300 people)."""
    faces = torch.nn.functional.normalize(mus["image"].float(), dim=-1)
    alike = _alike_counter(samples)
    out = {}
    for query, names_of in (("text", lambda s: s.mentions), ("voice", lambda s: VOICE_ATTRIBUTES)):
        q = torch.nn.functional.normalize(mus[query].float(), dim=-1)
        top = (q @ faces.T).topk(min(k, len(samples)), dim=1).indices.cpu().numpy()
        hits = [
            np.mean([all(samples[j].attrs.get(n) == s.attrs.get(n) for n in names_of(s)) for j in row])
            for s, row in zip(samples, top)
        ]
        out[f"retrieval/{query}->image/p@10"] = float(np.mean(hits))
        out[f"retrieval/{query}->image/p@10/ceiling"] = float(
            np.mean([min(1.0, alike(s, set(names_of(s))) / top.shape[1]) for s in samples])
        )
    sims = faces @ faces.T
    sims.fill_diagonal_(-2)
    nearest = sims.argmax(1).cpu().numpy()
    persons = [s.person_id for s in samples]
    has_twin = [persons.count(p) > 1 for p in persons]
    r1 = [persons[nearest[i]] == persons[i] for i in range(len(persons)) if has_twin[i]]
    out["retrieval/image->image/r@1"] = float(np.mean(r1)) if r1 else float("nan")
    return out


def _reconstruction(model: MultimodalModel, images: np.ndarray, mu: torch.Tensor, private=None) -> dict:
    """PSNR and SSIM of the faces decoded from the fused latents (and their private latents, for a
    network that has them) against the faces read."""
    recon = torch.from_numpy(model.decode_images(mu, private)).permute(0, 3, 1, 2).float() / 255
    real = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    return {
        "recon/image/psnr": float(psnr(recon, real).mean()),
        "recon/image/ssim": float(ssim(recon, real).mean()),
    }


# ------------------------------------------------------------------ reports
def classification_reports(preds: dict) -> str:
    """scikit-learn per-attribute reports for each single modality."""
    from sklearn.metrics import classification_report

    parts = []
    for m in MODALITIES:
        for name in observable(m):
            y_true = [t.get(name) for t in preds["truth"]]
            y_pred = [p[name] for p in preds[m]]
            pairs = [(a, b) for a, b in zip(y_true, y_pred) if a is not None]
            if pairs:
                report = classification_report(*zip(*pairs), zero_division=0, digits=3)
                parts.append(f"== {m}: {name}\n{report}")
    return "\n".join(parts)


def write_metrics(path: Path, metrics: dict) -> None:
    ckpt.atomic_write_json(path, {k: round(v, 4) for k, v in metrics.items()})
