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
from mmdemo.training import train
from mmdemo.training.objective import SUBSET_MASKS, random_singles, random_subsets

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
    avail[:1000, 2] = False  # no voice for some rows
    subsets = random_subsets(avail, gen)
    assert subsets.any(1).all() and not (subsets & ~avail).any()
    patterns, counts = torch.unique(subsets[1000:], dim=0, return_counts=True)
    assert len(patterns) == 7 and counts.min() > 700  # uniform over the 7 non-empty subsets
    singles = random_singles(avail, gen)
    assert (singles.sum(1) == 1).all() and not (singles & ~avail).any()


def test_subset_table_keeps_its_bitmask_row_order():
    """Row k-1 is the subset with bitmask k (image=1, text=2, voice=4): the order seeded runs draw in."""
    rows = [[bool(k >> i & 1) for i in range(3)] for k in range(1, 8)]
    assert SUBSET_MASKS.tolist() == rows


def test_presets_are_the_defaults_but_for_their_stated_changes():
    from mmdemo.model.network import ModelConfig
    from mmdemo.training.config import PRESETS, TrainConfig

    assert PRESETS["default"] == TrainConfig()
    tiny = PRESETS["tiny"]
    assert (tiny.steps, tiny.batch_size, tiny.warmup_steps, tiny.kl_warmup_steps) == (40, 16, 5, 10)
    assert (tiny.checkpoint_every, tiny.text_wordings, tiny.num_workers) == (10, 2, 0)
    assert (tiny.face_decoder_steps, PRESETS["default"].face_decoder_steps) == (0, 2500)
    assert tiny.model == ModelConfig(
        dim=64, depth=4, heads=4, latent_dim=32, decoder_channels=64, text_hidden=64
    )


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
    assert history[-1]["gan_ratio"] > 0  # the adaptive weight is on by default
    resume = ckpt.load_resume(out)
    assert any(k.startswith("disc.") for k in resume[0])


def test_fusion_outputs_in_bf16_are_gathered_into_float32_latents(monkeypatch):
    """Under CUDA's bf16 autocast the fusion returns bf16 latents; the step gathers each subset's
    rows into float32 ones (CPU autocast promotes `index_copy` itself, so only this shows it here)."""
    from dataclasses import replace

    from mmdemo.model.network import FusionAutoencoder, ModelConfig
    from mmdemo.training.objective import fuse_by_subset

    torch.manual_seed(0)
    model = FusionAutoencoder(ModelConfig(dim=32, depth=1, heads=2, latent_dim=8)).eval()
    fuse = model.fuse
    monkeypatch.setattr(
        model, "fuse", lambda sub: replace(o := fuse(sub), mu=o.mu.bfloat16(), logvar=o.logvar.bfloat16())
    )
    tokens = model.tokens({"image": torch.rand(4, 3, 64, 64)})
    chosen = torch.tensor([[True, False, False]] * 4)
    mu, logvar, _ = fuse_by_subset(model, tokens, chosen)
    assert mu.dtype == logvar.dtype == torch.float32
    assert torch.allclose(mu, fuse(tokens).mu, atol=0.05)


