"""The map's placement of new embeddings: among their nearest gallery people, fast, and the gallery
folder it reads (built by `build_gallery`)."""

import numpy as np
import pandas as pd
import pytest

from mmdemo.checkpoint import CheckpointError
from mmdemo.inference.projection import COORDS, Gallery, load_gallery


def _gallery(n=400, dim=16, seed=0) -> Gallery:
    rng = np.random.default_rng(seed)
    emb = rng.normal(size=(n, dim)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    coords = rng.uniform(-5, 5, (n, 5)).astype(np.float32)
    table = pd.DataFrame(
        {"id": [f"p{i}" for i in range(n)], **{c: coords[:, i] for i, c in enumerate(COORDS)}}
    )
    return Gallery(table, emb, coords)


def test_a_gallery_member_lands_on_its_own_spot():
    g = _gallery()
    placed = g.place(g.embeddings[:50] * 3.0)  # scale must not matter (cosine)
    assert np.abs(placed - g.coords[:50]).max() < 0.05  # well inside the 10-neighbour radius (~0.13)


def test_a_new_point_lands_among_its_nearest_people():
    g = _gallery(n=60, dim=64)  # nearly orthogonal people
    a, b = g.embeddings[0], g.embeddings[1]
    mid = (a + b) / 2  # equally like two people
    placed = g.place(mid)[0]
    assert np.allclose(placed, (g.coords[0] + g.coords[1]) / 2, atol=0.05)
    assert g.place(np.stack([mid, a])).shape == (2, 5)


def test_fewer_people_than_k_still_places():
    g = _gallery(n=4)
    assert np.isfinite(g.place(np.ones(16))).all()


def test_built_gallery_round_trip(tiny_app_checkpoint):
    g = load_gallery(tiny_app_checkpoint)
    assert len(g.table) == len(g.coords) >= 50
    placed = g.place(np.stack(g.table["embedding"].to_numpy())[:20])  # a barely trained model: crowded
    assert placed.shape == (20, 5)
    assert (placed >= g.coords.min(0) - 1e-4).all() and (placed <= g.coords.max(0) + 1e-4).all()
    assert (tiny_app_checkpoint / "gallery" / "layout.json").is_file()


def test_a_gallery_without_coordinates_is_refused(tmp_path):
    (tmp_path / "gallery").mkdir()
    pd.DataFrame({"id": ["a"], "embedding": [np.zeros(4, np.float32)]}).to_parquet(
        tmp_path / "gallery" / "gallery.parquet"
    )
    with pytest.raises(CheckpointError, match="lacks the columns x2"):
        load_gallery(tmp_path)
