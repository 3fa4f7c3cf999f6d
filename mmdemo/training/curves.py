"""The loss curves a checkpoint folder shows beside its weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def save_loss_curve(history: list[dict], path: Path) -> None:
    """Loss curves (log scale) as a PNG beside the checkpoint."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not history:
        return
    keys = [k for k in history[0] if k != "step"]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    steps = [h["step"] for h in history]
    for k in keys:
        values = np.array([h.get(k, np.nan) for h in history], dtype=float)
        ax.plot(steps, np.clip(values, 1e-4, None), label=k, lw=1.2)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend(fontsize=7, ncol=3)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(path)
