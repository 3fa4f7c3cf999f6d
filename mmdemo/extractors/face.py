"""Real-face features from dlib: where the face is, its 68 landmarks and a 128-d descriptor.

The descriptor is dlib's ResNet trained on about 3 M real faces for identity; identity carries
gender, age, beard and hair well but ignores expression by design, so the 68 landmarks (mouth
and brow shape) travel beside it. Models come from the `face-recognition-models` package's data
folder; it is located without importing the package (its `__init__` needs pkg_resources). dlib
finds the face, its landmarks and the aligned 150-px chip; the descriptor network runs in torch
(`face_descriptor.py`).
"""

from __future__ import annotations

import importlib.util
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from mmdemo.extractors.face_descriptor import (
    CHIP_PADDING,
    CHIP_SIDE,
    DESCRIPTOR_DIM,
    DESCRIPTOR_MODEL_FILE,
    describe_chips,
    load_descriptor_net,
)

N_LANDMARKS = 68
# descriptor, landmarks (x, y) in the face box's frame, and a found-by-the-detector flag
FEATURE_DIM = DESCRIPTOR_DIM + 2 * N_LANDMARKS + 1
DETECT_SIDE = 480  # detection runs on a copy no larger than this: same faces, bounded cost
UPSAMPLE_BELOW = 240  # images smaller than this are upsampled (twice under half of it) before detection
MIN_FACE_SIDE = 120  # faces smaller than this are enlarged before landmarks and descriptor
PAD_SHARE = 0.25  # edge extension for the second try on tight crops
# dlib's CNN (MMOD) detector finds the turned and grimacing faces HOG misses in small tight crops,
# at ~0.5 s on a crop scaled to CNN_SIDE: a last resort for images no larger than CNN_MAX_SIDE.
# At 120 px it found none of the 71 aligned 64-px CelebA val photos both other detectors missed,
# at 160 px 65 of them (and 47 against 44 of 53 such FER2013 crops): its smallest face is ~80 px
CNN_MAX_SIDE = 256
CNN_SIDE = 160

_LOCK = threading.Lock()  # dlib's objects are not documented as thread-safe


class ExtractorMissing(RuntimeError):
    """A frozen extractor's package is not installed."""


def models_dir() -> Path:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or spec.origin is None:
        raise ExtractorMissing(
            "the face models are not installed: pip install face-recognition-models==0.3.0 dlib-bin"
        )
    return Path(spec.origin).parent / "models"


@lru_cache(maxsize=1)
def _module():
    try:
        import dlib
    except ImportError:
        raise ExtractorMissing("dlib is not installed: pip install dlib-bin") from None
    return dlib


@lru_cache(maxsize=1)
def _detector():
    return _module().get_frontal_face_detector()  # a few MB: all the app needs to find faces


@lru_cache(maxsize=1)
def _cnn_detector():
    return _module().cnn_face_detection_model_v1(str(models_dir() / "mmod_human_face_detector.dat"))


@lru_cache(maxsize=1)
def _landmark_predictor():
    """dlib's 68-point landmark predictor (~100 MB), loaded on first use only."""
    return _module().shape_predictor(str(models_dir() / "shape_predictor_68_face_landmarks.dat"))


@lru_cache(maxsize=1)
def _descriptor_net():
    """dlib's 128-d descriptor ResNet, run by torch (`face_descriptor`), built on first use only."""
    return load_descriptor_net(models_dir() / DESCRIPTOR_MODEL_FILE)


def available() -> bool:
    """dlib and its models are installed (nothing is loaded)."""
    try:
        _module()
        folder = models_dir()
    except ExtractorMissing:
        return False
    return (folder / DESCRIPTOR_MODEL_FILE).is_file()


def find_face(rgb: np.ndarray) -> tuple[int, int, int, int] | None:
    """Largest frontal face as (x, y, w, h) in `rgb`'s pixels, or None. HOG finds faces in tight
    crops and small photos where the Haar cascade misses them; a small crop so tight that the chin or
    brow touches the border is tried again with its edges extended (about a third of such misses)."""
    import cv2

    h, w = rgb.shape[:2]
    scale = min(1.0, DETECT_SIDE / max(h, w))
    if scale < 1:
        small = cv2.resize(
            rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA
        )
    else:
        small = np.ascontiguousarray(rgb)
    box = _detect(small)
    if box is None and max(h, w) <= CNN_MAX_SIDE:  # a tight crop, not a camera frame with no face
        pad = round(PAD_SHARE * max(small.shape[:2]))
        box = _detect(cv2.copyMakeBorder(small, pad, pad, pad, pad, cv2.BORDER_REPLICATE))
        if box is not None:
            box = (box[0] - pad, box[1] - pad, box[2], box[3])
    if box is None:
        return None
    x0, y0 = max(0, box[0]), max(0, box[1])
    x1, y1 = min(small.shape[1], box[0] + box[2]), min(small.shape[0], box[1] + box[3])
    if x1 <= x0 or y1 <= y0:
        return None
    return int(x0 / scale), int(y0 / scale), int((x1 - x0) / scale), int((y1 - y0) / scale)


