"""How much the frozen real-world features alone say about each attribute: a logistic regression
per attribute on a real set's cached features (`python -m mmdemo features --data DIR`), fit on its
train split and scored (balanced accuracy) on its validation split. The ceiling a model reading
those features should approach.

    python scripts/probe_frozen_features.py --data data/real --json docs/real-people/linear-probe.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing

from mmdemo.data.features import FeatureTable  # noqa: E402
from mmdemo.data.loaders import open_samples  # noqa: E402
from mmdemo.evaluation.real import balanced_accuracy  # noqa: E402
from mmdemo.schema import NAMES  # noqa: E402


def probe(data: Path) -> dict:
    samples = open_samples(data, "all")
    out = {}
    for kind, modality in (("face", "image"), ("speaker", "voice")):
        table = FeatureTable(data, kind)
        rows = [(s, table.get(s.id)) for s in samples if table.get(s.id) is not None]
        for name in NAMES:
            train = [(f, s.attrs[name]) for s, f in rows if s.split == "train" and name in s.attrs]
            val = [(f, s.attrs[name]) for s, f in rows if s.split == "val" and name in s.attrs]
            if len(train) < 50 or len(val) < 20 or len({y for _, y in train}) < 2:
                continue
            clf = make_pipeline(
                StandardScaler(), LogisticRegression(max_iter=2000, C=0.5, class_weight="balanced")
            )
            clf.fit(np.stack([f for f, _ in train]), [y for _, y in train])
            pred = clf.predict(np.stack([f for f, _ in val]))
            out[f"probe/{modality}/{name}"] = round(balanced_accuracy([y for _, y in val], list(pred)), 4)
            out[f"probe/{modality}/{name}/n"] = len(val)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="a real set with cached features")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    result = probe(args.data)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
