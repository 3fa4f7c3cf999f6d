"""The map: a gallery of held-out people embedded and laid out by UMAP, and a
placement that puts a new embedding on that layout in microseconds.

UMAP is fit once, offline (it compiles for seconds in every new process). A new
point is placed where its nearest gallery people are: the softmax-weighted mean
of the map coordinates of its k most cosine-similar gallery embeddings. That is
how umap-learn's own `transform` starts before refining; measured against that
`transform` (`python -m mmdemo bench`, docs/bench-cpu2.json), it shares 0.57 of
the 10 nearest map neighbours, while umap-learn under another transform seed
shares 0.69 with itself. Stored beside the checkpoint in `gallery/`:
    gallery.parquet   one row per person: ids, description, attributes, voice parameters,
                      embedding, 2D/3D UMAP coordinates (x2 y2 / x3 y3 z3), face (JPEG bytes)
    layout.json       how the layout was made (UMAP settings, data, people)
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import cv2
import numpy as np

from mmdemo import checkpoint as ckpt
from mmdemo.runtime import Distributed
from mmdemo.schema import NAMES

log = logging.getLogger(__name__)
GALLERY_DIR = "gallery"
LAYOUT_FILE = "layout.json"
COORDS = ("x2", "y2", "x3", "y3", "z3")
PLACE_NEIGHBOURS = 10  # gallery people a new point is placed among
PLACE_TEMPERATURE = 0.03  # softmax temperature over their cosine similarities (best of 0.01-0.1 measured)
PLACE_CUTOFF = 0.1  # cosine similarity below the best match beyond which a person cannot weigh in
FIT_SAMPLE = 20_000  # past this many people UMAP is fit on a sample and the rest placed among them
PLACE_BATCH = 1024  # points placed per similarity matrix (1024 x 20k floats: 80 MB)
# From this many points umap-learn looks for neighbours with pynndescent, whose numba compilation
# alone takes ~30 s in each fresh process; the map finds them exactly itself instead (~1 s at 20,000).
OWN_NEIGHBOURS_FROM = 4096


def umap_reducer(*, n_components: int, n_neighbors: int = 15, min_dist: float = 0.1, seed: int = 0):
    """The map's UMAP settings, reproducible across processes (PCA init; spectral init is not)."""
    import umap

    return umap.UMAP(
        n_components=n_components,
        n_neighbors=n_neighbors,
        min_dist=min_dist,
        metric="cosine",
        init="pca",
        random_state=seed,
    )