def test_resume_continues_exactly(tiny_data, tmp_path):
    """Interrupted after step 10 of 20 and resumed == trained straight through."""
    straight = train(tiny_data, tmp_path / "a", preset="tiny", steps=20, device="cpu", progress=False)
    interrupted = tmp_path / "b"
    shutil.copytree(straight, interrupted)
    shutil.rmtree(interrupted / "resume" / "step-0000020")  # as if killed before step 20's save
    (interrupted / "resume" / "latest").write_text("step-0000010")
    assert ckpt.load_resume(interrupted)[1]["step"] == 10
    train(tiny_data, interrupted, preset="tiny", steps=20, resume=True, device="cpu", progress=False)
    a, b = load_file(straight / "model.safetensors"), load_file(interrupted / "model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6), k
    assert json.loads((interrupted / "history.json").read_text()) == json.loads(
        (straight / "history.json").read_text()
    )


def test_refusals(tiny_data, tmp_path, tiny_checkpoint):
    with pytest.raises(ValueError, match="already holds a checkpoint; pass --resume"):
        train(tiny_data, tiny_checkpoint, preset="tiny", device="cpu", progress=False)
    with pytest.raises(ValueError, match="no complete training state to resume"):
        train(tiny_data, tmp_path / "new", preset="tiny", resume=True, device="cpu", progress=False)
    with pytest.raises(ValueError, match="unknown preset"):
        train(tiny_data, tmp_path / "x", preset="huge")


KILL_POINTS = [  # (what to wait for before SIGKILL, environment of the paused run)
    ("1.5 s after start, before the first checkpoint", {}),
    (
        "resume state half written in its temporary folder",
        {"MMDEMO_PAUSE": "resume-write", "MMDEMO_PAUSE_CALL": "1"},
    ),
    (
        "step folder complete, `latest` not yet updated",
        {"MMDEMO_PAUSE": "publish:latest", "MMDEMO_PAUSE_CALL": "1"},
    ),
    (
        "model.safetensors written, not yet renamed",
        {"MMDEMO_PAUSE": "publish:model.safetensors", "MMDEMO_PAUSE_CALL": "2"},
    ),
    (
        "history.json written, not yet renamed",
        {"MMDEMO_PAUSE": "publish:history.json", "MMDEMO_PAUSE_CALL": "1"},
    ),
    ("a random moment mid-run", {}),
]


def _run_until_killed(cmd, env, pause_env, delay) -> None:
    proc = subprocess.Popen(
        cmd, env={**env, **pause_env}, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    if pause_env:
        line = proc.stdout.readline()  # blocks until the pause point (or the run ends)
        assert line.strip() == "PAUSED", f"the run ended before reaching {pause_env}"
    else:
        time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


@pytest.mark.slow
def test_sigkill_at_any_point_then_resume_is_exact(tiny_data, tmp_path):
    """Killed at six points, including mid-write of each checkpoint file: every resume starts from the
    newest complete checkpoint, every file on disk stays readable, and the end result equals an
    uninterrupted run."""
    out, steps = tmp_path / "k", 60
    args = [
        "train",
        "--data",
        str(tiny_data),
        "--preset",
        "tiny",
        "--out",
        str(out),
        "--steps",
        str(steps),
        "--device",
        "cpu",
        "--quiet",
    ]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    rng = np.random.default_rng(0)
    last_step = 0
    for what, pause_env in KILL_POINTS:
        resume = ["--resume"] if ckpt.load_resume(out) else []
        _run_until_killed(
            [sys.executable, str(REPO / "tests" / "paused_train.py"), *args, *resume],
            env,
            pause_env,
            1.5 if "before" in what else rng.uniform(3.0, 6.0),
        )
        state = ckpt.load_resume(out)
        if state is not None:
            step = state[1]["step"]
            assert step >= last_step and step % 10 == 0, what  # never goes back; a checkpoint step
            last_step = step
        if (out / "model.safetensors").exists():
            load_file(out / "model.safetensors")  # the published weights always load
        if (out / "history.json").exists():
            json.loads((out / "history.json").read_text())
    assert last_step > 0
    done = subprocess.run(
        [sys.executable, "-m", "mmdemo", *args, "--resume"], env=env, cwd=REPO, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert ckpt.load_resume(out)[1]["step"] == steps
    assert not [p for p in (out / "resume").iterdir() if p.name.startswith(".")]  # kills' leftovers cleaned
    straight = train(
        tiny_data, tmp_path / "straight", preset="tiny", steps=steps, device="cpu", progress=False
    )
    a, b = load_file(straight / "model.safetensors"), load_file(out / "model.safetensors")
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6), k


def test_a_run_killed_before_its_first_checkpoint_can_start_again(tiny_data, tmp_path):
    out = tmp_path / "early"
    out.mkdir()
    (out / "config.json").write_text("{}")  # all such a run leaves behind
    train(tiny_data, out, preset="tiny", steps=2, device="cpu", progress=False)
    assert (out / "model.safetensors").exists()


@pytest.mark.slow
def test_torchrun_two_cpu_processes(tiny_data, tmp_path):
    out = tmp_path / "ddp"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "mmdemo",
        "train",
        "--data",
        str(tiny_data),
        "--preset",
        "tiny",
        "--out",
        str(out),
        "--steps",
        "6",
        "--device",
        "cpu",
        "--quiet",
    ]
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    run = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert (out / "model.safetensors").exists()
    assert len(json.loads((out / "history.json").read_text())) == 6


def test_the_adaptive_gan_weight_matches_the_two_gradients_at_the_last_layer():
    from mmdemo.model.losses import adaptive_gan_weight

    torch.manual_seed(0)
    layer = torch.nn.Linear(8, 4)
    out = layer(torch.randn(16, 8))
    pixels, adversarial = out.abs().mean(), -100 * out.mean()  # the GAN's loss 100x larger in scale
    ratio = adaptive_gan_weight(pixels, adversarial, layer.weight)
    g_pix = torch.autograd.grad(pixels, layer.weight, retain_graph=True)[0].norm()
    g_adv = torch.autograd.grad(ratio * adversarial, layer.weight)[0].norm()
    assert float(g_adv) == pytest.approx(float(g_pix), rel=1e-3) and not ratio.requires_grad
