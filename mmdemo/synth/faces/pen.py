"""The drawing primitives of the face renderer: colour mixing and shading, Bezier curves, arcs
and superellipse outlines, and the `Pen` that draws reference-frame shapes on the canvas
through the sample's pose. Nothing here knows what a face is; `drawing` does.
"""

from __future__ import annotations

import math
from functools import cache

import cv2
import numpy as np

from mmdemo.synth.faces.identity import FaceNuisance
from mmdemo.synth.faces.palettes import REF, Colour


def mix(a: Colour, b: Colour, t: float) -> Colour:
    return tuple(float(x + (y - x) * t) for x, y in zip(a, b))


def shade(c: Colour, f: float) -> Colour:
    return tuple(float(min(255.0, x * f)) for x in c)


def warm(f: float) -> Colour:
    """A shadow factor for skin: shadows on skin are warm, so green and blue drop a little more."""
    return (f, f * 0.96, f * 0.94)


@cache
def _bernstein(n: int, order: int) -> np.ndarray:
    t = np.linspace(0.0, 1.0, n)[:, None]
    return np.concatenate(
        [math.comb(order, i) * t**i * (1 - t) ** (order - i) for i in range(order + 1)], axis=1
    )


def curve(*ctrl, n: int = 12) -> np.ndarray:
    """Bezier curve (quadratic or cubic, by the number of control points) as n points."""
    return _bernstein(n, len(ctrl) - 1) @ np.array(ctrl, float)


def arc(cx: float, cy: float, ax: float, ay: float, t0: float, t1: float, n: int = 24) -> np.ndarray:
    t = np.linspace(t0, t1, n)
    return np.stack([cx + ax * np.cos(t), cy + ay * np.sin(t)], axis=1)


@cache
def _unit_blob(n: float, k: int) -> np.ndarray:
    t = np.linspace(0.0, 2 * math.pi, k, endpoint=False)
    c, s = np.cos(t), np.sin(t)
    return np.stack([np.sign(c) * np.abs(c) ** (2 / n), np.sign(s) * np.abs(s) ** (2 / n)], axis=1)


def blob(cx: float, cy: float, a: float, b: float, n: float = 2.0, k: int = 20) -> np.ndarray:
    """Superellipse outline: n=2 an ellipse, larger n a rounded rectangle."""
    return _unit_blob(n, k) * (a, b) + (cx, cy)


class Pen:
    """Draws reference-frame shapes on the canvas through the pose transform
    (fixed-point coordinates with 4 fractional bits, anti-aliased)."""

    def __init__(self, img: np.ndarray, n: FaceNuisance) -> None:
        self.img, k, rad = img, img.shape[0] / REF, math.radians(n.rotation_deg)
        self.rot, self.zoom = n.rotation_deg, k * n.scale
        a = self.zoom * np.array([[math.cos(rad), -math.sin(rad)], [math.sin(rad), math.cos(rad)]])
        centre = np.array([REF / 2, REF / 2])
        self.a16 = 16.0 * a.T
        self.b16 = 16.0 * (k * (centre + 2.0 * np.array([n.shift_x, n.shift_y])) - a @ centre) + 0.5

    def _fix(self, pts) -> np.ndarray:
        return np.floor(np.asarray(pts, float).reshape(-1, 2) @ self.a16 + self.b16).astype(np.int32)

    def _w(self, thickness: float) -> int:
        return max(1, int(round(thickness * self.zoom)))

    def fill(self, pts, colour: Colour) -> None:
        cv2.fillPoly(self.img, [self._fix(pts)], colour, cv2.LINE_AA, 4)

    def line(self, pts, colour: Colour, thickness: float, closed: bool = False) -> None:
        cv2.polylines(self.img, [self._fix(pts)], closed, colour, self._w(thickness), cv2.LINE_AA, 4)

    def ellipse(
        self, c, axes, colour: Colour, thickness: float = -1, a0: float = 0.0, a1: float = 360.0
    ) -> None:
        ax = tuple(max(1, int(round(v * self.zoom * 16))) for v in axes)
        cv2.ellipse(
            self.img,
            tuple(int(v) for v in self._fix([c])[0]),
            ax,
            self.rot,
            a0,
            a1,
            colour,
            -1 if thickness < 0 else self._w(thickness),
            cv2.LINE_AA,
            4,
        )

    def tint(self, pts, factor: float | Colour, thickness: float = -1.0, blur: float = 0.0) -> None:
        """Multiplies the pixels under a filled polygon (or a thick polyline), softened by `blur`
        reference pixels, by `factor`: shadows, flushes and lens tints that keep whatever colour
        lies beneath."""
        p, blur_px = self._fix(pts), int(round(blur * self.zoom))
        pad = 2 + blur_px + (0 if thickness < 0 else self._w(thickness))
        (x0, y0), (x1, y1) = (
            np.maximum(p.min(axis=0) // 16 - pad, 0),
            np.minimum(p.max(axis=0) // 16 + pad + 1, self.img.shape[0]),
        )
        if x1 <= x0 or y1 <= y0:
            return
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        p -= np.array([x0 * 16, y0 * 16], np.int32)
        if thickness < 0:
            cv2.fillPoly(mask, [p], 255, cv2.LINE_AA, 4)
        else:
            cv2.polylines(mask, [p], False, 255, self._w(thickness), cv2.LINE_AA, 4)
        if blur_px:
            mask = cv2.GaussianBlur(mask, (2 * blur_px + 1, 2 * blur_px + 1), 0)
        w, f = mask.astype(np.float32) * np.float32(1 / 255), np.broadcast_to(factor, 3)
        roi = self.img[y0:y1, x0:x1]
        roi[:] = cv2.blendLinear(roi, cv2.multiply(roi, (*map(float, f), 0.0)), 1.0 - w, w)