def find_face_in_small_crop(rgb: np.ndarray) -> tuple[int, int, int, int] | None:
    """Largest face as (x, y, w, h) by dlib's CNN detector, for an image of at most CNN_MAX_SIDE
    pixels (larger ones: None, the detector would take seconds). For crops the HOG detector and the
    Haar cascade both miss; on 48-px expression crops it finds about nine in ten of those."""
    import cv2

    h, w = rgb.shape[:2]
    if max(h, w) > CNN_MAX_SIDE:
        return None
    k = CNN_SIDE / max(h, w)
    small = cv2.resize(
        np.ascontiguousarray(rgb, dtype=np.uint8),
        (max(1, round(w * k)), max(1, round(h * k))),
        interpolation=cv2.INTER_AREA if k < 1 else cv2.INTER_CUBIC,
    )
    pad = round(PAD_SHARE * CNN_SIDE)  # a crop's chin or brow may touch its border
    padded = cv2.copyMakeBorder(small, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    with _LOCK:
        found = _cnn_detector()(padded, 0)
    if len(found) == 0:
        return None
    r = max((d.rect for d in found), key=lambda r: r.width() * r.height())
    x0, y0 = max(0, r.left() - pad), max(0, r.top() - pad)
    x1, y1 = min(small.shape[1], r.right() + 1 - pad), min(small.shape[0], r.bottom() + 1 - pad)
    if x1 <= x0 or y1 <= y0:
        return None
    return int(x0 / k), int(y0 / k), max(1, int((x1 - x0) / k)), max(1, int((y1 - y0) / k))


def _detect(rgb: np.ndarray) -> tuple[int, int, int, int] | None:
    """dlib's HOG detector on an image of at most DETECT_SIDE (+ padding) pixels; the largest face."""
    detector = _detector()
    # HOG's window is 80 px: upsampling lets it find faces filling a 48-px crop or ~40 px in a photo
    side = max(rgb.shape[:2])
    upsample = 2 if side < UPSAMPLE_BELOW // 2 else 1 if side < UPSAMPLE_BELOW else 0
    with _LOCK:
        rects = detector(rgb, upsample)
    if len(rects) == 0:
        return None
    r = max(rects, key=lambda r: r.width() * r.height())
    return r.left(), r.top(), r.width(), r.height()


@dataclass
class FaceReading:
    features: np.ndarray  # (FEATURE_DIM,) float32
    landmarks: np.ndarray  # (68, 2) in the image's pixels
    found: bool  # the detector found the face (otherwise the whole image was read as one)


def read_face(rgb: np.ndarray, box: tuple[int, int, int, int] | None) -> FaceReading:
    """Landmarks and descriptor of the face in `box` (x, y, w, h); with no box, the whole image is
    read as a tight face crop, which is what a dataset crop or a detector miss on one usually is."""
    import cv2

    dlib, predictor = _module(), _landmark_predictor()
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w = rgb.shape[:2]
    x, y, bw, bh = box if box is not None else _whole_image_box(w, h)
    if max(bw, bh) < MIN_FACE_SIDE:  # landmarks need ~100 px faces: upscale small ones first
        k = MIN_FACE_SIDE / max(bw, bh)
        rgb = cv2.resize(rgb, (round(w * k), round(h * k)), interpolation=cv2.INTER_CUBIC)
        x, y, bw, bh = (round(v * k) for v in (x, y, bw, bh))
        found = box is not None
        reading = read_face(rgb, (x, y, bw, bh))
        reading.features[-1] = float(found)
        reading.landmarks /= k
        reading.found = found
        return reading
    rect = dlib.rectangle(int(x), int(y), int(x + bw - 1), int(y + bh - 1))
    with _LOCK:
        shape = predictor(rgb, rect)
        # the chip dlib's compute_face_descriptor would cut; its network runs in torch (same numbers)
        chip = dlib.get_face_chip(rgb, shape, CHIP_SIDE, CHIP_PADDING)
    descriptor = describe_chips(_descriptor_net(), chip[None])[0]
    points = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)
    # landmarks in the box's frame, centred and scaled by the box: pose and expression, not position
    centre = np.array([x + bw / 2, y + bh / 2], dtype=np.float32)
    local = (points - centre) / max(bw, bh)
    features = np.concatenate([descriptor, local.ravel(), [1.0 if box is not None else 0.0]])
    return FaceReading(features.astype(np.float32), points, box is not None)


def _whole_image_box(w: int, h: int) -> tuple[int, int, int, int]:
    # dataset crops frame the face with a margin; dlib's boxes are tight around brows and chin
    side = min(w, h)
    inner = int(side * 0.8)
    return (w - inner) // 2, (h - inner) // 2 + int(side * 0.04), inner, inner
