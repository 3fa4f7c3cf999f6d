"""Files handed to the browser: generated faces and voices, gallery faces, and the session's samples
as Parquet.

Every generated file is written under a fresh unique name in a folder of the system's temporary
directory and swept after a minute: Gradio serves its own copy, so ours need not outlive the response.
Gallery faces are the exception (`gallery_face_file`): static, named by their content."""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

SCRATCH = Path(tempfile.gettempdir()) / "mmdemo-outputs"
WEBP_QUALITY = 85  # faces and heatmaps look the same as the PNGs at this quality
DOWNLOADS = Path(tempfile.gettempdir()) / "mmdemo-downloads"
# Gallery faces the page shows as neighbours, one file per face, served by Gradio as static files
GALLERY_FACES = Path(tempfile.gettempdir()) / "mmdemo-gallery-faces"


def serve_gallery_faces() -> None:
    """Registers `GALLERY_FACES` with Gradio as static: files there are served as they are, never
    hashed and copied into its cache per response. It holds nothing but gallery faces."""
    import gradio as gr

    GALLERY_FACES.mkdir(exist_ok=True)
    gr.set_static_paths([GALLERY_FACES])


def gallery_face_file(jpeg: bytes) -> str:
    """A gallery person's face (the gallery's JPEG) for the page, as WebP at its own resolution, named by
    its content: written the first time it is shown, then the same file at the same address every
    time, so an analysis neither encodes nor copies it again and the browser keeps the one it loaded
    (a person's neighbours change little between two analyses). A concurrent first write is atomic."""
    path = GALLERY_FACES / f"{hashlib.sha256(jpeg).hexdigest()[:32]}.webp"
    if not path.is_file():
        import cv2

        GALLERY_FACES.mkdir(exist_ok=True)
        rgb = cv2.cvtColor(cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        part = path.with_name(f".{path.stem}.{threading.get_ident()}.webp")
        write_picture(part, rgb)
        os.replace(part, path)
    return str(path)


_last_sweep: dict[Path, float] = {}


def sweep(folder: Path, max_age_s: float = 60.0, every_s: float = 10.0) -> None:
    """Creates `folder` and removes its files older than `max_age_s`, at most once every `every_s`
    (an analysis writes a dozen files: listing the folder for each cost 5 ms a file under load).
    Several requests may sweep at once."""
    folder.mkdir(exist_ok=True)
    now = time.time()
    if now - _last_sweep.get(folder, 0.0) < every_s:
        return
    _last_sweep[folder] = now
    for old in folder.iterdir():
        try:
            if now - old.stat().st_mtime > max_age_s:
                old.unlink()
        except FileNotFoundError:  # another request swept it first
            pass


def as_file(value, suffix: str) -> str:
    """Writes a generated face (RGB array) or voice ((sr, samples)) to a uniquely named file.

    Gradio caches returned arrays under a hash of their content and rewrites that file for every
    request, so two users receiving byte-identical output could download a half-written file.
    A unique file name gives each response its own cached copy. Files older than a minute go:
    Gradio serves its own copy."""
    sweep(SCRATCH)
    path = SCRATCH / f"{time.time_ns()}_{threading.get_ident()}{suffix}"
    if suffix == ".wav":
        from mmdemo.audio import write_wav

        write_wav(path, value[1])
    else:
        write_picture(path, value)
    return str(path)


def write_picture(path: Path, rgb: np.ndarray) -> None:
    """PNG (lossless, for API clients) or WebP (for the page: its fastest method, 4 ms for 256 px
    against OpenCV's 12 ms, and 1/15 of the PNG's bytes)."""
    if path.suffix == ".webp":
        from PIL import Image

        Image.fromarray(rgb).save(path, format="WEBP", quality=WEBP_QUALITY, method=0)
    else:
        import cv2

        cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def image_file(image, suffix: str = ".png") -> str | None:
    """A face shown at display size as a file of its own; None stays None (that view is empty)."""
    if image is None:
        return None
    from mmdemo.serving.service import upscale

    return as_file(upscale(image), suffix)


def compact_image_file(image, size: int | None = None) -> str | None:
    """A picture for the page, as lossy WebP at its own resolution (or shrunk to `size` pixels): the
    browser scales it to the view, so a 64-px face is ~0.5 KB, not the ~33 KB of its 256-px PNG (the
    page receives a dozen pictures per analysis). API endpoints keep `image_file`'s lossless PNG."""
    if image is None:
        return None
    if size is not None and image.shape[0] > size:
        import cv2

        image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
    return as_file(image, ".webp")


def samples_parquet(points: list[dict]) -> str:
    """The session's added points (label and 2D/3D map coordinates) as a Parquet file; returns its path."""
    import pandas as pd

    table = pd.DataFrame(
        [
            {
                "label": p["label"],
                "x": p["coords"][0],
                "y": p["coords"][1],
                "x3": p["coords"][2],
                "y3": p["coords"][3],
                "z3": p["coords"][4],
            }
            for p in points
        ]
    )
    sweep(DOWNLOADS)
    path = DOWNLOADS / f"my_samples_{time.time_ns()}.parquet"
    table.to_parquet(path, index=False)
    return str(path)
