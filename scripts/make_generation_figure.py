"""Figure for the README: for a few test people, the real face, its reconstruction
(all inputs), the face generated from the description alone and from the voice
alone, and the description generated from the face alone.

    python scripts/make_generation_figure.py --checkpoint checkpoints/default --data data/test \\
        --out assets/generation.png
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

from mmdemo.evaluation.evaluate import load_test_set
from mmdemo.inference.model import load_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=Path("checkpoints/default"))
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path("assets/generation.png"))
    parser.add_argument("--people", type=int, default=6)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    model = load_model(args.checkpoint, "cpu")
    ts = load_test_set(args.data, "test")
    pick = np.random.default_rng(args.seed).choice(len(ts.samples), args.people, replace=False)
    enc = model.encode_inputs(ts.images[pick], [ts.texts[i] for i in pick], [ts.waves[i] for i in pick])
    fused = model.fuse(enc)
    recon = model.decode_images(fused.mu, fused.private_mu)  # with the face's own detail, if it has any
    from_text = model.decode_images(model.fuse(enc, ["text"]).mu)
    from_voice = model.decode_images(model.fuse(enc, ["voice"]).mu)
    generated = model.decode_texts(model.fuse(enc, ["image"]).mu)
    columns = [
        ("real face", ts.images[pick]),
        ("reconstruction\n(face+text+voice)", recon),
        ("from the description\nalone", from_text),
        ("from the voice\nalone", from_voice),
    ]
    fig, axes = plt.subplots(
        args.people,
        5,
        figsize=(13, 2.3 * args.people),
        dpi=100,
        gridspec_kw={"width_ratios": [1, 1, 1, 1, 2.6]},
    )
    for row, i in enumerate(pick):
        for col, (title, images) in enumerate(columns):
            ax = axes[row, col]
            ax.imshow(images[row])
            ax.axis("off")
            if row == 0:
                ax.set_title(title, fontsize=9)
        ax = axes[row, 4]
        ax.axis("off")
        ax.text(
            0,
            0.75,
            "input description:\n" + "\n".join(textwrap.wrap(ts.texts[i], 58)),
            fontsize=8,
            va="top",
            color="#555",
        )
        ax.text(
            0,
            0.25,
            "generated from the face alone:\n" + "\n".join(textwrap.wrap(generated[row], 58)),
            fontsize=8,
            va="top",
            color="#000",
        )
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
