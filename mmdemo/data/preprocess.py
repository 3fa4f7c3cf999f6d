"""Turning whatever a person hands over into model inputs, or a clear refusal.

Faces: any common array layout (grey, RGBA, 16-bit, float) -> RGB uint8; the
largest face found by dlib's HOG detector (OpenCV's Haar cascade when dlib is
missing or misses) is cropped with a margin; with no face, the centre square is
used and `face_found` is False. Voices: any rate,
int or float, mono or stereo -> 16 kHz mono float32. Text: trimmed, control
characters removed. Every refusal is a ValueError saying what to do.
"""

from __future__ import annotations

import os
import re
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache

import cv2
import numpy as np

from mmdemo.audio import SAMPLE_RATE, is_silent, raise_quiet_speech, to_mono_16k

MAX_MEGAPIXELS = 40
MIN_SIDE = 16
MAX_TEXT_CHARS = 1000
MAX_AUDIO_SECONDS = 30
# margin around the detected box, per side, as a share of its width: matches the training framing
FACE_MARGIN = 0.4
DETECT_SIDE = 480  # detection runs on a copy no larger than this (speed, same boxes)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


@dataclass
class PreparedImage:
    crop: np.ndarray  # (size, size, 3) uint8: the face as the model sees it
    face_found: bool
    box: tuple[int, int, int, int] | None  # x, y, w, h of the detected face in the original
    warnings: list[str] = field(default_factory=list)
    image: np.ndarray | None = None  # the whole RGB photo, for the frozen face features
    tight_box: tuple[int, int, int, int] | None = None  # the face in dlib's tight framing (brows to chin)


