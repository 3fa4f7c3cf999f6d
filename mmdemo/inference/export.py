"""`python -m mmdemo embed`: embeddings out, into the tools people already use.

One row per sample and modality subset (a sample with a face, a description
and a voice gives seven rows: each input alone, each pair, all three), with
the sample's known attributes, the attributes the model predicts from that
subset, the embedding and, when the checkpoint has a map, where the point
lands on it. Written as Parquet; optionally also as TensorFlow Embedding
Projector files (vectors.tsv, metadata.tsv, a sprite of faces, and the
projector configs for the web tool and for TensorBoard).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import cv2
import numpy as np

from mmdemo.inference.shards import merge_on_main, my_units
from mmdemo.runtime import Distributed
from mmdemo.schema import MODALITIES, NAMES, subset_name, subsets_of

log = logging.getLogger(__name__)
BATCH = 128
SPRITE_MAX_SIDE = 8192  # the projector's limit for a sprite image, in pixels


def _available(sample) -> tuple[str, ...]:
    given = {"image": sample.image, "text": sample.text, "voice": sample.audio}
    return tuple(m for m in MODALITIES if given[m])


def embed_dataset(
    checkpoint: str | Path,
    data: str | Path,
    *,
    split: str = "all",
    device: str = "auto",
    limit: int | None = None,
    progress: bool = True,
    dd: Distributed = Distributed(),
):
    """(table, faces): one row per sample and subset, and each row's face (the sample's own, or the one
    the model decodes from the embedding when the sample has none), for the projector's sprite.

    Under torchrun (`dd`) each process embeds every world-th batch and the main process gets the
    merged result, row for row what one process makes; the others get (None, None)."""
    import pandas as pd
    from tqdm import tqdm

    from mmdemo.data.loaders import open_samples
    from mmdemo.inference.model import Inputs, load_model
    from mmdemo.inference.projection import GALLERY_DIR, load_gallery, precompute_features

    model = load_model(checkpoint, device)
    gallery = (
        load_gallery(checkpoint) if (Path(checkpoint) / GALLERY_DIR / "gallery.parquet").is_file() else None
    )
    samples = open_samples(data, split)[:limit]
    if not samples:
        raise ValueError(f"{data} has no samples in split {split!r}")
    if model.reads_features:
        precompute_features(samples, dd, bar=progress and dd.main)
    groups: dict[tuple[str, ...], list] = {}
    for s in samples:
        groups.setdefault(_available(s), []).append(s)
    # the units of work, in the order one process does them: each group's samples, batch by batch
    units = [
        (avail, members[i : i + BATCH])
        for avail, members in groups.items()
        for i in range(0, len(members), BATCH)
    ]
    mine = my_units(len(units), dd)
    bar = tqdm(
        total=sum(len(units[u][1]) for u in mine),
        unit="sample",
        desc="embed",
        disable=not (progress and dd.main),
    )
    parts = {}
    for u in mine:
        available, chunk = units[u]
        # read once: the model's inputs, and each sample's own face for the sprite (images: None without)
        inputs = Inputs.load(chunk, available, features=model.reads_features)
        readings = model.read(inputs, subsets_of(available), batch_size=BATCH)
        own = inputs.images
        rows, faces = [], []
        for subset, r in readings.items():  # a batch's subsets in turn: the order earlier versions wrote
            rows += _subset_rows(model, gallery, chunk, subset, r.mu, r.evidence)
            faces += list(own if own is not None else model.decode_images(r.mu))
        parts[u] = pd.DataFrame(rows).assign(_face=[np.ascontiguousarray(f).tobytes() for f in faces])
        bar.update(len(chunk))
    bar.close()
    table = merge_on_main(parts, dd)
    if table is None:
        return None, None
    side = model.config.image_size
    faces = np.stack([np.frombuffer(b, np.uint8).reshape(side, side, 3) for b in table.pop("_face")])
    if gallery is None:
        log.warning("%s has no map (gallery/); the x/y columns are left out", checkpoint)
    return table, faces


def _subset_rows(model, gallery, samples, subset: tuple[str, ...], mu, evidence) -> list[dict]:
    """The table rows of `samples` embedded (as `mu`, with the readers' `evidence`) from `subset`
    of their inputs."""
    emb = mu.float().cpu().numpy()
    predicted = model.predict_attributes(mu, evidence)
    coords = gallery.place(emb) if gallery is not None else None
    return [
        {
            "id": s.id,
            "person_id": s.person_id,
            "split": s.split,
            "subset": subset_name(subset),
            **{n: s.attrs.get(n, "") for n in NAMES},
            **{f"predicted_{n}": str(predicted[j][n]) for n in NAMES},
            "embedding": emb[j],
            **({"x": float(coords[j, 0]), "y": float(coords[j, 1])} if coords is not None else {}),
        }
        for j, s in enumerate(samples)
    ]


def sprite(faces: np.ndarray) -> tuple[np.ndarray, int]:
    """Faces tiled in a square grid no larger than the projector accepts; returns it and the tile side."""
    n = len(faces)
    per_side = int(np.ceil(np.sqrt(n)))
    tile = int(min(faces.shape[1], SPRITE_MAX_SIDE // per_side))
    if tile < 1:
        raise ValueError(f"{n} points are too many for one sprite image; pass --limit")
    grid = np.full((per_side * tile, per_side * tile, 3), 255, np.uint8)
    for i, face in enumerate(faces):
        r, c = divmod(i, per_side)
        grid[r * tile : (r + 1) * tile, c * tile : (c + 1) * tile] = cv2.resize(
            face, (tile, tile), interpolation=cv2.INTER_AREA
        )
    return grid, tile


def _tsv_cell(value) -> str:
    return " ".join(str(value).split())  # tabs and newlines would break the columns


def write_projector(table, faces: np.ndarray, folder: Path) -> Path:
    """TensorFlow Embedding Projector files: load projector_config.json in the web tool, or point
    TensorBoard's projector at the folder (projector_config.pbtxt)."""
    folder.mkdir(parents=True, exist_ok=True)
    vectors = np.stack(table["embedding"].to_numpy())
    np.savetxt(folder / "vectors.tsv", vectors, delimiter="\t", fmt="%.6g")
    columns = ["id", "subset", *NAMES, *(f"predicted_{n}" for n in NAMES)]
    lines = ["\t".join(columns)] + [
        "\t".join(_tsv_cell(r[c]) or "?" for c in columns) for r in table[columns].to_dict("records")
    ]
    (folder / "metadata.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    image, tile = sprite(faces)
    cv2.imwrite(str(folder / "sprite.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    config = {
        "embeddings": [
            {
                "tensorName": "mmdemo fused embedding",
                "tensorShape": list(vectors.shape),
                "tensorPath": "vectors.tsv",
                "metadataPath": "metadata.tsv",
                "sprite": {"imagePath": "sprite.png", "singleImageDim": [tile, tile]},
            }
        ]
    }
    (folder / "projector_config.json").write_text(json.dumps(config, indent=2) + "\n")
    (folder / "projector_config.pbtxt").write_text(
        'embeddings {\n  tensor_name: "mmdemo fused embedding"\n  tensor_path: "vectors.tsv"\n'
        '  metadata_path: "metadata.tsv"\n  sprite {\n    image_path: "sprite.png"\n'
        f"    single_image_dim: {tile}\n    single_image_dim: {tile}\n  }}\n}}\n"
    )
    return folder