def fit_umap(
    embeddings: np.ndarray,
    *,
    n_components: int,
    n_neighbors: int = 15,
    min_dist: float = 0.1,
    seed: int = 0,
    neighbours: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """UMAP layout of `embeddings`, (N, n_components) float32. neighbours: each point's exact
    `n_neighbors` nearest (`nearest_neighbours`), given so that UMAP does not search for them."""
    import warnings

    reducer = umap_reducer(n_components=n_components, n_neighbors=n_neighbors, min_dist=min_dist, seed=seed)
    if neighbours is not None:
        reducer.precomputed_knn = (*neighbours, None)
    with warnings.catch_warnings():  # "n_jobs overridden by random_state"; "no search index" (unused)
        warnings.filterwarnings("ignore", message=".*(random_state|knn_search_index).*", category=UserWarning)
        return reducer.fit_transform(embeddings).astype(np.float32)


def nearest_neighbours(embeddings: np.ndarray, k: int, block: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Each point's k nearest by cosine, itself first: ((N, k) int64 indices, (N, k) float32 cosine
    distances), exact, a block of rows at a time (4096 x N similarities in memory)."""
    import torch

    unit = torch.from_numpy(_unit_rows(embeddings))
    indices, distances = np.empty((len(unit), k), np.int64), np.empty((len(unit), k), np.float32)
    for start in range(0, len(unit), block):
        sims = unit[start : start + block] @ unit.T
        rows = torch.arange(len(sims))
        sims[rows, rows + start] = 2.0  # itself first even among identical points
        top = sims.topk(min(k, len(unit)), dim=1)
        indices[start : start + block] = top.indices.numpy()
        distances[start : start + block] = (1 - top.values).clamp_(min=0).numpy()
    return indices, distances


@dataclass
class Gallery:
    table: pandas.DataFrame  # noqa: F821 - one row per person (see module docstring)
    embeddings: np.ndarray  # (N, Z) float32, L2-normalised for neighbour search
    coords: np.ndarray  # (N, 5) float32: x2, y2, x3, y3, z3
    k: int = PLACE_NEIGHBOURS
    temperature: float = PLACE_TEMPERATURE

    def similarities(self, z: np.ndarray) -> np.ndarray:
        """(B, Z) or (Z,) embeddings -> (B, N) cosine similarity to every gallery person."""
        q = np.atleast_2d(np.asarray(z, np.float32))
        return (q / (np.linalg.norm(q, axis=1, keepdims=True) + 1e-9)) @ self.embeddings.T

    def place(self, z: np.ndarray) -> np.ndarray:
        """(B, Z) embeddings -> (B, 5) map coordinates (x2, y2, x3, y3, z3) among their nearest people."""
        similarities = self.similarities(z)
        out = np.empty((len(similarities), self.coords.shape[1]), np.float32)
        for i, sims in enumerate(similarities):
            # Only people within PLACE_CUTOFF of the best match can weigh in (beyond it a weight is < 4% of
            # the best's); selecting the k nearest among those few is 5x faster than among all.
            near = np.flatnonzero(sims >= sims.max() - PLACE_CUTOFF)
            if len(near) > self.k:
                near = near[np.argpartition(-sims[near], self.k - 1)[: self.k]]
            w = np.exp((sims[near] - sims[near].max()) / self.temperature)
            out[i] = (w / w.sum()) @ self.coords[near]
        return out

    def neighbours(self, z: np.ndarray, k: int = 8) -> list[tuple[int, float]]:
        """Rows of the k most similar gallery people (cosine similarity)."""
        sims = self.similarities(z)[0]
        top = np.argpartition(-sims, k - 1)[:k] if len(sims) > k else np.arange(len(sims))
        top = top[np.argsort(-sims[top], kind="stable")]  # a full sort of 200,000 took 15 ms
        return [(int(i), float(sims[i])) for i in top]

    def face(self, row: int) -> np.ndarray:
        # one cell, not `iloc[row]`: a whole row (embedding, every attribute) cost 0.4 ms a face
        data = np.frombuffer(self.table["face_jpeg"].iat[row], np.uint8)
        return cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def load_gallery(checkpoint: str | Path) -> Gallery:
    import pandas as pd

    folder = Path(checkpoint) / GALLERY_DIR
    path = folder / "gallery.parquet"
    if not path.is_file():
        raise ckpt.CheckpointError(
            f"{path} is missing; build it with "
            f"`python -m mmdemo gallery --checkpoint {checkpoint} --data DIR`"
        )
    table = pd.read_parquet(path)
    missing = [c for c in ("embedding", *COORDS) if c not in table.columns]
    if missing:
        raise ckpt.CheckpointError(
            f"{path} lacks the columns {', '.join(missing)}; rebuild it with "
            f"`python -m mmdemo gallery --checkpoint {checkpoint} --data DIR`"
        )
    emb = np.stack(table["embedding"].to_numpy()).astype(np.float32)
    return Gallery(table, _unit_rows(emb), table[list(COORDS)].to_numpy(np.float32))


def pca_layout(embeddings: np.ndarray, n_components: int) -> np.ndarray:
    """A linear layout in milliseconds: for quick previews and tests, where UMAP's compile time hurts."""
    x = embeddings - embeddings.mean(0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    return (x @ vt[:n_components].T).astype(np.float32)


VOICE_COLUMNS = ("voice_variant", "voice_pitch", "voice_rate", "voice_range", "voice_volume", "voice_text")


def build_gallery(
    checkpoint: str | Path,
    data: str | Path,
    *,
    people: int = 2500,
    device: str = "auto",
    n_neighbors: int = 15,
    min_dist: float = 0.1,
    seed: int = 0,
    layout: str = "umap",
    fit_sample: int = FIT_SAMPLE,
    features: bool = True,
    progress: Callable[[str], None] | None = None,
    bar: bool = False,
    dd: Distributed = Distributed(),
) -> Path | None:
    """Embeds one sample per person of `data` (all three inputs) and lays them out.

    layout: "umap" (the map users see) or "pca" (fast, linear; for previews and tests). Past
    `fit_sample` people, UMAP is fit on that many (a seeded random choice) and everyone else is placed
    among them as the app places a new point. bar: progress bars. Under torchrun (`dd`) every process
    embeds a share of the people and the main process lays out and writes the map (the others return
    None). features: False embeds people as the live view reads a camera frame, without the frozen
    extractors (dlib's detectors and descriptor, the speaker encoder), which are most of the time a
    person takes; the map then places everyone a little differently from `analyze`."""
    if layout not in ("umap", "pca"):
        raise ValueError(f"unknown layout {layout!r}; use umap or pca")
    from mmdemo.inference.model import load_model

    say = progress or (lambda msg: log.info(msg))
    model = load_model(checkpoint, device)
    model.reads_features = model.reads_features and features  # embed_people reads no features without
    samples = one_per_person(data, people)
    if model.reads_features:
        precompute_features(samples, dd, say=say if dd.main else None, bar=bar)
    if dd.main:
        say(f"embedding {len(samples)} people" + (f" in {dd.world} processes" if dd.active else ""))
    people_table = embed_people(model, samples, dd, bar=bar and dd.main)
    if people_table is None:
        return None
    emb = np.stack(people_table["embedding"].to_numpy()).astype(np.float32)
    say(f"laying out the map ({layout}, 2D and 3D)")
    settings = {"n_neighbors": n_neighbors, "min_dist": min_dist, "seed": seed}
    coords = map_layout(emb, layout, fit_sample=fit_sample, bar=bar, **settings)
    folder = Path(checkpoint) / GALLERY_DIR
    table = gallery_table(samples, people_table["face_jpeg"].tolist(), emb, coords)
    ckpt.atomic_write_parquet(folder / "gallery.parquet", table)
    for old in ("projector.safetensors", "projector.json"):  # the regressor earlier versions wrote
        (folder / old).unlink(missing_ok=True)
    meta = {"latent_dim": int(emb.shape[1]), **settings, "people": len(samples), "data": str(data)}
    meta["features"] = model.reads_features
    if layout == "umap" and len(samples) > fit_sample:
        meta["fit_sample"] = fit_sample
    ckpt.atomic_write_json(folder / LAYOUT_FILE, {**meta, "layout": layout})
    return folder


def precompute_features(samples: list, dd: Distributed, *, say=None, bar: bool = False) -> None:
    """The frozen extractors' features of `samples`, computed into their folder's cache by a worker a
    core before the model reads them: dlib holds the interpreter lock, so read a batch at a time they
    kept one core busy, and a second run of the same folder reads them back. Under torchrun each
    process reads its own share's features as it goes instead (the processes already fill the cores,
    and one cache file cannot take several writers)."""
    if dd.active:
        return
    from mmdemo.data.features import cache_features
    from mmdemo.runtime import usable_cores

    done = cache_features(samples, workers=usable_cores(), progress=bar)
    if say is not None and done:
        say(f"read the frozen face and voice features of {done} files into the data folder's cache")


EMBED_BATCH = 128  # people read and fused at a time (and the unit of work shared out under torchrun)


def embed_people(model, samples: list, dd: Distributed, *, bar: bool = False):
    """(embedding, face_jpeg) of each sample (all three inputs fused), read a batch at a time so that a
    large dataset never sits in memory; under torchrun each process does every world-th batch and the
    main process gets them all, in order (the others get None)."""
    import pandas as pd
    from tqdm import tqdm

    from mmdemo.inference.model import Inputs
    from mmdemo.inference.shards import merge_on_main, my_units
    from mmdemo.schema import MODALITIES

    units = [samples[i : i + EMBED_BATCH] for i in range(0, len(samples), EMBED_BATCH)]
    mine = my_units(len(units), dd)
    parts = {}
    load = partial(Inputs.load, features=model.reads_features)  # read once: model and thumbnails
    # the next batch's files are read and decoded on a helper thread while this one is encoded
    with (
        ThreadPoolExecutor(1, thread_name_prefix="mmdemo-load") as reader,
        tqdm(total=sum(len(units[u]) for u in mine), unit="person", desc="embed", disable=not bar) as shown,
    ):
        ahead = reader.submit(load, units[mine[0]]) if mine else None
        for k, u in enumerate(mine):
            inputs = ahead.result()
            if k + 1 < len(mine):
                ahead = reader.submit(load, units[mine[k + 1]])
            # the map needs the latent only: bf16 where native, no attribute evidence
            reading = model.read(inputs, [MODALITIES], batch_size=EMBED_BATCH, bf16=True, evidence=False)
            mu = reading[MODALITIES].mu
            thumbnails = [_jpeg(im) for im in inputs.images]
            parts[u] = pd.DataFrame({"embedding": list(mu.float().cpu().numpy()), "face_jpeg": thumbnails})
            shown.update(len(units[u]))
    return merge_on_main(parts, dd)


def one_per_person(data: str | Path, people: int) -> list:
    """The first sample with face, description and voice of each of the first `people` people."""
    from mmdemo.data.loaders import open_samples

    seen, samples = set(), []
    for s in open_samples(data):
        if s.person_id not in seen and s.image and s.text and s.audio:
            seen.add(s.person_id)
            samples.append(s)
    samples = samples[:people]
    if len(samples) < 50:
        raise ValueError(
            f"{data} has only {len(samples)} people with all three inputs; a map needs at least 50"
        )
    return samples


def map_layout(
    emb: np.ndarray,
    layout: str,
    *,
    n_neighbors: int,
    min_dist: float,
    seed: int,
    fit_sample: int = FIT_SAMPLE,
    bar: bool = False,
) -> np.ndarray:
    """(N, 5) coordinates: a 2D layout then a 3D one of the same embeddings. UMAP's cost grows faster
    than N and its memory with N: past `fit_sample` points it is fit on a seeded random sample of that
    size and every other point is placed where its nearest fitted points lie (`Gallery.place`)."""
    if layout == "pca":
        return np.concatenate([pca_layout(emb, 2), pca_layout(emb, 3)], 1)
    settings = {"n_neighbors": n_neighbors, "min_dist": min_dist, "seed": seed}
    fitted = (
        np.sort(np.random.default_rng(seed).choice(len(emb), fit_sample, replace=False))
        if len(emb) > fit_sample
        else np.arange(len(emb))
    )
    if len(fitted) >= OWN_NEIGHBOURS_FROM:  # found once, for both layouts
        settings["neighbours"] = nearest_neighbours(emb[fitted], n_neighbors)
    layouts = np.concatenate([fit_umap(emb[fitted], n_components=k, **settings) for k in (2, 3)], 1)
    if len(emb) <= fit_sample:
        return layouts
    from tqdm import tqdm

    coords = np.empty((len(emb), len(COORDS)), np.float32)
    coords[fitted] = layouts
    placer = Gallery(None, _unit_rows(emb[fitted]), coords[fitted])
    rest = np.setdiff1d(np.arange(len(emb)), fitted)
    with tqdm(total=len(rest), unit="point", desc="place", disable=not bar) as shown:
        for i in range(0, len(rest), PLACE_BATCH):
            rows = rest[i : i + PLACE_BATCH]
            coords[rows] = placer.place(emb[rows])
            shown.update(len(rows))
    return coords


def _unit_rows(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float32)
    return x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-9)


def _jpeg(image: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 88])[
        1
    ].tobytes()


def gallery_table(samples: list, faces_jpeg: list[bytes], emb: np.ndarray, coords: np.ndarray):
    """One row per person: who they are, what they look and sound like, where they sit on the map."""
    import pandas as pd

    return pd.DataFrame(
        {
            "id": [s.id for s in samples],
            "person_id": [s.person_id for s in samples],
            "description": [s.text for s in samples],
            **{n: [s.attrs.get(n, "") for s in samples] for n in NAMES},
            **{k: [s.voice.get(k, "") for s in samples] for k in VOICE_COLUMNS},
            "embedding": list(emb),
            **{c: coords[:, i] for i, c in enumerate(COORDS)},
            "face_jpeg": faces_jpeg,
        }
    )
