"""Figure for the README: for a few test people, the real face, its reconstruction
(all inputs), the face generated from the description alone and from the voice
alone, and the description generated from the face alone; below them, a row of new
people sampled from the latent mixture (N(0, I) when the checkpoint has none) with
the descriptions decoded from the same latents.

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
import torch

from mmdemo.evaluation.evaluate import load_test_set
from mmdemo.inference.model import load_model

SAMPLED = 8  # new people in the bottom row


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
    prior = "mixture" if model.calibration is not None and model.calibration.mixture is not None else "normal"
    z_new = model.sample_latents(SAMPLED, torch.Generator().manual_seed(args.seed), prior=prior)
    new_faces, new_texts = model.decode_images(z_new), model.decode_texts(z_new)
    fig = plt.figure(figsize=(13, 2.3 * args.people + 2.9), dpi=100)
    grid = fig.add_gridspec(2, 1, height_ratios=[2.3 * args.people, 2.9])
    axes = grid[0].subgridspec(args.people, 5, width_ratios=[1, 1, 1, 1, 2.6]).subplots()
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
    sampled = grid[1].subgridspec(1, SAMPLED).subplots()
    for ax, face, text in zip(sampled, new_faces, new_texts):
        ax.imshow(face)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel("\n".join(textwrap.wrap(text, 24)[:5]), fontsize=6.5)
    source = "the latent mixture" if prior == "mixture" else "N(0, I)"
    title = f"new people sampled from {source}"
    sampled[0].set_title(title + " (face and description from the same latent)", fontsize=9, loc="left")
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
