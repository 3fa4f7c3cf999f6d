"""How `python -m mmdemo gallery` scales to a user's 200,000 people on this machine, stage by stage.

    python scripts/bench_gallery_scale.py --json docs/gallery-scale-cpu2.json [--people 200000]

- layout: UMAP fit on a sample of `--fit-sample` people (2D and 3D), the rest placed among them, timed
  on `--people` embeddings. No dataset of 200,000 people exists here, so they are made from the bundled
  gallery's 2,500: each a gallery person's embedding plus noise of half the typical distance to its
  nearest neighbour (clusters as real data has them, not a uniform cloud);
- how faithful the sampled layout is: on `--agreement-people` (20,000) such people, the share of each
  placed person's 10 nearest map neighbours that a UMAP fit on everyone also gives it, against the same
  share between two full fits that differ only in their seed (UMAP's own variability) and chance;
- embedding: people a second through the bundled model (face with dlib's detector and descriptor,
  description, voice; one process), on `--data`, and the hours that makes for `--people`;
- the map the app draws: the plotly figure's size and build time at `--people` points.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mmdemo.evaluation.bench import map_neighbours, neighbour_agreement  # noqa: E402
from mmdemo.runtime import DEFAULT_CHECKPOINT, offline_env  # noqa: E402


def synthetic_people(emb: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """n embeddings around the gallery's people (noise: half the median nearest-neighbour distance)."""
    rng = np.random.default_rng(seed)
    unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    sims = unit @ unit.T
    np.fill_diagonal(sims, -1)
    nearest = np.sqrt(np.maximum(2 - 2 * sims.max(1), 0)) * np.linalg.norm(emb, axis=1).mean()
    sigma = 0.5 * np.median(nearest) / np.sqrt(emb.shape[1])
    base = emb[rng.integers(0, len(emb), n)]
    return (base + rng.normal(scale=sigma, size=base.shape)).astype(np.float32)


def knn_agreement(a: np.ndarray, b: np.ndarray, rows: np.ndarray, k: int = 10) -> float:
    """Share of each row's k nearest map neighbours in layout `a` that layout `b` also gives it."""
    agreements = []
    for start in range(0, len(rows), 1000):  # distance blocks of 1000 x N
        part = rows[start : start + 1000]
        ours, theirs = map_neighbours(a[part], a, k + 1)[:, 1:], map_neighbours(b[part], b, k + 1)[:, 1:]
        agreements.append(neighbour_agreement(ours, theirs) * len(part))  # [:, 1:]: not itself
    return float(sum(agreements) / len(rows))


def write_checkpoint(source: Path, dest: Path, table, people: np.ndarray, coords: np.ndarray) -> None:
    """A copy of `source` whose gallery is `table` with the made-up people's embeddings and map."""
    import shutil

    from mmdemo.checkpoint import atomic_write_parquet
    from mmdemo.inference.projection import COORDS, GALLERY_DIR

    shutil.copytree(source, dest, ignore=shutil.ignore_patterns(GALLERY_DIR), dirs_exist_ok=True)
    shutil.copytree(source / GALLERY_DIR, dest / GALLERY_DIR, dirs_exist_ok=True)
    table = table.drop(columns=["hover"], errors="ignore").assign(embedding=list(people))
    table = table.assign(**{c: coords[:, i] for i, c in enumerate(COORDS)})
    atomic_write_parquet(dest / GALLERY_DIR / "gallery.parquet", table)


def main(argv=None) -> None:
    offline_env()
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    ap.add_argument("--data", type=Path, default=REPO / "data" / "test3000", help="people to embed, timed")
    ap.add_argument("--people", type=int, default=200_000)
    ap.add_argument("--fit-sample", type=int, default=None, help="default: the gallery command's")
    ap.add_argument("--agreement-people", type=int, default=20_000)
    ap.add_argument("--embed-people", type=int, default=256)
    ap.add_argument("--json", type=Path)
    ap.add_argument(
        "--write-checkpoint",
        type=Path,
        help="also write a copy of the checkpoint whose gallery holds the --people made-up people "
        "(their faces and descriptions repeat the bundled gallery's), for scripts/bench_browser.py",
    )
    args = ap.parse_args(argv)
    from mmdemo.inference.projection import FIT_SAMPLE, fit_umap, load_gallery, map_layout, one_per_person
    from mmdemo.serving.figures import map_figure, with_hover_text

    fit_sample = args.fit_sample or FIT_SAMPLE
    gallery = load_gallery(args.checkpoint)
    emb = np.stack(gallery.table["embedding"].to_numpy()).astype(np.float32)
    out: dict = {"people": args.people, "fit_sample": fit_sample}
    settings = {"n_neighbors": 15, "min_dist": 0.1, "seed": 0}

    people = synthetic_people(emb, args.people)
    t = time.perf_counter()
    coords = map_layout(people, "umap", fit_sample=fit_sample, bar=True, **settings)
    out["layout_s"] = time.perf_counter() - t
    print(f"layout of {args.people}: {out['layout_s']:.0f} s", flush=True)

    few = synthetic_people(emb, args.agreement_people, seed=1)
    sample = max(args.agreement_people // 4, 1000)
    sampled = map_layout(few, "umap", fit_sample=sample, **settings)[:, :2]
    full = fit_umap(few, n_components=2, **settings)
    reseeded = fit_umap(few, n_components=2, **{**settings, "seed": 1})
    fitted = np.sort(np.random.default_rng(0).choice(len(few), sample, replace=False))
    placed = np.setdiff1d(np.arange(len(few)), fitted)
    chance = np.random.default_rng(2).normal(size=full.shape)
    out["agreement"] = {
        "people": args.agreement_people,
        "fit_sample": sample,
        "placed_vs_full_fit": knn_agreement(sampled, full, placed),
        "full_fit_vs_reseeded_full_fit": knn_agreement(reseeded, full, placed),
        "chance": knn_agreement(chance, full, placed),
    }
    print(out["agreement"], flush=True)

    from mmdemo.inference.model import load_model
    from mmdemo.schema import MODALITIES

    model = load_model(args.checkpoint, "cpu")
    samples = one_per_person(args.data, args.embed_people)
    t = time.perf_counter()
    model.read(samples, [MODALITIES], batch_size=128)
    rate = len(samples) / (time.perf_counter() - t)
    out["embed_people_per_s"] = rate
    out["embed_hours_for_people"] = args.people / rate / 3600

    table = gallery.table.iloc[np.arange(args.people) % len(gallery.table)].reset_index(drop=True)
    table = table.assign(id=[f"p{i}" for i in range(args.people)], x2=coords[:, 0], y2=coords[:, 1])
    table = with_hover_text(table.drop(columns=["hover"], errors="ignore"))
    t = time.perf_counter()
    figure_json = map_figure(table, "emotion", 2).to_json()
    out["map_figure_s"] = time.perf_counter() - t
    out["map_payload_mb"] = len(figure_json) / 1e6
    if args.write_checkpoint:
        write_checkpoint(args.checkpoint, args.write_checkpoint, table, people, coords)
    print(json.dumps(out, indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
