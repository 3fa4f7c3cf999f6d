"""Where a training step's time goes, in windows of 50 steps: waiting for the loader's batch, the
step itself (forward, backward, optimiser) and recording (history, checkpoints, the loss curve).
Shows whether steps slow down as a run goes on, and whether loading is worth caching.

    python scripts/profile_training_steps.py --data data/default --steps 500 --json docs/train-steps-cpu2.json
    python scripts/profile_training_steps.py --data data/default --steps 60 --cpu-bf16 --json bf16.json
    torchrun --nproc_per_node 2 scripts/profile_training_steps.py --data data/synth6k --steps 60 \
        --real-features --out /tmp/profile-run --json ddp.json     # each process times its own steps

Under torchrun every process writes its own times (`--json` gains `.rank1` etc. past rank 0) and the
samples a second count every process's batch.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing

from mmdemo.model.precision import native_cpu_bf16  # noqa: E402
from mmdemo.runtime import offline_env  # noqa: E402
from mmdemo.training import loop  # noqa: E402
from mmdemo.training.config import PRESETS  # noqa: E402

WINDOW = 50


def profile(
    data: Path,
    steps: int,
    preset: str,
    real_features: bool = False,
    out: Path | None = None,
    cpu_bf16: bool | None = None,
) -> dict[str, list[float]]:
    """Seconds per step in each phase. The first loading figure includes the run's start (the text
    cache, the first batch). out: the run's folder (a temporary one when None; under torchrun every
    process must be given the same). cpu_bf16: the steps' bf16 autocast on a CPU with native bf16
    (None: as the preset says). The readers' fit that follows the steps is left out."""
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
    fit_readers, loop._fit_readers = loop._fit_readers, lambda run, folders: None
    presets = dict(PRESETS)
    if cpu_bf16 is not None:
        PRESETS[preset] = replace(PRESETS[preset], cpu_bf16=cpu_bf16)
    try:
        with tempfile.TemporaryDirectory() as scratch:
            run = out if out is not None else Path(scratch) / "run"
            loop.train(data, run, preset=preset, steps=steps, real_features=real_features, progress=False)
    finally:
        loop.prepare_batch, loop.StepLoop._step, loop.StepLoop._record = prepare, step, record
        loop._fit_readers = fit_readers
        PRESETS.update(presets)
    return times


def main() -> None:
    offline_env()
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--preset", default="default")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--real-features", action="store_true", help="with the frozen face and speaker features")
    ap.add_argument("--out", type=Path, help="the run's folder (required under torchrun: one for all)")
    ap.add_argument("--cpu-bf16", action="store_true", help="bf16 autocast on a CPU with native bf16")
    args = ap.parse_args()
    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    if world > 1 and args.out is None:
        raise SystemExit("under torchrun, give every process the same --out")
    times = profile(
        args.data, args.steps, args.preset, args.real_features, args.out, True if args.cpu_bf16 else None
    )
    windows = {
        k: [round(float(np.mean(v[i : i + WINDOW])), 4) for i in range(0, len(v), WINDOW)]
        for k, v in times.items()
    }
    for k, w in windows.items():
        print(f"{k}: mean s per step, {WINDOW}-step windows: {w}")
    batch = loop.resolve_config(args.preset).batch_size
    steady = times["step"][1:] or times["step"]  # the first step warms up
    load = times["load"][1:] or times["load"]
    per_step = float(np.median(np.add(steady, load[: len(steady)])))
    summary = {
        "processes": world,
        "real_features": args.real_features,
        "cpu_bf16": bool(args.cpu_bf16 and native_cpu_bf16()),
        "step_s_median": round(per_step, 4),
        "samples_per_s": round(batch * world / per_step, 2),  # every process's batch
    }
    print(json.dumps(summary))
    if args.json:
        path = args.json if rank == 0 else args.json.with_suffix(f"{args.json.suffix}.rank{rank}")
        record = {**summary, "window": WINDOW, "windows": windows, "per_step": times}
        path.write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
