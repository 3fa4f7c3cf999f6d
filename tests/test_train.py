"""Training end to end on the tiny dataset: checkpoints, resume, GAN, torchrun, refusals."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from mmdemo import checkpoint as ckpt
from mmdemo.train import random_singles, random_subsets, train

REPO = Path(__file__).resolve().parents[1]


def test_checkpoint_files(tiny_checkpoint):
    files = {p.name for p in tiny_checkpoint.iterdir()}
    assert {"config.json", "model.safetensors", "loss_curve.png", "history.json", "resume"} <= files
    history = json.loads((tiny_checkpoint / "history.json").read_text())
    assert len(history) == 30 and all(np.isfinite(h["total"]) for h in history)
    config = json.loads((tiny_checkpoint / "config.json").read_text())
    assert config["model"]["text_vocab"][:4] == ["[PAD]", "[BOS]", "[EOS]", "[UNK]"]
    assert not [p for p in tiny_checkpoint.rglob("*") if p.suffix in ckpt.PICKLE_SUFFIXES]


def test_subset_sampling_covers_every_subset_and_respects_availability():
    gen = torch.Generator().manual_seed(0)
    avail = torch.ones(7000, 3, dtype=torch.bool)
    avail[:1000, 2] = False                                # no voice for some rows
    subsets = random_subsets(avail, gen)
    assert subsets.any(1).all() and not (subsets & ~avail).any()
    patterns, counts = torch.unique(subsets[1000:], dim=0, return_counts=True)
    assert len(patterns) == 7 and counts.min() > 700       # uniform over the 7 non-empty subsets
    singles = random_singles(avail, gen)
    assert (singles.sum(1) == 1).all() and not (singles & ~avail).any()


def test_training_learns(tiny_data, tmp_path):
    out = train(tiny_data, tmp_path / "c", preset="tiny", steps=60, device="cpu", progress=False)
    history = json.loads((out / "history.json").read_text())
    first = np.mean([h["attributes"] + h["text_ce"] + h["image_l1"] for h in history[:8]])
    last = np.mean([h["attributes"] + h["text_ce"] + h["image_l1"] for h in history[-8:]])
    assert last < 0.8 * first


def test_gan_training_runs_and_records_its_losses(tiny_data, tmp_path):
    out = train(tiny_data, tmp_path / "g", preset="tiny", steps=16, gan=True, device="cpu", progress=False)
    history = json.loads((out / "history.json").read_text())
    assert "gan_d" in history[-1] and "gan_g" in history[-1] and "gan_d" not in history[0]
    resume = ckpt.load_resume(out)
    assert any(k.startswith("disc.") for k in resume[0])


def test_resume_continues_exactly(tiny_data, tmp_path):
    """Interrupted after step 10 of 20 and resumed == trained straight through."""
    straight = train(tiny_data, tmp_path / "a", preset="tiny", steps=20, device="cpu", progress=False)
    interrupted = tmp_path / "b"
    shutil.copytree(straight, interrupted)
    shutil.rmtree(interrupted / "resume" / "step-0000020")          # as if killed before step 20's save
    (interrupted / "resume" / "latest").write_text("step-0000010")
    assert ckpt.load_resume(interrupted)[1]["step"] == 10
    train(tiny_data, interrupted, preset="tiny", steps=20, resume=True, device="cpu", progress=False)
    a, b = load_file(straight / "model.safetensors"), load_file(interrupted / "model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6), k
    assert json.loads((interrupted / "history.json").read_text()) == json.loads((straight / "history.json").read_text())


def test_refusals(tiny_data, tmp_path, tiny_checkpoint):
    with pytest.raises(ValueError, match="already holds a checkpoint; pass --resume"):
        train(tiny_data, tiny_checkpoint, preset="tiny", device="cpu", progress=False)
    with pytest.raises(ValueError, match="no complete training state to resume"):
        train(tiny_data, tmp_path / "new", preset="tiny", resume=True, device="cpu", progress=False)
    with pytest.raises(ValueError, match="unknown preset"):
        train(tiny_data, tmp_path / "x", preset="huge")


@pytest.mark.slow
def test_sigkill_during_training_then_resume(tiny_data, tmp_path):
    out = tmp_path / "k"
    cmd = [sys.executable, "-m", "mmdemo", "train", "--data", str(tiny_data), "--preset", "tiny",
           "--out", str(out), "--steps", "60", "--device", "cpu", "--quiet"]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    rng = np.random.default_rng(0)
    for attempt in range(3):
        proc = subprocess.Popen(cmd + (["--resume"] if ckpt.load_resume(out) else []), env=env, cwd=REPO)
        deadline = time.time() + 120
        while time.time() < deadline and ckpt.load_resume(out) is None and proc.poll() is None:
            time.sleep(0.2)
        time.sleep(rng.uniform(0.5, 4.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        state = ckpt.load_resume(out)
        assert state is not None                     # the newest complete checkpoint always loads
    done = subprocess.run(cmd + ["--resume"], env=env, cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert ckpt.load_resume(out)[1]["step"] == 60


@pytest.mark.slow
def test_torchrun_two_cpu_processes(tiny_data, tmp_path):
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "mmdemo", "train", "--data", str(tiny_data), "--preset", "tiny", "--out", str(out),
           "--steps", "6", "--device", "cpu", "--quiet"]
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    run = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert (out / "model.safetensors").exists()
    assert len(json.loads((out / "history.json").read_text())) == 6
