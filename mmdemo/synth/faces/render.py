"""Procedural face renderer: a synthetic person's head and shoulders drawn from ground-truth
attributes with numpy + OpenCV only (128x128 RGB in a few milliseconds).

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

import colorsys
import math
from collections.abc import Mapping
from dataclasses import dataclass

import cv2
import numpy as np

from mmdemo.schema import normalise
from mmdemo.synth.faces.drawing import (
    FRAME_COLOURS,
    HAIR,
    REF,
    Colour,
    Look,
    Pen,
    age_marks,
    back_hair,
    beard,
    brows,
    expression_marks,
    eyes,
    front_hair,
    glasses,
    hat,
    mix,
    mouth,
    neck_and_head,
    nose,
)

DEFAULT_ATTRS: dict[str, str] = {
    "Male": "0",
    "age_group": "adult",
    "emotion": "neutral",
    "hair_color": "brown",
    "Eyeglasses": "0",
    "Beard": "0",
    "Wearing_Hat": "0",
    "skin_tone": "medium",
}
HAT_COLOURS: tuple[Colour, ...] = (
    (28, 30, 36),
    (30, 46, 96),
    (172, 36, 40),
    (86, 98, 50),
    (210, 190, 150),
    (120, 122, 128),
    (36, 112, 122),
    (222, 120, 40),
    (110, 40, 90),
)
PLAIN_BACKGROUND: Colour = (212, 218, 226)
BG_KINDS: tuple[str, ...] = ("flat", "gradient", "stripes", "blotches")


@dataclass(frozen=True)
class FaceIdentity:
    """Everything that makes one person look like themselves; fixed across that person's samples.

    Styles are stored as uniform draws or small indices and mapped to a concrete style at render
    time under the attributes, so a what-if that flips e.g. Male still renders a sensible
    hairstyle for the same person.
    """

    face_width: float  # multipliers around 1 unless noted
    face_length: float
    jaw_square: float  # added to the jaw's superellipse exponent
    eye_spacing: float
    eye_size: float
    eye_colour: int  # index into EYE_COLOURS
    nose_length: float
    nose_width: float
    mouth_width: float
    lip_fullness: float
    brow_thickness: float
    brow_height: float  # reference pixels
    hair_style_u: float  # [0, 1) -> a style of the person's gender (FEMALE_STYLES / MALE_STYLES)
    hair_part: int  # -1 / +1: parting and ponytail side
    hair_volume: float
    bald_u: float  # [0, 1): senior men below 0.18 are bald, below 0.45 receding
    skin_jitter: tuple[float, float, float]
    hair_jitter: tuple[float, float, float]
    shirt_colour: Colour
    glasses_style: int  # 0 round, 1 rectangular, 2 thick oval
    glasses_colour: int  # index into FRAME_COLOURS
    hat_style: int  # 0 cap, 1 beanie, 2 brimmed hat
    hat_colour: Colour
    beard_style: int  # 0 full, 1 goatee, 2 heavy stubble, 3 short boxed

    @classmethod
    def sample(cls, attrs: Mapping[str, str | int], rng: np.random.Generator) -> FaceIdentity:
        """A random person. `attrs` is validated only: the draws do not depend on it, so one
        generator state gives the same person under any attribute what-if."""
        _normalised(attrs)
        u = rng.uniform

        def jitter(common: float, each: float) -> tuple[float, float, float]:
            c = rng.normal(0.0, common)
            return tuple(float(1.0 + c + rng.normal(0.0, each)) for _ in range(3))

        shirt = colorsys.hsv_to_rgb(u(0, 1), u(0.25, 0.7), u(0.3, 0.85))
        hat = np.array(HAT_COLOURS[int(rng.integers(len(HAT_COLOURS)))]) * u(0.9, 1.1, 3)
        return cls(
            face_width=float(u(0.95, 1.05)),
            face_length=float(u(0.96, 1.04)),
            jaw_square=float(u(-0.25, 0.35)),
            eye_spacing=float(u(0.94, 1.06)),
            eye_size=float(u(0.9, 1.1)),
            eye_colour=int(rng.integers(5)),
            nose_length=float(u(0.9, 1.12)),
            nose_width=float(u(0.85, 1.15)),
            mouth_width=float(u(0.9, 1.1)),
            lip_fullness=float(u(0.85, 1.2)),
            brow_thickness=float(u(0.85, 1.2)),
            brow_height=float(u(-2.5, 2.5)),
            hair_style_u=float(u(0, 1)),
            hair_part=int(rng.choice([-1, 1])),
            hair_volume=float(u(0.8, 1.25)),
            bald_u=float(u(0, 1)),
            skin_jitter=jitter(0.035, 0.012),
            hair_jitter=jitter(0.05, 0.02),
            shirt_colour=tuple(float(255 * c) for c in shirt),
            glasses_style=int(rng.integers(3)),
            glasses_colour=int(rng.integers(len(FRAME_COLOURS))),
            hat_style=int(rng.integers(3)),
            hat_colour=tuple(float(c) for c in np.clip(hat, 0, 255)),
            beard_style=int(rng.integers(4)),
        )


@dataclass(frozen=True)
class FaceNuisance:
    """Per-sample variation that carries no attribute."""

    rotation_deg: float  # within +-6
    shift_x: float  # pixels at 128x128 output (scaled for other sizes), within +-4
    shift_y: float
    scale: float  # 0.93 .. 1.06
    light_angle: float  # radians; the direction the light gradient brightens towards
    light_strength: float  # gain at the image edge is 1 +- this
    bg_colour: Colour
    bg_kind: str  # one of BG_KINDS
    bg_seed: int  # stripe geometry, gradient direction, blotch layout
    noise_sigma: float  # grey levels
    noise_seed: int

    @classmethod
    def sample(cls, rng: np.random.Generator) -> FaceNuisance:
        """Random pose, light and background. Pose offsets are normal, clipped to their ranges
        (a detector's crops are mostly near-centred); muted backgrounds keep hair readable."""
        bg = colorsys.hsv_to_rgb(rng.uniform(0, 1), rng.uniform(0.04, 0.24), rng.uniform(0.55, 0.93))
        rot, dx, dy, scale = np.clip(
            rng.normal((0, 0, 0, 1), (3, 2, 2, 0.03)), (-6, -4, -4, 0.93), (6, 4, 4, 1.06)
        )
        return cls(
            rotation_deg=float(rot),
            shift_x=float(dx),
            shift_y=float(dy),
            scale=float(scale),
            light_angle=float(rng.uniform(0, 2 * math.pi)),
            light_strength=float(rng.uniform(0.0, 0.14)),
            bg_colour=tuple(float(255 * c) for c in bg),
            bg_kind=BG_KINDS[int(rng.integers(4))],
            bg_seed=int(rng.integers(2**31)),
            noise_sigma=float(rng.uniform(0.0, 1.2)),
            noise_seed=int(rng.integers(2**31)),
        )

    @classmethod
    def neutral(cls) -> FaceNuisance:
        """Frontal, centred, evenly lit, plain background, no noise (figures, decoder targets)."""
        return cls(0.0, 0.0, 0.0, 1.0, 0.0, 0.0, PLAIN_BACKGROUND, "flat", 0, 0.0, 0)


def _normalised(attrs: Mapping[str, str | int | None]) -> dict[str, str]:
    """Schema strings for every attribute; missing or empty (unlabelled) ones take DEFAULT_ATTRS."""
    return {
        **DEFAULT_ATTRS,
        **normalise({k: v for k, v in attrs.items() if v is not None and str(v).strip()}),
    }


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
    a = _normalised(attrs)
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
