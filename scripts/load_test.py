"""Load test: N concurrent gradio_client callers of /analyze against `python app.py`.

Starts the app on a free loopback port (or uses --url), runs the callers for a
bounded time, and reports requests per second, latency p50/p95, failures and
the server's resident-memory growth between the first and last 30 s.

    python scripts/load_test.py --callers 8 --seconds 60 [--checkpoint checkpoints/default] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False",
       "HF_HUB_DISABLE_TELEMETRY": "1"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(checkpoint: Path, port: int, timeout: float = 120) -> tuple[subprocess.Popen, float]:
    """`python app.py` on loopback; returns the process and seconds until /config answered 200."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(REPO / "app.py"), "--checkpoint", str(checkpoint), "--port", str(port)],
                            cwd=REPO, env={**os.environ, **ENV}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    while time.perf_counter() - start < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"app exited: {proc.stdout.read().decode()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/config", timeout=2) as r:
                if r.status == 200:
                    return proc, time.perf_counter() - start
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("app did not answer within the timeout")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run(url: str, callers: int, seconds: float, pid: int | None) -> dict:
    from gradio_client import Client, handle_file
    ex = REPO / "assets" / "examples"
    people = sorted(ex.glob("*.png"))
    stop = time.perf_counter() + seconds
    latencies, failures, lock = [], [], threading.Lock()
    memory: list[tuple[float, float]] = []

    import tempfile
    import cv2
    scratch = Path(tempfile.mkdtemp(prefix="mmdemo-load-"))
    rng = np.random.default_rng(0)

    def caller(i: int) -> None:
        client = Client(url, verbose=False)
        k = 0
        while time.perf_counter() < stop:
            face = people[(i + k) % len(people)]
            # every request a different photo (as from different users): a little pixel noise
            img = cv2.imread(str(face)).astype(np.int16) + rng.integers(-6, 7, (128, 128, 3))
            path = scratch / f"caller{i}_{k}.png"
            cv2.imwrite(str(path), np.clip(img, 0, 255).astype(np.uint8))
            t0 = time.perf_counter()
            try:
                client.predict(handle_file(path), face.with_suffix(".txt").read_text(),
                               handle_file(face.with_suffix(".wav")), api_name="/analyze")
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

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(callers)] + [threading.Thread(target=sampler)]
    begin = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - begin
    lat = np.array(latencies) * 1000
    first = [m for s, m in memory if s <= 30]
    last = [m for s, m in memory if s >= seconds - 30]
    growth = (np.mean(last) / np.mean(first) - 1) if first and last else float("nan")
    return {"callers": callers, "seconds": round(wall, 1), "requests": len(latencies), "failures": len(failures),
            "failure_examples": failures[:3], "requests_per_s": round(len(latencies) / wall, 2),
            "latency_ms_p50": round(float(np.percentile(lat, 50)), 1) if len(lat) else None,
            "latency_ms_p95": round(float(np.percentile(lat, 95)), 1) if len(lat) else None,
            "rss_mb_first_30s": round(float(np.mean(first)), 1) if first else None,
            "rss_mb_last_30s": round(float(np.mean(last)), 1) if last else None,
            "rss_growth": round(float(growth), 4) if growth == growth else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--callers", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60)
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
            proc.terminate()
            proc.wait(10)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    sys.exit(1 if result["failures"] else 0)


if __name__ == "__main__":
    main()
