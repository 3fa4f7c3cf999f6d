"""How hair is drawn for each style: the hairline across the forehead, the hair over the skull
with its side locks (or, for the bald, patches above the ears) and the hair that falls behind
the head (long hair, bob, ponytail). The style itself is chosen in `drawing.Look`.
"""

from __future__ import annotations

import math

import numpy as np

from mmdemo.synth.faces.drawing import Look
from mmdemo.synth.faces.identity import FaceIdentity
from mmdemo.synth.faces.pen import Pen, arc, curve


def _hairline(g: Look, part: int, xs: np.ndarray) -> np.ndarray:
    """Forehead edge of the front hair for x in [-1, 1] across the forehead."""
    y0, ax, style = g.hairline_y, np.abs(xs), g.style
    if style in ("long_fringe", "bob"):
        return g.brow_y + (
            -9 + 2 * np.cos(xs * 9) + 12 * ax**6 if style == "long_fringe" else -7 + 12 * ax**4
        )
    if style == "long_middle":
        return y0 + 1 + 30 * ax**1.4
    if style in ("long_side", "side_part", "swept"):
        swept = (part * xs + 1) / 2  # 0 at the parting, 1 where the hair is swept to
        return y0 - 2 + {"long_side": 26.0, "swept": 17.0}.get(style, 9.0) * swept**2 + 8 * ax**6
    if style == "textured":
        return y0 + 3 + 3 * np.cos(xs * 14) + 6 * ax**4
    if style == "receding":  # temples receded high, a widow's peak in the middle
        return y0 - 2 - 64 * ax * (1 - ax) + 14 * ax**8
    return y0 + 3 - 7 * ax**2 + 16 * ax**12


# style -> (volume above the skull, side-lock bottom below cy in hl units, outer and inner width factors)
_FRONT = {
    "long_middle": (10, 0.62, 1.13, 0.80),
    "long_fringe": (10, 0.62, 1.13, 0.80),
    "long_side": (11, 0.62, 1.13, 0.80),
    "bob": (13, 0.50, 1.20, 0.84),
    "ponytail": (3, -0.08, 1.05, 0.95),
    "crew": (7, -0.08, 1.03, 0.96),
    "side_part": (9, -0.08, 1.08, 0.96),
    "textured": (9, -0.08, 1.07, 0.96),
    "swept": (13, -0.08, 1.09, 0.96),
    "receding": (2, -0.06, 1.05, 0.96),
}


def front_hair(pen: Pen, g: Look, ident: FaceIdentity) -> None:
    """Hair over the skull down to the hairline, with side locks; bald: patches above the ears."""
    if g.style == "bald":
        for s in (-1, 1):
            x0 = g.cx + s * g.hw
            edge = curve((x0 - s * 6, g.cy - 0.45 * g.hh), (x0 + s * 9, g.cy - 30), (x0 + s * 5, g.cy - 4))
            pts = np.concatenate([edge, [(x0 - s * 5, g.cy - 4), (x0 - s * 9, g.cy - 0.4 * g.hh)]])
            pen.fill(pts, g.hair)
            pen.line(pts[2:9] - (s * 4, 0), g.strand, 1.6)
        return
    volume, bottom, side_out, side_in = _FRONT[g.style]
    if g.hat and bottom < 0.3:  # short hair pushed out below a hat: tufts down to the ears
        bottom, side_out = 0.05, side_out + 0.06
    ax, ay, side_bottom = g.hw * side_out, g.hh + volume * ident.hair_volume, g.cy + bottom * g.hl
    tb = math.asin(max(-0.9, min(0.45, (side_bottom - g.cy) / ay)))
    t = np.linspace(math.pi - tb, 2 * math.pi + tb, 40)
    bump = 1.0 + (0.05 * np.abs(np.sin(t * 9)) if g.style == "textured" else 0.0)
    outer = np.stack([g.cx + ax * np.cos(t) * bump, g.cy + ay * np.sin(t) * bump], axis=1)
    ybot, xs = max(side_bottom, outer[0, 1]), np.linspace(1.0, -1.0, 25)
    inner = np.stack([g.cx + xs * g.hw * 0.93, _hairline(g, ident.hair_part, xs)], axis=1)
    pen.fill(
        np.concatenate(
            [
                [(outer[0, 0], ybot)],
                outer,
                [(outer[-1, 0], ybot), (g.cx + g.hw * side_in, ybot)],
                inner,
                [(g.cx - g.hw * side_in, ybot)],
            ]
        ),
        g.hair,
    )
    crown = ((0.95, 1.22, 1.62), (0.88, 1.3, 1.72), (0.8, 1.38, 1.62))
    for f, a0, a1 in ((0.95, 1.3, 1.7),) if g.style == "receding" else crown:  # strands across the crown
        pen.line(arc(g.cx, g.cy, ax * f, ay * f, a0 * math.pi, a1 * math.pi, 12), g.strand, 1.6)
    for s in (-1, 1) if bottom > 0.3 else ():  # strands down the long side locks
        x = g.cx + s * g.hw
        pen.line(curve((x, g.cy - 30), (x + s * 4, g.cy + 10), (x - s * 2, side_bottom - 6)), g.strand, 1.6)


def back_hair(pen: Pen, g: Look, ident: FaceIdentity) -> None:
    """Hair behind the head: long falls onto the shoulders, a bob ends at the chin, a ponytail
    hangs over one shoulder."""
    if g.style == "ponytail":
        s, x0 = ident.hair_part, g.cx + ident.hair_part * g.hw
        outer = curve((x0 - s * 14, g.cy - 40), (x0 + s * 40, g.cy - 10), (x0 + s * 16, g.cy + 100))
        inner = curve((x0 + s * 4, g.cy + 96), (x0 + s * 18, g.cy + 20), (x0 - s * 16, g.cy - 24))
        pen.fill(np.concatenate([outer, inner]), g.hair)
        pen.line(
            curve((x0 + s * 4, g.cy - 20), (x0 + s * 26, g.cy + 10), (x0 + s * 12, g.cy + 84)), g.strand, 1.6
        )
    if not g.style.startswith(("long", "bob")):
        return
    long = g.style != "bob"
    y_end, wide = (240.0, g.hw * 1.34) if long else (g.cy + 0.8 * g.hl, g.hw * 1.2)
    top = arc(g.cx, g.cy - 2, g.hw * 1.2, g.hh + 12 * ident.hair_volume, math.pi, 2 * math.pi, 26)
    right = curve(
        (g.cx + g.hw * 1.2, g.cy - 2), (g.cx + wide * 1.02, g.cy + 40), (g.cx + wide, y_end - 10), n=10
    )
    bottom = curve((g.cx + wide, y_end - 10), (g.cx, y_end + 14), (g.cx - wide, y_end - 10))
    pen.fill(np.concatenate([top, right, bottom, right[::-1] * (-1, 1) + (2 * g.cx, 0)]), g.hair)
    for s in (-1, 1) if long else ():
        for f in (1.12, 1.24):
            pen.line(
                curve(
                    (g.cx + s * g.hw * f, g.cy + 40),
                    (g.cx + s * g.hw * (f + 0.08), g.cy + 80),
                    (g.cx + s * g.hw * (f + 0.04), y_end - 12),
                ),
                g.strand,
                1.6,
            )
