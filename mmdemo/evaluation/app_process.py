"""`python app.py` as a separate process on a free loopback port, timed until it answers: what the
benchmarks, the load test and the browser tests start and stop."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from mmdemo.runtime import OFFLINE_ENV, REPO_ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(
    checkpoint: Path,
    port: int,
    timeout: float = 120,
    extra_args: tuple[str, ...] = (),
    app_dir: Path = REPO_ROOT,
) -> tuple[subprocess.Popen, float]:
    """A new `python app.py` (of the checkout `app_dir`) on loopback; returns it and the seconds until
    its /config answered 200."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [
            sys.executable,
            str(Path(app_dir) / "app.py"),
            "--checkpoint",
            str(checkpoint),
            "--port",
            str(port),
            *extra_args,
        ],
        cwd=app_dir,
        env={**os.environ, **OFFLINE_ENV},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    while time.perf_counter() - start < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"app.py exited early: {proc.stdout.read().decode()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/config", timeout=2) as r:
                if r.status == 200:
                    return proc, time.perf_counter() - start
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"app.py did not answer on port {port} within {timeout:.0f} s")


def stop_app(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