def read_image_file(path) -> np.ndarray:
    """An image file -> array (first frame of an animation). The size is checked from the header,
    before decoding, so a decompression bomb is refused without being unpacked."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            w, h = im.size
            if w * h > MAX_MEGAPIXELS * 1_000_000:
                raise ValueError(
                    f"the image is {w * h / 1e6:.0f} megapixels; the limit is {MAX_MEGAPIXELS}: "
                    f"resize it (a face needs no more than 1000 px a side)"
                )
            im.seek(0)
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                return np.asarray(im).astype(np.uint16 if im.mode.startswith("I;16") else np.int64)
            return np.asarray(im.convert("RGBA" if im.mode in ("RGBA", "LA", "P", "PA") else "RGB"))
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError) as e:
        raise ValueError(
            "the face file is not a readable image (it may be corrupt, truncated or another "
            f"kind of file); upload a PNG or JPEG photo ({type(e).__name__})"
        ) from None


def to_rgb_uint8(image) -> np.ndarray:
    """Any numpy/PIL image, or the path of an image file -> (H, W, 3) uint8 RGB."""
    if isinstance(image, (str, os.PathLike)):
        image = read_image_file(image)
    if hasattr(image, "convert") and hasattr(image, "size"):  # PIL image, without importing PIL
        image = np.asarray(
            image.convert("RGBA") if image.mode in ("RGBA", "LA", "P") else image.convert("RGB")
        )
    arr = np.asarray(image)
    if arr.dtype == object or arr.size == 0:
        raise ValueError("the face is not an image; upload a PNG or JPEG photo")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise ValueError(f"the face has shape {arr.shape}; expected height x width (x 3 or 4 channels)")
    h, w = arr.shape[:2]
    if h * w > MAX_MEGAPIXELS * 1_000_000:
        raise ValueError(
            f"the image is {h * w / 1e6:.0f} megapixels; the limit is {MAX_MEGAPIXELS}: "
            f"resize it (a face needs no more than 1000 px a side)"
        )
    if min(h, w) < MIN_SIDE:
        raise ValueError(
            f"the image is {w}x{h} pixels, too small to show a face; use at least {MIN_SIDE}x{MIN_SIDE}"
        )
    arr = _to_uint8(arr)
    if arr.ndim == 2:
        return cv2.cvtColor(arr, cv2.COLOR_GRAY2RGB)
    if arr.shape[2] == 4:  # composite over white: transparent areas must not turn black
        rgb, alpha = arr[..., :3].astype(np.float32), arr[..., 3:].astype(np.float32) / 255
        return (rgb * alpha + 255 * (1 - alpha)).round().astype(np.uint8)
    return np.ascontiguousarray(arr)


def _to_uint8(arr: np.ndarray) -> np.ndarray:
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == bool:
        return arr.astype(np.uint8) * 255
    if np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all():
            raise ValueError("the image holds NaN or infinite pixel values; save it again as PNG or JPEG")
        scale = 255.0 if arr.max() <= 1.0 else 1.0
        return np.clip(arr * scale, 0, 255).round().astype(np.uint8)
    if np.issubdtype(arr.dtype, np.integer):
        top = 65535 if arr.max() > 255 else 255
        return (np.clip(arr, 0, top).astype(np.float64) * (255.0 / top)).round().astype(np.uint8)
    raise ValueError(f"unsupported pixel type {arr.dtype}; use an 8- or 16-bit PNG or a JPEG")


_DETECT_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def _cascade() -> cv2.CascadeClassifier:
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    if cascade.empty():
        raise RuntimeError("OpenCV's Haar cascade is missing; reinstall opencv-python<5")
    return cascade


# dlib's HOG boxes are tighter and lower than the cascade's: measured on 98 synthetic and real
# faces both found, the cascade's box is 1.09x as wide, its centre 0.07 box-heights higher.
# Boxes are converted to the cascade's framing, which FACE_MARGIN and the training crops assume.
HAAR_PER_HOG_SCALE = 1.09
HAAR_PER_HOG_RISE = 0.07


def hog_to_haar(box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    x, y, w, h = box
    cx, cy = x + w / 2, y + h / 2 - HAAR_PER_HOG_RISE * h
    side_w, side_h = w * HAAR_PER_HOG_SCALE, h * HAAR_PER_HOG_SCALE
    return round(cx - side_w / 2), round(cy - side_h / 2), round(side_w), round(side_h)


def haar_to_hog(box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    x, y, w, h = box
    side_w, side_h = w / HAAR_PER_HOG_SCALE, h / HAAR_PER_HOG_SCALE
    cx, cy = x + w / 2, y + h / 2 + HAAR_PER_HOG_RISE * side_h
    return round(cx - side_w / 2), round(cy - side_h / 2), round(side_w), round(side_h)


def find_face_boxes(rgb: np.ndarray) -> tuple[tuple[int, int, int, int], tuple[int, int, int, int]] | None:
    """(framing box, tight box) of the largest face either detector finds. dlib's HOG detector finds
    real faces in tight crops and small photos that the Haar cascade misses; the cascade finds
    drawn faces HOG misses (a quarter of the synthetic ones). Both run (~10 ms each on a webcam
    frame): when both find the same face the larger framing wins, when they disagree HOG does (the
    cascade fires on collars and flags in real photos); when both miss in a small image, dlib's slower
    CNN detector tries; with dlib absent, the cascade alone."""
    from mmdemo.extractors import face

    candidates = []
    # OpenCV's cascade lets go of the interpreter lock and dlib's HOG does not: the cascade runs on
    # the other core while HOG runs here (~30 ms less a photo on two cores; the same boxes)
    cascade = _beside(detect_face, rgb) if face.available() else None
    if face.available():
        tight = face.find_face(rgb)
        if tight is not None:
            candidates.append((hog_to_haar(tight), tight))
    box = cascade.result() if cascade is not None else detect_face(rgb)
    if box is not None:
        candidates.append((box, haar_to_hog(box)))
    if not candidates and face.available():  # a small tight crop of a turned or grimacing face
        tight = face.find_face_in_small_crop(rgb)
        if tight is not None:
            candidates.append((hog_to_haar(tight), tight))
    if len(candidates) == 2 and not _same_face(candidates[0][0], candidates[1][0]):
        return candidates[0]  # two different "faces": the cascade's false alarms outnumber HOG's
    return max(candidates, key=lambda c: c[0][2] * c[0][3], default=None)


_HELPERS: dict[int, ThreadPoolExecutor] = {}


def _beside(fn, *args) -> Future:
    """`fn(*args)` in this process's helper thread. Keyed by process: a data-loading worker forked from
    a process that used its helper gets one of its own (threads do not survive a fork, and a pool
    that had one would wait for it forever)."""
    pool = _HELPERS.get(os.getpid())
    if pool is None:
        pool = _HELPERS.setdefault(os.getpid(), ThreadPoolExecutor(1, thread_name_prefix="mmdemo-cascade"))
    return pool.submit(fn, *args)


def _same_face(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    """Each box's centre lies inside the other: one face in two framings."""

    def inside(p, box):
        return box[0] <= p[0] <= box[0] + box[2] and box[1] <= p[1] <= box[1] + box[3]

    centre = lambda r: (r[0] + r[2] / 2, r[1] + r[3] / 2)  # noqa: E731
    return inside(centre(a), b) and inside(centre(b), a)


