"""Load test: concurrent gradio_client callers of /analyze against a fresh `python app.py`.

Starts the app on a free loopback port (or uses --url), runs the callers for a
bounded time, and reports requests per second, latency p50/p95, failures and
the server's resident-memory growth between the first and last 30 s (a third
of the run each, for runs shorter than 90 s). Exit status 1 on any failure.

    python scripts/load_test.py [--callers 16] [--seconds 120]
        [--checkpoint checkpoints/default] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from anywhere without installing

from mmdemo.evaluation.app_process import free_port, start_app, stop_app  # noqa: E402
from mmdemo.evaluation.bench import rss_mb  # noqa: E402


def run(url: str, callers: int, seconds: float, pid: int | None) -> dict:
    from gradio_client import Client, handle_file

    ex = REPO / "assets" / "examples"
    people = sorted(ex.glob("*.png"))
    warm = Client(url, verbose=False)  # the model finishes loading after HTTP is up: measure a warm server
    warm.predict(None, "A calm adult man.", None, api_name="/analyze")
    stop = time.perf_counter() + seconds
    latencies, failures, lock = [], [], threading.Lock()
    memory: list[tuple[float, float]] = []
    scratch = Path(tempfile.mkdtemp(prefix="mmdemo-load-"))

    def caller(i: int) -> None:
        client = Client(url, verbose=False)
        rng = np.random.default_rng(i)
        k = 0
        while time.perf_counter() < stop:
            face = people[(i + k) % len(people)]
            # every request a different photo (as from different users): a little pixel noise
            img = cv2.imread(str(face)).astype(np.int16) + rng.integers(-6, 7, (128, 128, 3))
            path = scratch / f"caller{i}_{k}.png"
            cv2.imwrite(str(path), np.clip(img, 0, 255).astype(np.uint8))
            t0 = time.perf_counter()
            try:
                client.predict(
                    handle_file(path),
                    face.with_suffix(".txt").read_text(),
                    handle_file(face.with_suffix(".wav")),
                    api_name="/analyze",
                )
                with lock:
                    latencies.append(time.perf_counter() - t0)
            except Exception as e:  # counted, reported, never hidden
                with lock:
                    failures.append(repr(e)[:200])
            path.unlink(missing_ok=True)
            k += 1

    def sampler() -> None:
        t0 = time.perf_counter()
        while time.perf_counter() < stop and pid:
            memory.append((time.perf_counter() - t0, rss_mb(pid)))
            time.sleep(1.0)

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(callers)] + [
        threading.Thread(target=sampler)
    ]
    begin = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - begin
    lat = np.array(latencies) * 1000
    window = min(30.0, seconds / 3)
    first = [m for s, m in memory if s <= window]
    last = [m for s, m in memory if s >= seconds - window]
    growth = (np.mean(last) / np.mean(first) - 1) if first and last else float("nan")
    return {
        "callers": callers,
        "memory_window_s": window,
        "seconds": round(wall, 1),
        "requests": len(latencies),
        "failures": len(failures),
        "failure_examples": failures[:3],
        "requests_per_s": round(len(latencies) / wall, 2),
        "latency_ms_p50": round(float(np.percentile(lat, 50)), 1) if len(lat) else None,
        "latency_ms_p95": round(float(np.percentile(lat, 95)), 1) if len(lat) else None,
        "rss_mb_first_30s": round(float(np.mean(first)), 1) if first else None,
        "rss_mb_last_30s": round(float(np.mean(last)), 1) if last else None,
        "rss_growth": round(float(growth), 4) if growth == growth else None,
        "rss_mb_every_10s": [round(m, 1) for s, m in memory[::10]],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--callers", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--checkpoint", type=Path, default=REPO / "checkpoints" / "default")
    parser.add_argument("--url", default=None, help="an app already running (memory is then not sampled)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if not 1 <= args.callers <= 64 or not 1 <= args.seconds <= 1800:
        sys.exit("callers must be 1-64 and seconds 1-1800")
    proc = None
    if args.url is None:
        port = free_port()
        proc, ready = start_app(args.checkpoint, port)
        url = f"http://127.0.0.1:{port}"
        print(f"app answered HTTP after {ready:.1f} s", flush=True)
    else:
        url, ready = args.url, None
    try:
        result = run(url, args.callers, args.seconds, proc.pid if proc else None)
        result["http_ready_s"] = round(ready, 2) if ready else None
    finally:
        if proc:
            stop_app(proc)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    sys.exit(1 if result["failures"] else 0)


if __name__ == "__main__":
    main()
