"""Frozen real-world features of a dataset's samples, computed once and cached beside the data.

dlib's face descriptor costs about 0.1 s an image on a laptop core, far too slow to run per
training step, and frozen networks give the same answer every epoch, so each sample's features
are computed once (from the stored file, before augmentation, exactly as the app computes them from
the photo it is given: the same face detection and framing) and kept in
`<dataset>/features/<kind>.safetensors`, keyed by sample id, a hash of the file's bytes and the
recipe that computed them. A changed file, or features from an older recipe, are read again; an
interrupted run keeps what it finished (the cache is saved every minute, atomically).
The face cache also keeps where the face was found (`framing`), so the crop the app's image
encoder sees can be cut again without running the detectors (`cached_face_crops`).
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from mmdemo.data.loaders import Sample, load_audio
from mmdemo.data.preprocess import PreparedImage, crop_face, prepare_image
from mmdemo.extractors import face, speaker

KINDS = {"face": face.FEATURE_DIM, "speaker": speaker.EMBEDDING_DIM}
# what computed a kind's cached features; a cache row from another recipe is stale. face "app":
# detected and framed by the app's own `prepare_image` (HOG, Haar, then the CNN detector on small
# crops), so training reads the features analyze reads (before it, ~a fifth of real faces differed);
# "app2": the CNN detector tries small crops at 160 px, not 120 (rows of "app" are computed again)
RECIPES = {"face": "app2", "speaker": ""}
# an update saves at most this often: the cache is rewritten whole, and a 200,000-row table is ~0.4 GB
SAVE_SECONDS = 60.0
SPEECH_BATCH = 64  # clips embedded together
# per face row: (1, x, y, w, h) of the face box the app crops around, (1, -1, -1, -1, -1) when no
# face was found (the app then takes the centre square); rows cached before framing was kept lack it
FRAMING_DIM = 5


def _read_rgb(path: str | Path) -> np.ndarray:
    import cv2

    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"cannot read image {path}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def face_features_of_file(path: str | Path) -> np.ndarray:
    """(FEATURE_DIM,) features of the face in an image file, found and framed as the app does."""
    return features_of_face(prepare_image(_read_rgb(path)))


def _face_reading_of_file(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """The features of the face in an image file and its (FRAMING_DIM,) framing."""
    prepared = prepare_image(_read_rgb(path))
    box = prepared.box if prepared.box is not None else (-1, -1, -1, -1)
    return features_of_face(prepared), np.array([1, *box], np.float32)


def features_of_face(prepared: PreparedImage) -> np.ndarray:
    """(FEATURE_DIM,) features of a prepared photo's face, as `MultimodalModel.analyze` reads them:
    in dlib's tight framing when a detector found it, else the whole image as one tight crop."""
    return face.read_face(prepared.image, prepared.tight_box if prepared.face_found else None).features


def _pool(workers: int) -> ProcessPoolExecutor:
    """Worker processes started afresh ("spawn"), each running torch on one thread. A forked worker
    inherits the parent's torch thread pool, which hangs the first time the worker uses it once the
    parent has (a cache update with two workers after one in-process stalled in `torch.stft`); and the
    workers already fill the cores between them."""
    return ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context("spawn"), initializer=_one_thread
    )


def _one_thread() -> None:
    torch.set_num_threads(1)


def _read_clip(path: str) -> np.ndarray:
    return load_audio(
        Sample(id="", split="", person_id="", image=None, text=None, audio=Path(path), attrs={})
    )


def _embedded_speech(paths: Sequence[str], pool: ProcessPoolExecutor | None, batch: int = SPEECH_BATCH):
    """Speaker embeddings of the clips at `paths`, in order: clips are decoded by the pool's workers
    (when there is a pool) and embedded here a batch at a time. One clip's few partials leave the
    LSTM's matrix products nearly empty (`speaker.embed_speeches`), and workers each running torch on
    every core oversubscribe a small machine: a trial with two such workers slowed from ~40 clips a
    second to ~5."""
    for start in range(0, len(paths), batch):
        chunk = paths[start : start + batch]
        waves = list(pool.map(_read_clip, chunk)) if pool else [_read_clip(p) for p in chunk]
        yield from speaker.embed_speeches(waves)