def detect_face(rgb: np.ndarray) -> tuple[int, int, int, int] | None:
    """Largest frontal face as (x, y, w, h) in `rgb`'s pixels by the Haar cascade, or None."""
    h, w = rgb.shape[:2]
    scale = min(1.0, DETECT_SIDE / max(h, w))
    grey = cv2.cvtColor(
        cv2.resize(rgb, (max(1, int(w * scale)), max(1, int(h * scale))), interpolation=cv2.INTER_AREA)
        if scale < 1
        else rgb,
        cv2.COLOR_RGB2GRAY,
    )
    grey = cv2.equalizeHist(grey)
    with _DETECT_LOCK:  # CascadeClassifier is not documented as thread-safe
        faces = _cascade().detectMultiScale(
            grey, scaleFactor=1.1, minNeighbors=5, minSize=(max(24, min(grey.shape) // 8),) * 2
        )
    if len(faces) == 0:
        return None
    x, y, fw, fh = max(faces, key=lambda f: f[2] * f[3])
    return int(x / scale), int(y / scale), int(fw / scale), int(fh / scale)


def prepare_image(image, size: int = 64, detect: bool = True) -> PreparedImage:
    rgb = to_rgb_uint8(image)
    boxes = find_face_boxes(rgb) if detect else None
    box, tight = boxes if boxes else (None, None)
    warnings = ["no face was found, so the centre of the image was used"] if detect and box is None else []
    crop = crop_face(rgb, box, size)
    return PreparedImage(crop, box is not None, box, warnings, image=rgb, tight_box=tight)


def crop_face(rgb: np.ndarray, box: tuple[int, int, int, int] | None, size: int = 64) -> np.ndarray:
    """The (size, size, 3) crop the model sees: the face `box` with FACE_MARGIN around it (edges
    replicated past the photo's border), or the photo's centre square when no face was found."""
    h, w = rgb.shape[:2]
    if box is None:
        side = min(h, w)
        x0, y0 = (w - side) // 2, (h - side) // 2
        crop = rgb[y0 : y0 + side, x0 : x0 + side]
    else:
        x, y, fw, fh = box
        side = int(max(fw, fh) * (1 + 2 * FACE_MARGIN))
        cx, cy = x + fw // 2, y + fh // 2
        x0, y0 = cx - side // 2, cy - side // 2
        padded = cv2.copyMakeBorder(rgb, side, side, side, side, cv2.BORDER_REPLICATE)
        crop = padded[y0 + side : y0 + 2 * side, x0 + side : x0 + 2 * side]
    return cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)


def prepare_audio(audio) -> tuple[np.ndarray, list[str]]:
    """(sample_rate, samples) -> 16 kHz mono float32 clip and warnings."""
    if not isinstance(audio, (tuple, list)) or len(audio) != 2:
        raise ValueError("audio must be a (sample_rate, samples) pair, e.g. (16000, numpy_array)")
    sr, samples = audio
    try:
        sr = int(sr)
    except (TypeError, ValueError):
        raise ValueError(f"the sample rate {sr!r} is not a number of samples per second") from None
    samples = np.asarray(samples)
    if samples.dtype == object or not (np.issubdtype(samples.dtype, np.number) or samples.dtype == bool):
        raise ValueError("the audio holds no numeric samples; record again or upload a WAV file")
    warnings = []
    limit = MAX_AUDIO_SECONDS * sr
    longest_axis = int(np.argmax(samples.shape)) if samples.ndim else 0
    if samples.ndim and samples.shape[longest_axis] > limit:
        samples = np.take(samples, np.arange(limit), axis=longest_axis)
        warnings.append(
            f"the recording is longer than {MAX_AUDIO_SECONDS} s; "
            f"only the first {MAX_AUDIO_SECONDS} s were used"
        )
    wave = to_mono_16k(sr, samples)
    if len(wave) < SAMPLE_RATE // 10:
        raise ValueError("the recording is shorter than 0.1 s; record a sentence of one to four seconds")
    wave, gain_db = raise_quiet_speech(wave)
    if gain_db > 0:
        warnings.append(
            f"the recording was very quiet, so it was amplified by {gain_db:.0f} dB; "
            f"speak closer to the microphone for a cleaner reading"
        )
    if is_silent(wave):
        raise ValueError("no voice detected: the recording is silent; check the microphone and record again")
    return wave, warnings


def prepare_text(text) -> tuple[str | None, list[str]]:
    """Trimmed description (None when empty) and warnings."""
    if text is None:
        return None, []
    if not isinstance(text, str):
        raise ValueError(f"the description must be text, not {type(text).__name__}")
    clean = " ".join(_CONTROL.sub(" ", text).split())
    if not clean:
        return None, []
    warnings = []
    if len(clean) > MAX_TEXT_CHARS:
        clean = clean[:MAX_TEXT_CHARS].rsplit(" ", 1)[0]
        warnings.append(
            f"the description is longer than {MAX_TEXT_CHARS} characters; only the first "
            f"{len(clean)} were used"
        )
    return clean, warnings
