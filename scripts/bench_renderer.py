"""Times the procedural face renderer: how long one synthetic face takes at the dataset's 128 px.

python scripts/bench_renderer.py [--faces 200] [--repeats 5] [--json docs/renderer-cpu2.json]

Each repeat renders the same seeded people (random attributes, identity and nuisance); the
figure is the median and p95 over repeats of the per-face mean, so one slow repeat on a
shared machine does not set it.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing

import argparse
import json
import platform
import time

import numpy as np

from mmdemo.synth.faces import FaceIdentity, FaceNuisance, render_face
from mmdemo.synth.generator import sample_attributes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    people = []
    for _ in range(args.faces):
        attrs = sample_attributes(rng)
        people.append((attrs, FaceIdentity.sample(attrs, rng), FaceNuisance.sample(rng)))
    render_face(*people[0])  # warm-up: OpenCV's first call allocates
    per_face_ms = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        for attrs, identity, nuisance in people:
            render_face(attrs, identity, nuisance, 128)
        per_face_ms.append((time.perf_counter() - start) * 1000 / args.faces)
    result = {
        "command": "python scripts/bench_renderer.py " + " ".join(sys.argv[1:]),
        "machine/cpus": __import__("os").cpu_count(),
        "machine/python": platform.python_version(),
        "faces": args.faces,
        "repeats": args.repeats,
        "render_ms_per_face_p50": round(float(np.median(per_face_ms)), 3),
        "render_ms_per_face_p95": round(float(np.percentile(per_face_ms, 95)), 3),
        "render_ms_per_face_each_repeat": [round(x, 3) for x in per_face_ms],
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
