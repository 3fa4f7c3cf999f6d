"""Frames per second through the app's live-stream callback (webcam frame in ->
reconstruction, attention overlay, map figure out), as the server runs it.

    python scripts/bench_live.py [--checkpoint checkpoints/default] [--frames 60]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def webcam_frame(face_png: Path, width: int = 640, height: int = 480) -> np.ndarray:
    """A 640x480 frame with the example face in the middle, as a webcam would send it."""
    face = cv2.cvtColor(cv2.imread(str(face_png)), cv2.COLOR_BGR2RGB)
    side = 300
    frame = np.full((height, width, 3), (205, 200, 195), np.uint8)
    frame[90:90 + side, 170:170 + side] = cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC)
    return frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=REPO / "checkpoints" / "default")
    parser.add_argument("--frames", type=int, default=60)
    args = parser.parse_args()
    import app
    app.RUNTIME.configure(args.checkpoint, "cpu")
    frame = webcam_frame(REPO / "assets" / "examples" / "person2.png")
    state = None
    for _ in range(5):                                  # warm-up
        *_, state, _ = app.live_step(frame, state)
    times = []
    for i in range(args.frames):
        jittered = np.roll(frame, (i % 7) - 3, axis=1)  # a slightly moving head
        t0 = time.perf_counter()
        *_, state, _ = app.live_step(jittered, state)
        times.append(time.perf_counter() - t0)
    ms = np.array(times) * 1000
    print(json.dumps({"frames": args.frames, "fps": round(1000 / float(np.median(ms)), 1),
                      "ms_p50": round(float(np.median(ms)), 1), "ms_p95": round(float(np.percentile(ms, 95)), 1)},
                     indent=2))


if __name__ == "__main__":
    main()
