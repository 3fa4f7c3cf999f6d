"""Where a training step's time goes, in windows of 50 steps: waiting for the loader's batch, the
step itself (forward, backward, optimiser) and recording (history, checkpoints, the loss curve).
Shows whether steps slow down as a run goes on, and whether loading is worth caching.

    python scripts/profile_training_steps.py --data data/default --steps 500 --json docs/train-steps-cpu2.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing

from mmdemo.runtime import offline_env  # noqa: E402
from mmdemo.training import loop  # noqa: E402

WINDOW = 50


def profile(data: Path, steps: int, preset: str) -> dict[str, list[float]]:
    """Seconds per step in each phase. The first loading figure includes the run's start (the text
    cache, the first batch)."""
    times: dict[str, list[float]] = {"load": [], "step": [], "record": []}
    last = [time.perf_counter()]
    prepare, step, record = loop.prepare_batch, loop.StepLoop._step, loop.StepLoop._record

    def timed_prepare(raw, run):
        times["load"].append(time.perf_counter() - last[0])
        return prepare(raw, run)

    def timed_step(self, batch, index):
        start = time.perf_counter()
        out = step(self, batch, index)
        times["step"].append(time.perf_counter() - start)
        return out

    def timed_record(self, index, total, parts, bar):
        start = time.perf_counter()
        record(self, index, total, parts, bar)
        last[0] = time.perf_counter()
        times["record"].append(last[0] - start)

    loop.prepare_batch, loop.StepLoop._step, loop.StepLoop._record = timed_prepare, timed_step, timed_record
    try:
        with tempfile.TemporaryDirectory() as out:
            loop.train(
                data, Path(out) / "run", preset=preset, steps=steps, real_features=False, progress=False
            )
    finally:
        loop.prepare_batch, loop.StepLoop._step, loop.StepLoop._record = prepare, step, record
    return times


def main() -> None:
    offline_env()
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--preset", default="default")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    times = profile(args.data, args.steps, args.preset)
    windows = {
        k: [round(float(np.mean(v[i : i + WINDOW])), 4) for i in range(0, len(v), WINDOW)]
        for k, v in times.items()
    }
    for k, w in windows.items():
        print(f"{k}: mean s per step, {WINDOW}-step windows: {w}")
    if args.json:
        args.json.write_text(json.dumps({"window": WINDOW, "windows": windows, "per_step": times}, indent=1))


if __name__ == "__main__":
    main()
