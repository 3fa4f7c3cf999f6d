"""How learnable is a dataset? Per attribute, the test accuracy of a linear probe
(scikit-learn logistic regression) on downscaled pixels, on the description's
bag of words (rows whose text states the attribute), and on simple voice
statistics (mean/std log-mel and median pitch). Also prints the balance table.

    python scripts/probe_learnability.py data/default [--limit 6000] [--markdown]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing

import argparse
from collections import Counter

import cv2
import numpy as np
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mmdemo.audio import log_mel, read_audio, to_mono_16k
from mmdemo.data.loaders import open_samples
from mmdemo.schema import ATTRIBUTES, observable


def median_pitch(wave: np.ndarray, sr: int = 16000) -> float:
    n, hop, out = int(0.04 * sr), int(0.02 * sr), []
    for i in range(0, len(wave) - n, hop):
        fr = wave[i : i + n] - wave[i : i + n].mean()
        if np.sqrt((fr**2).mean()) < 0.02:
            continue
        ac = np.correlate(fr, fr, "full")[n - 1 :]
        lo, hi = sr // 400, sr // 60
        k = lo + int(np.argmax(ac[lo:hi]))
        if ac[k] > 0.3 * ac[0]:
            out.append(sr / k)
    return float(np.median(out)) if out else 0.0


def features(samples):
    pixels = np.stack(
        [
            cv2.resize(cv2.imread(str(s.image)), (32, 32), interpolation=cv2.INTER_AREA).ravel()
            for s in samples
        ]
    ).astype(np.float32)
    voice = []
    for s in samples:
        wave = to_mono_16k(*read_audio(s.audio))
        mel = log_mel(wave).numpy()
        voice.append(np.concatenate([mel.mean(0), mel.std(0), [median_pitch(wave), len(wave) / 16000]]))
    return pixels, np.array(voice), [s.text for s in samples]


def probe(x_train, y_train, x_test, y_test, text=False) -> float:
    if len(set(y_train)) < 2 or not len(y_test):
        return float("nan")
    front = CountVectorizer(ngram_range=(1, 2), min_df=2) if text else StandardScaler()
    clf = make_pipeline(front, LogisticRegression(max_iter=3000, C=1.0 if text else 0.1))
    clf.fit(x_train, y_train)
    return float(clf.score(x_test, y_test))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("--limit", type=int, default=6000, help="training rows used by the probes")
    args = parser.parse_args()
    train = open_samples(args.data, "train")[: args.limit]
    test = open_samples(args.data, "test")[: max(1000, args.limit // 4)]
    every = open_samples(args.data)
    print(f"{len(every)} samples; balance (share of each value):")
    for a in ATTRIBUTES:
        counts = Counter(s.attrs[a.name] for s in every)
        print(f"  {a.name:12s} " + "  ".join(f"{v}={counts[v] / len(every):.2f}" for v in a.values))
    tr, te = features(train), features(test)
    print(
        "\n| attribute | image (32x32 pixels) | text (bag of words, stated) | voice (log-mel stats + pitch) |"
    )
    print("|---|---|---|---|")
    for a in ATTRIBUTES:
        y_tr = [s.attrs[a.name] for s in train]
        y_te = [s.attrs[a.name] for s in test]
        img = probe(tr[0], y_tr, te[0], y_te)
        said_tr = [i for i, s in enumerate(train) if a.name in s.mentions]
        said_te = [i for i, s in enumerate(test) if a.name in s.mentions]
        txt = probe(
            [tr[2][i] for i in said_tr],
            [y_tr[i] for i in said_tr],
            [te[2][i] for i in said_te],
            [y_te[i] for i in said_te],
            text=True,
        )
        voice = probe(tr[1], y_tr, te[1], y_te) if a.name in observable("voice") else float("nan")
        print(f"| {a.name} | {img:.3f} | {txt:.3f} | " + (f"{voice:.3f} |" if voice == voice else "— |"))


if __name__ == "__main__":
    main()
