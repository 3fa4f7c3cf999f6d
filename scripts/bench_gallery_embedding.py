"""How fast `python -m mmdemo gallery` embeds people with and without the frozen extractors, and how
much the two embeddings agree.

    python scripts/bench_gallery_embedding.py --json docs/gallery-embedding-cpu2.json

- people a second through the bundled model, one process, `--people` people of `--data` read as
  `gallery` reads them (all three inputs, bf16 where the CPU has it natively), with the extractors
  (dlib's detectors and descriptor, the speaker encoder: what `analyze` reads), without them
  (`gallery --no-features`: as the live view reads a camera frame), and without them in float32 (as
  earlier versions read: the baseline), each timed `--runs` times after a warm-up batch;
- the hours each makes of 200,000 people;
- agreement: the share of each person's 10 nearest people (cosine, in the embedding the map is laid
  out from) that the other reading also gives them, against chance, and the same for a person read
  with the extractors (as `analyze` places a visitor) among a gallery read without them; and how close
  the bf16 reading is to float32's (cosine, and neighbour agreement).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mmdemo.evaluation.bench import neighbour_agreement  # noqa: E402
from mmdemo.runtime import DEFAULT_CHECKPOINT, offline_env  # noqa: E402


def nearest(queries: np.ndarray, people: np.ndarray, k: int, *, same: bool) -> np.ndarray:
    """(N, k) indices of each query's k nearest people by cosine; `same`: query i is person i, who is
    left out."""
    unit = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)  # noqa: E731
    sims = unit(queries) @ unit(people).T
    if same:
        np.fill_diagonal(sims, -np.inf)
    return np.argsort(-sims, axis=1)[:, :k]


def main(argv=None) -> None:
    offline_env()
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    ap.add_argument("--data", type=Path, default=REPO / "data" / "test3000")
    ap.add_argument("--people", type=int, default=512)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    from mmdemo.inference.model import load_model
    from mmdemo.inference.projection import EMBED_BATCH, one_per_person
    from mmdemo.schema import MODALITIES

    model = load_model(args.checkpoint, "cpu")
    samples = one_per_person(args.data, args.people)
    out: dict = {"people": len(samples), "checkpoint": str(args.checkpoint), "runs": args.runs}
    embeddings = {}
    # as `gallery` reads (bf16 where native, the latent only) and, as a baseline, as earlier versions
    # read (float32 throughout, the attribute evidence too)
    for name, features, bf16 in (
        ("with_features", True, True),
        ("without_features", False, True),
        ("without_features_float32", False, False),
    ):
        model.reads_features = features
        os.environ["MMDEMO_FLOAT32"] = "" if bf16 else "1"  # float32 throughout, the frozen MiniLM too
        model.read(samples[:16], [MODALITIES], bf16=bf16)  # warm-up: first calls load the extractors
        rates = []
        for _ in range(args.runs):
            t = time.perf_counter()
            reading = model.read(samples, [MODALITIES], batch_size=EMBED_BATCH, bf16=bf16, evidence=not bf16)
            rates.append(len(samples) / (time.perf_counter() - t))
        embeddings[name] = reading[tuple(MODALITIES)].mu.float().numpy()
        out[name] = {
            "people_per_s_median": float(np.median(rates)),
            "people_per_s_runs": [round(r, 2) for r in rates],
            "hours_for_200000": 200_000 / float(np.median(rates)) / 3600,
        }
        print(name, out[name], flush=True)
    bf16, f32 = embeddings["without_features"], embeddings["without_features_float32"]
    cosine = (bf16 * f32).sum(1) / np.linalg.norm(bf16, axis=1) / np.linalg.norm(f32, axis=1)
    out["bf16_vs_float32"] = {
        "cosine_min": float(cosine.min()),
        "cosine_median": float(np.median(cosine)),
        "top10_agreement": neighbour_agreement(
            nearest(bf16, bf16, 10, same=True), nearest(f32, f32, 10, same=True)
        ),
    }
    embeddings = {True: embeddings["with_features"], False: bf16}
    on, off, k = embeddings[True], embeddings[False], 10
    chance = nearest(np.random.default_rng(0).normal(size=on.shape), on, k, same=True)
    with_extractors = nearest(on, on, k, same=True)
    out["agreement_top10"] = {
        "without_vs_with": neighbour_agreement(nearest(off, off, k, same=True), with_extractors),
        "visitor_with_among_gallery_without": neighbour_agreement(
            nearest(on, off, k, same=True),
            with_extractors,  # same=True: not the visitor's own reading
        ),
        "chance": neighbour_agreement(chance, with_extractors),
    }
    print(json.dumps(out, indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