def _file_key(path: Path, kind: str) -> str:
    # the content, not the modification time: a copied or rebuilt folder keeps its cache
    digest = hashlib.blake2b(path.read_bytes(), digest_size=16).hexdigest()
    return f"{RECIPES[kind]}:{digest}" if RECIPES[kind] else digest


class FeatureTable:
    """id -> cached feature vector of one kind for one dataset folder."""

    def __init__(self, root: str | Path, kind: str):
        if kind not in KINDS:
            raise ValueError(f"unknown feature kind {kind!r}; choose one of {', '.join(KINDS)}")
        self.path = Path(root) / "features" / f"{kind}.safetensors"
        self.kind = kind
        self.rows: dict[str, tuple[str, np.ndarray]] = {}
        self.framing: dict[str, np.ndarray] = {}  # face kind: id -> (FRAMING_DIM,), rows that have it
        if self.path.is_file():
            tensors = load_file(self.path)
            meta = json.loads(tensors["_index"].numpy().tobytes().decode())
            values = tensors["values"].numpy()
            self.rows = {i: (k, values[j]) for j, (i, k) in enumerate(zip(meta["ids"], meta["keys"]))}
            if "framing" in tensors:
                framing = tensors["framing"].numpy()
                self.framing = {i: framing[j] for j, i in enumerate(meta["ids"]) if framing[j, 0] == 1}

    def get(self, sample_id: str) -> np.ndarray | None:
        """The cached features of a sample (fresh or not: `update` first to refresh them)."""
        row = self.rows.get(sample_id)
        return None if row is None else row[1]

    def save(self) -> None:
        ids = sorted(self.rows)
        index = json.dumps({"ids": ids, "keys": [self.rows[i][0] for i in ids]}).encode()
        values = np.stack([self.rows[i][1] for i in ids]) if ids else np.zeros((0, KINDS[self.kind]))
        tensors = {
            "values": torch.from_numpy(values.astype(np.float32)),
            "_index": torch.frombuffer(bytearray(index), dtype=torch.uint8),
        }
        if self.kind == "face":
            unknown = np.zeros(FRAMING_DIM, np.float32)
            framing = [self.framing.get(i, unknown) for i in ids]
            tensors["framing"] = torch.from_numpy(np.stack(framing) if ids else np.zeros((0, FRAMING_DIM)))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        save_file(tensors, tmp)
        os.replace(tmp, self.path)

    def update(self, samples: Sequence[Sample], *, workers: int = 1, progress: bool = False) -> int:
        """Computes the features of every sample that lacks fresh ones; returns how many it computed."""
        todo = []
        for s in samples:
            path = s.image if self.kind == "face" else s.audio
            if path is None:
                continue
            key = _file_key(Path(path), self.kind)
            if self.rows.get(s.id, ("",))[0] != key or (self.kind == "face" and s.id not in self.framing):
                todo.append((s.id, key, str(path)))
        if not todo:
            return 0
        paths = [p for _, _, p in todo]
        bar = tqdm(total=len(todo), desc=f"{self.kind} features", disable=not progress)
        pool = _pool(workers) if workers > 1 else None
        if self.kind == "face":
            results = (
                pool.map(_face_reading_of_file, paths, chunksize=16)
                if pool
                else map(_face_reading_of_file, paths)
            )
        else:
            results = _embedded_speech(paths, pool)
        saved = time.monotonic()
        try:
            for (sid, key, _), result in zip(todo, results):
                vec = result
                if self.kind == "face":
                    vec, self.framing[sid] = result
                self.rows[sid] = (key, np.asarray(vec, dtype=np.float32))
                bar.update()
                if time.monotonic() - saved >= SAVE_SECONDS:
                    self.save()
                    saved = time.monotonic()
        finally:
            if pool:
                pool.shutdown(cancel_futures=True)
            self.save()
            bar.close()
        return len(todo)

    def stacked(self, samples: Sequence[Sample]) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, dim) features in `samples` order (zeros where missing) and (N,) bool presence."""
        vecs = [self.get(s.id) for s in samples]
        values = torch.zeros(len(samples), KINDS[self.kind])
        for i, v in enumerate(vecs):
            if v is not None:
                values[i] = torch.from_numpy(v)
        return values, torch.tensor([v is not None for v in vecs])


def dataset_root(path: str | Path) -> Path | None:
    """The dataset folder a sample's file belongs to (where metadata.csv is), or None."""
    return next((p for p in Path(path).parents if (p / "metadata.csv").is_file()), None)


