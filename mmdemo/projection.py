"""The map: a gallery of held-out people embedded, laid out by UMAP, and a
parametric projector that places a new embedding on that layout in microseconds.

UMAP is fit once, offline (it compiles for seconds in every new process); a
small MLP regresses its 2D and 3D coordinates from the embedding and is what
the app runs per request. Stored beside the checkpoint in `gallery/`:
    gallery.parquet        one row per person: ids, description, attributes, voice
                           parameters, embedding, umap2/umap3 coordinates, face (JPEG bytes)
    projector.safetensors  the MLP; projector.json its sizes and the UMAP settings
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import torch
from torch import nn

from . import checkpoint as ckpt
from .schema import NAMES

log = logging.getLogger(__name__)
GALLERY_DIR = "gallery"


class Projector(nn.Module):
    """Embedding (Z) -> 2D and 3D map coordinates."""

    def __init__(self, latent_dim: int, hidden: int = 256):
        super().__init__()
        self.register_buffer("mean", torch.zeros(latent_dim))
        self.register_buffer("std", torch.ones(latent_dim))
        self.net = nn.Sequential(nn.Linear(latent_dim, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU(),
                                 nn.Linear(hidden, 5))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net((z - self.mean) / self.std)       # (B, 5): x2, y2, x3, y3, z3


def fit_umap(embeddings: np.ndarray, *, n_components: int, n_neighbors: int = 15, min_dist: float = 0.1,
             seed: int = 0) -> np.ndarray:
    """UMAP layout, reproducible across processes (PCA init; spectral init is not)."""
    import umap
    reducer = umap.UMAP(n_components=n_components, n_neighbors=n_neighbors, min_dist=min_dist,
                        metric="cosine", init="pca", random_state=seed)
    return reducer.fit_transform(embeddings).astype(np.float32)


def fit_projector(embeddings: np.ndarray, coords: np.ndarray, *, epochs: int = 600, seed: int = 0) -> Projector:
    """Regresses the layout from the embedding (full-batch Adam; thousands of points take seconds)."""
    torch.manual_seed(seed)
    x, y = torch.from_numpy(embeddings).float(), torch.from_numpy(coords).float()
    proj = Projector(x.shape[1])
    proj.mean.copy_(x.mean(0))
    proj.std.copy_(x.std(0).clamp_min(1e-4))
    opt = torch.optim.Adam(proj.parameters(), lr=3e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    for _ in range(epochs):
        loss = nn.functional.smooth_l1_loss(proj(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return proj.eval()


@dataclass
class Gallery:
    table: "pandas.DataFrame"       # noqa: F821 - one row per person (see module docstring)
    embeddings: np.ndarray          # (N, Z) float32, L2-normalised for neighbour search
    projector: Projector

    @torch.no_grad()
    def place(self, z: np.ndarray) -> np.ndarray:
        """(B, Z) embeddings -> (B, 5) map coordinates (x2, y2, x3, y3, z3)."""
        return self.projector(torch.as_tensor(np.atleast_2d(z), dtype=torch.float32)).numpy()

    def neighbours(self, z: np.ndarray, k: int = 8) -> list[tuple[int, float]]:
        """Rows of the k most similar gallery people (cosine similarity)."""
        q = np.asarray(z, np.float32)
        q = q / (np.linalg.norm(q) + 1e-9)
        sims = self.embeddings @ q
        top = np.argsort(-sims)[:k]
        return [(int(i), float(sims[i])) for i in top]

    def face(self, row: int) -> np.ndarray:
        data = np.frombuffer(self.table.iloc[row]["face_jpeg"], np.uint8)
        return cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def load_gallery(checkpoint: str | Path) -> Gallery:
    import pandas as pd
    folder = Path(checkpoint) / GALLERY_DIR
    path = folder / "gallery.parquet"
    if not path.is_file():
        raise ckpt.CheckpointError(f"{path} is missing; build it with "
                                   f"`python -m mmdemo gallery --checkpoint {checkpoint} --data DIR`")
    table = pd.read_parquet(path)
    emb = np.stack(table["embedding"].to_numpy()).astype(np.float32)
    meta = ckpt.read_json(folder / "projector.json")
    proj = Projector(int(meta["latent_dim"]), int(meta["hidden"]))
    ckpt.load_state_into(proj, ckpt.read_tensors(folder / "projector.safetensors"), folder / "projector.safetensors")
    return Gallery(table, emb / (np.linalg.norm(emb, axis=1, keepdims=True) + 1e-9), proj.eval())


def pca_layout(embeddings: np.ndarray, n_components: int) -> np.ndarray:
    """A linear layout in milliseconds: for quick previews and tests, where UMAP's compile time hurts."""
    x = embeddings - embeddings.mean(0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    return (x @ vt[:n_components].T).astype(np.float32)


def build_gallery(checkpoint: str | Path, data: str | Path, *, people: int = 2500, device: str = "auto",
                  n_neighbors: int = 15, min_dist: float = 0.1, seed: int = 0, layout: str = "umap",
                  progress: Callable[[str], None] | None = None) -> Path:
    """Embeds one sample per person of `data` (all three inputs), lays them out and fits the projector.

    layout: "umap" (the map users see) or "pca" (fast, linear; for previews and tests)."""
    if layout not in ("umap", "pca"):
        raise ValueError(f"unknown layout {layout!r}; use umap or pca")
    import pandas as pd
    from .dataset import load_audio, load_image, open_samples
    from .inference import load_fusion_model

    say = progress or (lambda msg: log.info(msg))
    model = load_fusion_model(checkpoint, device)
    seen, samples = set(), []
    for s in open_samples(data):
        if s.person_id not in seen and s.image and s.text and s.audio:
            seen.add(s.person_id)
            samples.append(s)
    samples = samples[:people]
    if len(samples) < 50:
        raise ValueError(f"{data} has only {len(samples)} people with all three inputs; a map needs at least 50")
    say(f"embedding {len(samples)} people")
    images = np.stack([load_image(s) for s in samples])
    embs = []
    for i in range(0, len(samples), 256):
        chunk = samples[i:i + 256]
        enc = model.encode_inputs(images[i:i + 256], [s.text for s in chunk], [load_audio(s) for s in chunk])
        embs.append(model.fuse(enc).mu.float().cpu().numpy())
    emb = np.concatenate(embs)
    say(f"laying out the map ({layout}, 2D and 3D)")
    if layout == "umap":
        coords = np.concatenate([fit_umap(emb, n_components=2, n_neighbors=n_neighbors, min_dist=min_dist, seed=seed),
                                 fit_umap(emb, n_components=3, n_neighbors=n_neighbors, min_dist=min_dist, seed=seed)], 1)
    else:
        coords = np.concatenate([pca_layout(emb, 2), pca_layout(emb, 3)], 1)
    say("fitting the projector")
    proj = fit_projector(emb, coords, seed=seed)
    table = pd.DataFrame({
        "id": [s.id for s in samples], "person_id": [s.person_id for s in samples],
        "description": [s.text for s in samples],
        **{n: [s.attrs.get(n, "") for s in samples] for n in NAMES},
        **{k: [s.voice.get(k, "") for s in samples] for k in ("voice_variant", "voice_pitch", "voice_rate",
                                                            "voice_range", "voice_volume", "voice_text")},
        "embedding": list(emb), "x2": coords[:, 0], "y2": coords[:, 1],
        "x3": coords[:, 2], "y3": coords[:, 3], "z3": coords[:, 4],
        "face_jpeg": [cv2.imencode(".jpg", cv2.cvtColor(im, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 88])[1].tobytes()
                      for im in images]})
    folder = Path(checkpoint) / GALLERY_DIR
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / ".gallery.parquet.tmp"
    table.to_parquet(tmp, index=False)
    tmp.replace(folder / "gallery.parquet")
    ckpt.atomic_save_tensors(folder / "projector.safetensors", proj.state_dict())
    ckpt.atomic_write_json(folder / "projector.json", {"latent_dim": int(emb.shape[1]), "hidden": 256,
                                                       "n_neighbors": n_neighbors, "min_dist": min_dist,
                                                       "seed": seed, "people": len(samples), "data": str(data),
                                                       "layout": layout})
    return folder
