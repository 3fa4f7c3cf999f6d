"""The map's placement of new embeddings: among their nearest gallery people, fast, and the gallery
folder it reads (built by `build_gallery`)."""

import numpy as np
import pandas as pd
import pytest

from mmdemo.checkpoint import CheckpointError
from mmdemo.inference.projection import COORDS, Gallery, load_gallery, pca_layout


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


def test_on_a_linear_map_a_new_point_lands_near_its_exact_spot():
    """On a PCA layout a new point's true spot is known (its projection), so the placement can be held
    to it: it lands several times closer than a random person's spot would (what a placement that
    ignored the point would give)."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(10, 16))

    def people(n: int) -> np.ndarray:
        x = centres[rng.integers(0, 10, n)] + 0.4 * rng.normal(size=(n, 16))
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)

    emb, new = people(500), people(100)
    coords = np.concatenate([pca_layout(emb, 2), pca_layout(emb, 3)], 1)
    g = Gallery(pd.DataFrame({"id": np.arange(500)}), emb, coords)
    _, _, vt = np.linalg.svd(emb - emb.mean(0), full_matrices=False)  # as pca_layout computes it
    exact = (new - emb.mean(0)) @ vt[:2].T
    placed = np.linalg.norm(g.place(new)[:, :2] - exact, axis=1)
    random_spot = np.linalg.norm(coords[rng.integers(0, 500, 100), :2] - exact, axis=1)
    assert np.median(placed) < 0.25 * np.median(random_spot), (np.median(placed), np.median(random_spot))


def test_fewer_people_than_k_still_places():
    g = _gallery(n=4)
    assert np.isfinite(g.place(np.ones(16))).all()


def test_built_gallery_round_trip(tiny_app_checkpoint):
    g = load_gallery(tiny_app_checkpoint)
    assert len(g.table) == len(g.coords) >= 50 and g.table["person_id"].is_unique
    stored = np.stack(g.table["embedding"].to_numpy())  # the model's own means, not normalised
    assert np.allclose(g.coords, np.concatenate([pca_layout(stored, 2), pca_layout(stored, 3)], 1), atol=1e-4)
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


@pytest.mark.parametrize("features", [True, False])
def test_a_gallery_without_features_reads_people_as_the_live_view_does(
    features, tiny_checkpoint, tiny_data, tmp_path, monkeypatch
):
    import json
    import shutil

    from mmdemo.inference import model as model_module
    from mmdemo.inference.projection import build_gallery

    ckpt = shutil.copytree(tiny_checkpoint, tmp_path / "ckpt")
    data = shutil.copytree(tiny_data, tmp_path / "data", ignore=shutil.ignore_patterns("features"))
    real_load, asked = model_module.load_model, []

    def load_reading_features(*args, **kwargs):  # as a checkpoint trained with the extractors is
        m = real_load(*args, **kwargs)
        m.reads_features = True
        return m

    def load_inputs(samples, *args, features=False):
        asked.append(features)
        return real_inputs(samples, *args, features=False)  # the tiny network has no feature tokens

    real_inputs = model_module.Inputs.load
    monkeypatch.setattr(model_module, "load_model", load_reading_features)
    monkeypatch.setattr(model_module.Inputs, "load", staticmethod(load_inputs))
    build_gallery(ckpt, data, people=60, device="cpu", layout="pca", features=features)
    assert asked and set(asked) == {features}
    assert (data / "features" / "face.safetensors").is_file() is features  # cached in the folder first
    assert json.loads((ckpt / "gallery" / "layout.json").read_text())["features"] is features
    assert len(load_gallery(ckpt).table) >= 50


def test_the_maps_own_neighbours_are_the_exact_cosine_ones_each_point_first():
    from mmdemo.inference.projection import nearest_neighbours

    rng = np.random.default_rng(0)
    emb = rng.normal(size=(300, 16)).astype(np.float32)
    emb[7] = emb[3]  # identical people: each still comes first in its own row
    indices, distances = nearest_neighbours(emb, 5, block=64)  # several blocks
    unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    sims = unit @ unit.T
    np.fill_diagonal(sims, np.inf)
    assert (indices[:, 0] == np.arange(len(emb))).all() and distances[:, 0].max() < 1e-5
    assert {3, 7} == set(indices[3, :2]) == set(indices[7, :2])
    others = np.sort(np.where(np.isinf(sims), -np.inf, sims), axis=1)[:, ::-1][:, :4]
    np.testing.assert_allclose(distances[:, 1:], 1 - others, atol=1e-5)  # the 4 nearest others, exactly
    finite = np.where(np.isinf(sims), 1.0, sims)
    np.testing.assert_allclose(distances[:, 1:], 1 - np.take_along_axis(finite, indices[:, 1:], 1), atol=1e-5)
    assert (np.diff(distances, axis=1) >= -1e-6).all()  # nearest first


def test_a_layout_on_given_neighbours_is_a_umap_layout():
    from mmdemo.inference.projection import fit_umap, nearest_neighbours

    rng = np.random.default_rng(1)
    centres = rng.normal(size=(3, 8))
    emb = np.concatenate([c + 0.05 * rng.normal(size=(60, 8)) for c in centres]).astype(np.float32)
    coords = fit_umap(emb, n_components=2, n_neighbors=10, neighbours=nearest_neighbours(emb, 10))
    assert coords.shape == (180, 2) and np.isfinite(coords).all()
    # the three groups stay apart: every point's nearest on the map is from its own group
    d = ((coords[:, None] - coords[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    assert (d.argmin(1) // 60 == np.arange(180) // 60).all()
