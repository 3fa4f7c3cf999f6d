"""The bench command on a tiny checkpoint (every key, sane values) and the load test against a fresh
`python app.py` with 16 concurrent callers (20 s in CI; `--load-seconds 120` for the full length)."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from mmdemo.evaluation.bench import KEYS

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_bench_writes_every_key(tiny_app_checkpoint, tmp_path):
    out = tmp_path / "bench.json"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "mmdemo",
            "bench",
            "--checkpoint",
            str(tiny_app_checkpoint),
            "--runs",
            "3",
            "--startup-runs",
            "1",
            "--json",
            str(out),
            "--quiet",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    results = json.loads(out.read_text())
    missing = [k for k in KEYS if k not in results]
    assert not missing, missing
    assert all(math.isfinite(results[k]) and results[k] >= 0 for k in KEYS)
    assert 0 <= results["placement/knn_agreement"] <= 1 and 0 < results["roofline/analyze_efficiency"] < 1
    assert results["latency/analyze_ms_p95"] >= results["latency/analyze_ms_p50"] > 0


@pytest.mark.slow
def test_sixteen_callers_no_failures_and_memory_flat(request, tmp_path):
    seconds = request.config.getoption("--load-seconds")
    out = tmp_path / "load.json"
    run = subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "load_test.py"),
            "--callers",
            "16",
            "--seconds",
            str(seconds),
            "--json",
            str(out),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=seconds + 300,
    )
    result = json.loads(out.read_text())
    assert run.returncode == 0 and result["failures"] == 0, (
        result.get("failure_examples"),
        run.stdout[-2000:],
    )
    assert result["requests"] >= 16
    assert result["rss_growth"] < 0.10, result
