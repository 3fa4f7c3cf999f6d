"""Latency and memory of `model.analyze` with all three inputs and every output.

Warm-up runs are excluded; reports the median and p95 of repeated runs, the
same figures for each single input as a baseline, and resident memory.

    python scripts/bench_analyze.py [--checkpoint checkpoints/default] [--runs 50] [--threads 2]
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np
import soundfile as sf
import torch

import mmdemo

REPO = Path(__file__).resolve().parents[1]


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def timed(fn, runs: int, warmup: int = 5) -> dict:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return {"p50_ms": round(float(np.median(times)), 1), "p95_ms": round(float(np.percentile(times, 95)), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=REPO / "checkpoints" / "default")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    start = time.perf_counter()
    model = mmdemo.load_model(args.checkpoint, device="cpu")
    load_s = time.perf_counter() - start
    ex = REPO / "assets" / "examples"
    face = cv2.cvtColor(cv2.imread(str(ex / "person2.png")), cv2.COLOR_BGR2RGB)
    text = (ex / "person2.txt").read_text()
    wave, sr = sf.read(ex / "person2.wav", dtype="float32")
    result = {"threads": torch.get_num_threads(), "load_s": round(load_s, 2),
              "analyze_all": timed(lambda: model.analyze(image=face, text=text, audio=(sr, wave)), args.runs),
              "analyze_face": timed(lambda: model.analyze(image=face), args.runs),
              "analyze_text": timed(lambda: model.analyze(text=text), args.runs),
              "analyze_voice": timed(lambda: model.analyze(audio=(sr, wave)), args.runs),
              "rss_mb": round(rss_mb(), 1)}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
