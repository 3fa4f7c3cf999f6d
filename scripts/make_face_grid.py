"""Draws a grid of generated people (face + description) for the README.

python scripts/make_face_grid.py --out assets/face_grid.png [--seed 3]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing

import argparse
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from mmdemo.synth.descriptions import describe
from mmdemo.synth.faces.render import FaceIdentity, FaceNuisance, render_face
from mmdemo.synth.generator import sample_attributes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("assets/face_grid.png"))
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--rows", type=int, default=3)
    parser.add_argument("--cols", type=int, default=6)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    fig, axes = plt.subplots(args.rows, args.cols, figsize=(2.3 * args.cols, 3.1 * args.rows), dpi=110)
    for ax in axes.ravel():
        attrs = sample_attributes(rng)
        face = render_face(attrs, FaceIdentity.sample(attrs, rng), FaceNuisance.sample(rng))
        text, _ = describe(attrs, rng)
        ax.imshow(face)
        ax.set_title("\n".join(textwrap.wrap(text, 30)[:5]), fontsize=7, loc="left")
        ax.axis("off")
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
