"""Who a synthetic person is and how one sample of them varies: `FaceIdentity` (the draws
that make a person look like themselves, fixed across their samples), `FaceNuisance` (pose,
light, background and noise, which carry no attribute) and the attribute defaults and
normalisation both of them and the renderer rely on.
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from mmdemo.schema import normalise
from mmdemo.synth.faces.palettes import BG_KINDS, FRAME_COLOURS, HAT_COLOURS, PLAIN_BACKGROUND, Colour

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
        normalised_attrs(attrs)
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


def normalised_attrs(attrs: Mapping[str, str | int | None]) -> dict[str, str]:
    """Schema strings for every attribute; missing or empty (unlabelled) ones take DEFAULT_ATTRS."""
    return {
        **DEFAULT_ATTRS,
        **normalise({k: v for k, v in attrs.items() if v is not None and str(v).strip()}),
    }