_OPEN: dict[Path, tuple[tuple[int, int], FeatureTable]] = {}  # cache file -> (its stamp, the table)


def open_table(root: Path, kind: str) -> FeatureTable:
    """The folder's FeatureTable of `kind`, read from disk once while its file stays the same: callers
    ask a batch at a time, and reading a 200,000-row cache for every batch of a gallery took longer
    than the model."""
    path = Path(root) / "features" / f"{kind}.safetensors"
    try:
        stat = path.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
    except FileNotFoundError:
        stamp = (0, 0)
    found = _OPEN.get(path)
    if found is None or found[0] != stamp:
        if len(_OPEN) >= 8:  # a process reads a handful of folders; don't keep stale ones forever
            _OPEN.clear()
        found = _OPEN[path] = (stamp, FeatureTable(root, kind))
    return found[1]


def cache_features(samples: Sequence[Sample], *, workers: int, progress: bool = False) -> int:
    """Computes into their folders' caches the features of `samples` that lack fresh ones (samples
    outside a dataset folder, or in one this process cannot write to, are left to
    `cached_or_computed`), `workers` processes for the faces;
    returns how many it computed. Readers of whole folders (`gallery`) call it first, so the work is
    spread over every core, written once and picked up again if interrupted."""
    by_root: dict[Path, list[Sample]] = {}
    for s in samples:
        for path in (s.image, s.audio):
            root = dataset_root(path) if path else None
            if root is not None:
                by_root.setdefault(root, []).append(s)
                break
    done = 0
    for root, mine in by_root.items():
        cache = root / "features"
        if not os.access(cache if cache.is_dir() else root, os.W_OK):
            continue  # a read-only folder: its samples are read as they come, as before
        for kind in KINDS:
            done += open_table(root, kind).update(mine, workers=workers, progress=progress)
    return done


def _cached_rows(samples: Sequence[Sample], kind: str):
    """Per sample: its file, its folder's FeatureTable of `kind` (None outside a dataset folder) and
    whether the table's row is fresh."""
    tables: dict[Path, FeatureTable] = {}
    for s in samples:
        path = Path(s.image if kind == "face" else s.audio)
        root = dataset_root(path)
        if root is not None and root not in tables:
            tables[root] = open_table(root, kind)
        table = tables.get(root)
        row = table.rows.get(s.id) if table is not None else None
        yield path, table, row is not None and row[0] == _file_key(path, kind)


def cached_or_computed(samples: Sequence[Sample], kind: str, *, waves: Sequence | None = None) -> np.ndarray:
    """(N, dim) features of dataset samples: from their folder's cache where it is fresh, computed
    otherwise (`waves`: the clips already loaded, if any)."""
    out = np.zeros((len(samples), KINDS[kind]), np.float32)
    missing = []  # voices to embed, together
    for i, (s, (path, table, fresh)) in enumerate(zip(samples, _cached_rows(samples, kind))):
        if fresh:
            out[i] = table.rows[s.id][1]
        elif kind == "face":
            out[i] = face_features_of_file(path)
        else:
            missing.append(i)
    if missing:
        clips = [waves[i] if waves is not None else load_audio(samples[i]) for i in missing]
        out[missing] = speaker.embed_speeches(clips)
    return out


def cached_face_crops(samples: Sequence[Sample], size: int = 64) -> np.ndarray:
    """(N, size, size, 3) uint8: each sample's face cropped as the app crops it (`prepare_image`),
    cut around the framing its folder's cache keeps where it is fresh, detected again otherwise."""
    out = np.zeros((len(samples), size, size, 3), np.uint8)
    for i, (s, (path, table, fresh)) in enumerate(zip(samples, _cached_rows(samples, "face"))):
        framing = table.framing.get(s.id) if fresh else None
        rgb = _read_rgb(path)
        if framing is not None:
            box = None if framing[1] < 0 else tuple(int(v) for v in framing[1:])
            out[i] = crop_face(rgb, box, size)
        else:
            out[i] = prepare_image(rgb, size).crop
    return out
