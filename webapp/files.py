"""Files handed to the browser: generated faces and voices, and the session's samples as Parquet.

Every file is written under a fresh unique name in a folder of the system's temporary directory and
swept after a minute: Gradio serves its own copy, so ours need not outlive the response."""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path

import numpy as np

SCRATCH = Path(tempfile.gettempdir()) / "mmdemo-outputs"
WEBP_QUALITY = 85  # faces and heatmaps look the same as the PNGs at this quality
DOWNLOADS = Path(tempfile.gettempdir()) / "mmdemo-downloads"


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
