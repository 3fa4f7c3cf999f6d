"""The dataset generator: the tiny preset meets the contract, output is byte-identical per seed,
people stay in one split, and bad arguments or interruptions leave nothing behind."""

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from mmdemo.synth import generator
from mmdemo.synth.contract import check_dataset
from mmdemo.synth.generator import generate_dataset


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_tiny_preset_meets_the_contract(tiny_data):
    rows = (tiny_data / "metadata.csv").read_text().splitlines()
    assert 300 <= len(rows) - 1 <= 302
    assert check_dataset(tiny_data) == []
    assert not list(tiny_data.parent.glob(".tiny.partial-*"))


def test_same_seed_is_byte_identical_whatever_the_workers(tmp_path):
    a = generate_dataset(tmp_path / "a", count=24, seed=7, workers=1)
    b = generate_dataset(tmp_path / "b", count=24, seed=7, workers=2)
    c = generate_dataset(tmp_path / "c", count=24, seed=8, workers=1)
    assert _digest(a) == _digest(b)
    assert _digest(a) != _digest(c)


def test_people_never_cross_splits(tiny_data):
    import csv

    splits = {}
    for row in csv.DictReader(open(tiny_data / "metadata.csv")):
        splits.setdefault(row["person_id"], set()).add(row["split"])
    assert all(len(s) == 1 for s in splits.values())
    assert len(splits) < 300  # several samples for some people


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"count": 0}, "positive number"),
        ({"count": -5}, "positive number"),
        ({"preset": "huge"}, "unknown preset 'huge'"),
    ],
)
def test_bad_arguments_write_nothing(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        generate_dataset(tmp_path / "out", **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_existing_folder_needs_overwrite(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(ValueError, match="not empty; pass --overwrite"):
        generate_dataset(out, count=3)
    assert (out / "keep.txt").read_text() == "mine"
    generate_dataset(out, count=3, overwrite=True, workers=1)
    assert not (out / "keep.txt").exists() and (out / "metadata.csv").exists()


def test_unwritable_destination(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ValueError, match="it is a file"):
        generate_dataset(blocker / "out", count=3)
    with pytest.raises(ValueError, match="cannot write"):
        generate_dataset("/proc/mmdemo-data", count=3)


def test_interrupted_run_leaves_nothing_that_looks_whole(tmp_path, monkeypatch):
    calls = {"n": 0}
    real = generator._generate_person

    def flaky(job):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(job)

    monkeypatch.setattr(generator, "_generate_person", flaky)
    with pytest.raises(KeyboardInterrupt):
        generate_dataset(tmp_path / "out", count=10, workers=1)
    assert list(tmp_path.iterdir()) == []


def test_cli_reports_errors_in_one_line(tmp_path):
    run = lambda *a: subprocess.run(
        [sys.executable, "-m", "mmdemo", "data", *a], capture_output=True, text=True
    )
    bad = run("--out", str(tmp_path / "x"), "--count", "0")
    assert (
        bad.returncode == 2
        and bad.stderr.strip() == "error: --count must be a positive number of samples, got 0"
    )
    preset = run("--out", str(tmp_path / "x"), "--preset", "huge")
    assert preset.returncode == 2 and "invalid choice: 'huge'" in preset.stderr
    ok = run("--out", str(tmp_path / "y"), "--count", "4", "--quiet", "--workers", "1")
    assert ok.returncode == 0 and "wrote 4 samples" in ok.stdout
