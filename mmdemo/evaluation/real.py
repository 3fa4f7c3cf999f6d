"""How well a checkpoint reads real people: each real face or voice analysed alone through the
public API (`MultimodalModel.analyze`, as the app does), scored against the labels its source gives.

Balanced accuracy (mean per-class recall) per attribute, so a model that calls everyone "adult"
cannot look good on a set that is mostly adults; chance is 1 / classes; with a 95% bootstrap interval
(`/ci_low`, `/ci_high`), since some classes have a dozen files. Also per source, per group
where a source gives one (UTKFace's race/ethnicity code), how often the face detector found the
face, and how many clips were refused. The data is a real set built by `scripts/build_real_set.py`
(its val split by default: people never trained on); never the held-out files.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mmdemo.data.loaders import Sample, load_audio, open_samples
from mmdemo.inference.model import MultimodalModel, load_model
from mmdemo.schema import NAMES

MIN_SCORED = 20  # a per-group figure from fewer labelled files is noise: left out


def balanced_accuracy(truth: list[str], pred: list[str]) -> float:
    recalls = [np.mean([p == c for t, p in zip(truth, pred) if t == c]) for c in sorted(set(truth))]
    return float(np.mean(recalls))


def balanced_accuracy_interval(
    truth: list[str], pred: list[str], rounds: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """A 95% bootstrap interval of `balanced_accuracy`: files resampled within each true class (so
    every class keeps its count), the 2.5th and 97.5th percentiles. With 12 files of a class, one file
    more or less read right moves its recall by 0.08: the interval says how far a figure can be trusted."""
    rng = np.random.default_rng(seed)
    truth_arr, right = np.asarray(truth), np.asarray(truth) == np.asarray(pred)
    recalls = []
    for c in sorted(set(truth)):
        hits = right[truth_arr == c]
        recalls.append(hits[rng.integers(0, len(hits), (rounds, len(hits)))].mean(1))
    low, high = np.percentile(np.mean(recalls, axis=0), [2.5, 97.5])
    return float(low), float(high)


def _columns(data: Path) -> dict[str, dict[str, str]]:
    with open(data / "metadata.csv", newline="", encoding="utf-8") as f:
        return {
            row["id"]: {"source": row.get("source", ""), "group": row.get("group", "")}
            for row in csv.DictReader(f)
        }


def evaluate_real(
    checkpoint: str | Path | MultimodalModel,
    data: str | Path,
    *,
    split: str = "val",
    per_source: int | None = None,
    modality: str | None = None,
    device: str = "auto",
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Metrics as a flat dict: `real/<image|voice>/<attribute>` (all sources), the same under
    `real/<source>/...` and `real/<source>/<group>/...`, `real/<source>/face_found` and
    `real/voice/refused` (a count). per_source: at most this many files from each source;
    modality: only the faces ("image") or only the voices ("voice")."""
    import cv2

    if modality not in (None, "image", "voice"):
        raise ValueError(f"modality must be image or voice, not {modality!r}")
    model = checkpoint if isinstance(checkpoint, MultimodalModel) else load_model(checkpoint, device)
    data = Path(data)
    extra = _columns(data)
    samples = [s for s in open_samples(data, split) if modality is None or _modality(s) == modality]
    samples = _pick(samples, extra, per_source)
    scored: dict[str, list[tuple[str, str]]] = defaultdict(list)  # metric key -> (truth, prediction)
    found: dict[str, list[bool]] = defaultdict(list)
    refused = 0
    for n, s in enumerate(samples, 1):
        source, group = extra[s.id]["source"], extra[s.id]["group"]
        kind = _modality(s)
        try:
            if kind == "image":
                result = model.analyze(image=cv2.cvtColor(cv2.imread(str(s.image)), cv2.COLOR_BGR2RGB))
                found[source].append(bool(result.face_found))
            else:
                result = model.analyze(voice=(16000, load_audio(s)))
        except ValueError:
            refused += kind == "voice"
            continue
        for name in NAMES:
            if name in s.attrs:
                pair = (str(s.attrs[name]), str(result.attributes[name]))
                for scope in ("", f"{source}/", f"{source}/{group}/" if group else None):
                    if scope is not None:
                        scored[f"real/{scope}{kind}/{name}"].append(pair)
        if progress:
            progress(n, len(samples))
    metrics: dict[str, float] = {}
    for key, pairs in sorted(scored.items()):
        truth, pred = zip(*pairs)
        if len(pairs) >= MIN_SCORED and len(set(truth)) > 1:
            metrics[key] = balanced_accuracy(list(truth), list(pred))
            metrics[f"{key}/n"] = len(pairs)
            metrics[f"{key}/ci_low"], metrics[f"{key}/ci_high"] = balanced_accuracy_interval(truth, pred)
    for source, flags in sorted(found.items()):
        metrics[f"real/{source}/face_found"] = float(np.mean(flags))
    metrics["real/voice/refused"] = refused
    return metrics


def _modality(sample: Sample) -> str:
    return "image" if sample.image is not None else "voice"


def _pick(samples: list[Sample], extra: dict, per_source: int | None) -> list[Sample]:
    """Up to `per_source` files of each source, spread evenly over its list (deterministic)."""
    if per_source is None:
        return samples
    by_source: dict[str, list[Sample]] = defaultdict(list)
    for s in samples:
        by_source[extra[s.id]["source"]].append(s)
    out = []
    for group in by_source.values():
        step = max(1, len(group) // per_source)
        out += group[::step][:per_source]
    return out
