"""The face renderer's entry point: `render_face` draws a synthetic person's head and shoulders
from ground-truth attributes with numpy + OpenCV only (128x128 RGB in a few milliseconds).
This module owns the background, the order the parts are drawn in (`drawing`, `hair`), the
light gradient and the noise.

`attrs` decide what must be visible; a `FaceIdentity` decides what makes one person look
like themselves; a `FaceNuisance` adds per-sample variation that carries no attribute.
Shapes are drawn anti-aliased at twice the output size, then area-downscaled. Coordinates
are written in a fixed 256x256 reference frame and a `Pen` maps them through the pose as
it draws, so the pose costs nothing and the background is never warped. Cues that must
survive a 32x32 linear probe (age, emotion, glasses, hat, beard) are partly drawn as soft
multiplicative shading, which changes every skin tone and hair colour in the same
direction. Same inputs give byte-identical output; the noise is seeded by the nuisance.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import cv2
import numpy as np

from mmdemo.synth.faces.drawing import (
    Look,
    age_marks,
    beard,
    brows,
    expression_marks,
    eyes,
    glasses,
    hat,
    mouth,
    neck_and_head,
    nose,
)
from mmdemo.synth.faces.hair import back_hair, front_hair
from mmdemo.synth.faces.identity import FaceIdentity, FaceNuisance, normalised_attrs
from mmdemo.synth.faces.palettes import HAIR, REF
from mmdemo.synth.faces.pen import Pen, mix

# --------------------------------------------------------------------------- background, light, noise


def _background(n: FaceNuisance, side: int) -> np.ndarray:
    """Full-frame background, never warped. Gradients and blotches are tiny images upscaled,
    far cheaper than per-pixel maths."""
    colour = np.array(n.bg_colour)
    if n.bg_kind == "gradient":
        ang = math.radians(n.bg_seed % 360)
        corners = np.array([[-1, -1], [1, -1], [-1, 1], [1, 1]]) @ (math.cos(ang), math.sin(ang))
        small = colour * (1.0 + 0.13 * corners.reshape(2, 2, 1))
    elif n.bg_kind == "blotches":
        small = colour + np.random.default_rng(n.bg_seed).normal(0.0, 8.0, (4, 4, 3))
    else:
        small = colour.reshape(1, 1, 3)
    small = np.clip(np.round(small), 0, 255).astype(np.uint8)
    smooth = cv2.INTER_CUBIC if n.bg_kind == "blotches" else cv2.INTER_LINEAR
    img = cv2.resize(small, (side, side), interpolation=smooth)
    if n.bg_kind == "stripes":
        # angles in steps of 45 degrees repeat row to row, which keeps the PNGs small
        period, ang = side / REF * (16 + n.bg_seed % 20), math.radians(45 * ((n.bg_seed // 20) % 4))
        d, normal = np.array([math.cos(ang), math.sin(ang)]), np.array([-math.sin(ang), math.cos(ang)])
        for k in np.arange(-side, side, period):
            a, b = side / 2 + normal * k - d * side * 1.5, side / 2 + normal * k + d * side * 1.5
            cv2.line(
                img,
                (int(a[0]), int(a[1])),
                (int(b[0]), int(b[1])),
                tuple(colour * 0.95),
                max(1, int(period / 2)),
                cv2.LINE_AA,
            )
    return img


def _finish(img: np.ndarray, n: FaceNuisance) -> np.ndarray:
    """A multiplicative linear light gradient through the image centre, then faint grey noise."""
    if n.light_strength <= 0 and n.noise_sigma <= 0:
        return img
    size = img.shape[0]
    ramp = np.linspace(-n.light_strength, n.light_strength, size, dtype=np.float32)
    dx, dy = np.float32(math.cos(n.light_angle)), np.float32(math.sin(n.light_angle))
    gain = 1.0 + ramp[None, :] * dx + ramp[:, None] * dy
    # grain in 2x2 blocks: looks the same at a glance but costs PNG size far less than per-pixel noise
    noise = np.random.default_rng(n.noise_seed).standard_normal(
        ((size + 1) // 2, (size + 1) // 2), dtype=np.float32
    )
    noise = cv2.resize(noise, (2 * noise.shape[1], 2 * noise.shape[0]), interpolation=cv2.INTER_NEAREST)[
        :size, :size
    ]
    out = img * gain[:, :, None] + (noise * np.float32(n.noise_sigma) + np.float32(0.5))[:, :, None]
    return np.clip(out, 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------- entry point


def render_face(
    attrs: Mapping[str, str | int], identity: FaceIdentity, nuisance: FaceNuisance, size: int = 128
) -> np.ndarray:
    """uint8 (size, size, 3) RGB. Missing or empty attributes take DEFAULT_ATTRS; unknown values
    raise ValueError. A beard is drawn only for Male=1."""
    if size < 16:
        raise ValueError(f"size must be at least 16 pixels, got {size}")
    a = normalised_attrs(attrs)
    g = Look(a, identity)
    canvas = _background(nuisance, 2 * size)
    pen = Pen(canvas, nuisance)
    pen.ellipse((g.cx, 290.0), (124.0 if g.male else 104.0, 76.0), identity.shirt_colour)  # shoulders
    back_hair(pen, g, identity)  # over the shoulders, behind the neck
    neck_and_head(pen, g, identity)
    expression_marks(pen, g)
    age_marks(pen, g)
    if g.male and a["Beard"] == "1":
        beard(pen, g, identity, mix(g.hair, HAIR["gray"], 0.35) if g.grey_strands else g.hair)
    mouth(pen, g, identity)
    nose(pen, g)
    eyes(pen, g, identity)
    brows(pen, g, identity)
    front_hair(pen, g, identity)
    if a["Eyeglasses"] == "1":
        glasses(pen, g, identity)
    if a["Wearing_Hat"] == "1":
        hat(pen, g, identity)
    return _finish(cv2.resize(canvas, (size, size), interpolation=cv2.INTER_AREA), nuisance)
