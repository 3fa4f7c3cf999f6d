"""Work shared out across processes: `embed` and `gallery` under torchrun (2 CPU processes) write what
one process writes, and a gallery larger than UMAP is fit on lays out the rest among a fitted sample."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mmdemo.inference.shards import merge_on_main, my_units
from mmdemo.runtime import Distributed

REPO = Path(__file__).resolve().parents[1]


def test_units_are_dealt_round_robin_and_merged_back_in_order():
    groups = [Distributed(rank=r, world=3) for r in range(3)]
    assert [list(my_units(7, dd)) for dd in groups] == [[0, 3, 6], [1, 4], [2, 5]]
    assert list(my_units(7, Distributed())) == list(range(7))
    parts = {u: pd.DataFrame({"unit": [u, u], "row": [0, 1]}) for u in (2, 0, 1)}  # finished out of order
    merged = merge_on_main(parts, Distributed())
    assert merged[["unit", "row"]].values.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1], [2, 0], [2, 1]]
    assert list(merged.columns) == ["unit", "row"]  # the unit column does not leak out
    assert merge_on_main({}, Distributed()).empty


def _mmdemo(*args, nproc: int = 1, timeout: int = 600) -> None:
    """`python -m mmdemo ARGS`, under torchrun with `nproc` processes when nproc > 1. Both run on one
    thread a process, so that each batch is computed by the same kernels in both."""
    launcher = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc)]
    cmd = [sys.executable, *(launcher if nproc > 1 else []), "-m", "mmdemo", *args]
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    run = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout)
    assert run.returncode == 0, run.stderr[-3000:]


@pytest.mark.slow
def test_torchrun_embed_writes_what_one_process_writes(tiny_checkpoint, tiny_data, tmp_path):
    common = ["embed", "--checkpoint", str(tiny_checkpoint), "--data", str(tiny_data), "--device", "cpu"]
    _mmdemo(*common, "--out", str(tmp_path / "one.parquet"), "--quiet")
    _mmdemo(*common, "--out", str(tmp_path / "two.parquet"), "--quiet", nproc=2)
    one, two = pd.read_parquet(tmp_path / "one.parquet"), pd.read_parquet(tmp_path / "two.parquet")
    assert len(one) > 2 * 128  # more than one batch each, so both processes had work
    pd.testing.assert_frame_equal(one, two)


@pytest.mark.slow
def test_torchrun_gallery_writes_what_one_process_writes(tiny_checkpoint, tiny_data, tmp_path):
    maps = {}
    for nproc in (1, 2):
        ckpt = tmp_path / f"ckpt{nproc}"
        shutil.copytree(tiny_checkpoint, ckpt, ignore=shutil.ignore_patterns("gallery"))
        _mmdemo("gallery", "--checkpoint", str(ckpt), "--data", str(tiny_data), "--people", "300",
                "--layout", "pca", "--device", "cpu", "--quiet", nproc=nproc)  # fmt: skip
        maps[nproc] = pd.read_parquet(ckpt / "gallery" / "gallery.parquet")
    assert len(maps[1]) > 128  # two embedding batches: one for each process
    pd.testing.assert_frame_equal(maps[1], maps[2])


@pytest.mark.slow
def test_a_gallery_past_the_fit_sample_places_the_rest_among_the_fitted(tiny_checkpoint, tiny_data, tmp_path):
    """The 200k-person path, scaled down: UMAP fit on 60 of the tiny set's 144 people, the rest placed."""
    from mmdemo.evaluation.bench import map_neighbours, neighbour_agreement
    from mmdemo.inference.projection import fit_umap, load_gallery

    ckpt = tmp_path / "ckpt"
    shutil.copytree(tiny_checkpoint, ckpt, ignore=shutil.ignore_patterns("gallery"))
    _mmdemo("gallery", "--checkpoint", str(ckpt), "--data", str(tiny_data), "--people", "300",
            "--fit-sample", "60", "--device", "cpu", "--quiet")  # fmt: skip
    gallery = load_gallery(ckpt)
    n = len(gallery.table)
    assert n > 100 and np.isfinite(gallery.coords).all()
    layout = json.loads((ckpt / "gallery" / "layout.json").read_text())
    assert layout["fit_sample"] == 60 and layout["people"] == n
    # the fitted people sit where UMAP put them; each placed person where its nearest fitted ones are
    fitted = np.sort(np.random.default_rng(0).choice(n, 60, replace=False))
    emb = np.stack(gallery.table["embedding"].to_numpy())
    assert np.allclose(gallery.coords[fitted, :2], fit_umap(emb[fitted], n_components=2), atol=1e-4)
    placed = np.setdiff1d(np.arange(n), fitted)
    lo, hi = gallery.coords[fitted].min(0), gallery.coords[fitted].max(0)
    assert ((gallery.coords[placed] >= lo - 1e-4) & (gallery.coords[placed] <= hi + 1e-4)).all()
    # map neighbours of the placed people agree with a UMAP fit on everyone far more than chance does
    full = fit_umap(emb, n_components=2)

    def knn(xy):
        return map_neighbours(xy, xy, 10)[placed]

    agreement = neighbour_agreement(knn(gallery.coords[:, :2]), knn(full))
    chance = neighbour_agreement(knn(np.random.default_rng(1).normal(size=(n, 2))), knn(full))
    assert agreement > 2 * chance + 0.05, (agreement, chance)


def test_the_process_left_after_a_torchrun_group_gets_every_core(monkeypatch):
    """torchrun gives each process one thread; the one that goes on alone after `train` (the face
    decoder's fit, the calibration) takes the cores the others left. Outside torchrun: unchanged."""
    import os

    import torch

    from mmdemo.runtime import use_the_cores_left

    before = torch.get_num_threads()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        torch.set_num_threads(1)
        monkeypatch.delenv("WORLD_SIZE", raising=False)
        assert use_the_cores_left() == 1
        monkeypatch.setenv("WORLD_SIZE", "2")
        assert use_the_cores_left() == cores
    finally:
        torch.set_num_threads(before)
