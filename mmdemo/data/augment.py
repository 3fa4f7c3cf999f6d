"""Train-time augmentations as pure functions of (input, rng).

Each returns a new array and leaves its input untouched; the same generator
state gives the same result, so a seeded loader is reproducible.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import cv2
import numpy as np

from mmdemo.synth.descriptions import describe


# -------------------------------------------------------------------- image
def augment_image(
    img: np.ndarray,
    rng: np.random.Generator,
    *,
    max_rotation: float = 10.0,
    scale: tuple[float, float] = (0.9, 1.1),
    max_shift: float = 0.06,
    flip_p: float = 0.5,
    jitter: float = 0.15,
) -> np.ndarray:
    """Rotation, scale, translation (one affine warp, edges replicated), flip and colour jitter."""
    h, w = img.shape[:2]
    angle = rng.uniform(-max_rotation, max_rotation)
    s = rng.uniform(*scale)
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, s)
    m[:, 2] += rng.uniform(-max_shift, max_shift, size=2) * (w, h)
    out = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    if rng.random() < flip_p:
        out = out[:, ::-1]
    return colour_jitter(out, rng, strength=jitter)


def colour_jitter(img: np.ndarray, rng: np.random.Generator, strength: float = 0.15) -> np.ndarray:
    """Brightness, contrast and saturation each scaled by up to +-strength; hue shifted a little."""
    x = img.astype(np.float32)
    x = x * rng.uniform(1 - strength, 1 + strength)  # brightness
    mean = x.mean()
    x = (x - mean) * rng.uniform(1 - strength, 1 + strength) + mean  # contrast
    grey = x.mean(axis=2, keepdims=True)
    x = (x - grey) * rng.uniform(1 - strength, 1 + strength) + grey  # saturation
    hsv = cv2.cvtColor(np.clip(x, 0, 255).astype(np.uint8), cv2.COLOR_RGB2HSV)
    # OpenCV hue is 0..179; at most ~4 steps (strength 0.15) keeps skin and hair colours in their classes
    shift = int(round(rng.uniform(-1, 1) * strength * 27))
    hsv[..., 0] = (hsv[..., 0].astype(np.int16) + shift) % 180
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


# -------------------------------------------------------------------- audio
def augment_audio(
    wave: np.ndarray,
    rng: np.random.Generator,
    *,
    gain_db: float = 2.0,
    max_shift_s: float = 0.2,
    snr_db: tuple[float, float] = (10.0, 40.0),
    speed: float = 0.05,
    sample_rate: int = 16000,
) -> np.ndarray:
    """Speed change, time shift, gain and additive noise at a random SNR (float32 in [-1, 1])."""
    x = change_speed(wave, rng.uniform(1 - speed, 1 + speed))
    x = time_shift(x, int(rng.uniform(-max_shift_s, max_shift_s) * sample_rate))
    x = x * np.float32(10 ** (rng.uniform(-gain_db, gain_db) / 20))
    x = add_noise(x, rng, rng.uniform(*snr_db))
    return np.clip(x, -1.0, 1.0).astype(np.float32)


def change_speed(wave: np.ndarray, factor: float) -> np.ndarray:
    """Plays `factor` times faster (pitch moves with it, as on a tape) by linear interpolation."""
    n = max(1, int(round(len(wave) / factor)))
    positions = np.linspace(0, len(wave) - 1, n)
    return np.interp(positions, np.arange(len(wave)), wave).astype(np.float32)


def time_shift(wave: np.ndarray, samples: int) -> np.ndarray:
    """Delays (positive) or advances (negative) the signal, padding with silence."""
    if samples > 0:
        return np.concatenate([np.zeros(samples, np.float32), wave]).astype(np.float32)
    return wave[-samples:].astype(np.float32) if -samples < len(wave) else wave[-1:].astype(np.float32)


def add_noise(wave: np.ndarray, rng: np.random.Generator, snr_db: float) -> np.ndarray:
    """White noise scaled so that signal power / noise power = snr_db."""
    power = float(np.mean(wave.astype(np.float64) ** 2)) or 1e-10
    noise = rng.standard_normal(len(wave)) * np.sqrt(power / 10 ** (snr_db / 10))
    return (wave + noise).astype(np.float32)


# --------------------------------------------------------------------- text
def word_dropout(text: str, rng: np.random.Generator, p: float = 0.1) -> str:
    """Drops each word with probability p (never all of them)."""
    words = text.split()
    kept = [w for w in words if rng.random() >= p]
    return " ".join(kept) if kept else words[int(rng.integers(len(words)))]


def augment_text(
    attrs: Mapping[str, str],
    mentions: Sequence[str],
    text: str,
    rng: np.random.Generator,
    *,
    reword_p: float = 0.5,
    dropout_p: float = 0.05,
) -> str:
    """Re-samples the wording (same stated attributes) with probability reword_p, then word dropout."""
    if mentions and rng.random() < reword_p:
        text, _ = describe(attrs, rng, mentions=mentions)
    return word_dropout(text, rng, dropout_p)
