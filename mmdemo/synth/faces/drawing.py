"""How a synthetic face is drawn: the per-render geometry, colours and hair style (`Look`) and
one function per part (head and neck, age and expression marks, beard, mouth, nose, eyes,
brows, glasses, hat), each drawing with a `Pen` in the fixed 256x256 reference frame (`REF`).

The hair has a module of its own (`hair`); `render` composes all the parts in order over the
background. The tables the parts read live in `palettes`, the primitives in `pen`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from mmdemo.synth.faces.identity import FaceIdentity
from mmdemo.synth.faces.palettes import (
    EMOTION,
    EYE_COLOURS,
    FEMALE_STYLES,
    FRAME_COLOURS,
    GRAY_STRAND,
    HAIR,
    MALE_STYLES,
    REF,
    SKIN,
    Colour,
)
from mmdemo.synth.faces.pen import Pen, arc, blob, curve, mix, shade, warm


class Look:
    """Geometry (reference pixels), colours and style of one render, from attrs + identity."""

    cx, cy, eye_y = REF / 2, 116.0, 120.0  # head a little above the frame's centre: shoulders fit

    def __init__(self, a: Mapping[str, str], ident: FaceIdentity) -> None:
        self.male, self.hat = a["Male"] == "1", a["Wearing_Hat"] == "1"
        self.age, self.emotion = a["age_group"], a["emotion"]
        skin = tuple(c * j for c, j in zip(SKIN[a["skin_tone"]], ident.skin_jitter))
        hair = tuple(min(255.0, c * j) for c, j in zip(HAIR[a["hair_color"]], ident.hair_jitter))
        self.grey_strands = self.age == "senior" and a["hair_color"] != "gray"
        if self.age == "senior":  # older skin: less colourful and a little darker; greying hair
            grey = sum(skin) / 3.0
            skin = shade(mix(skin, (grey, grey, grey), 0.28), 0.97)
            hair = mix(hair, HAIR["gray"], 0.1) if self.grey_strands else hair
        self.skin, self.hair = skin, hair
        self.strand = GRAY_STRAND if self.grey_strands else shade(hair, 1.6 if sum(hair) < 150 else 0.8)
        self.hw, self.hh = (63.0 if self.male else 57.0) * ident.face_width, 80.0 * ident.face_length
        self.hl = ((84.0 if self.male else 79.0) + (4.0 if self.age == "senior" else 0.0)) * ident.face_length
        self.eye_dx, self.brow_y = self.hw * 0.41 * ident.eye_spacing, 102.0 + ident.brow_height
        self.nose_y, self.nose_w = self.cy + 0.4 * self.hl * ident.nose_length, 11.0 * ident.nose_width
        self.mouth_y, self.mouth_w = (
            self.cy + 0.63 * self.hl,
            (21.0 if self.male else 19.5) * ident.mouth_width,
        )
        self.hairline_y = self.cy - 0.52 * self.hh
        if self.male and self.age == "senior" and ident.bald_u < 0.45:
            self.style = "bald" if ident.bald_u < 0.18 else "receding"
        else:
            styles = MALE_STYLES if self.male else FEMALE_STYLES
            self.style = next(s for s, upto in styles if ident.hair_style_u < upto)
        self.outline = self._outline(ident.jaw_square)

    def _outline(self, jaw_square: float) -> np.ndarray:
        """Skull as a half ellipse, then the jaw as a superellipse: squarer for men, tapering to
        a rounder, narrower chin for women, with jowls for seniors. Left, top, right, chin."""
        n = (2.7 if self.male else 2.05) + jaw_square * (1.0 if self.male else 0.5)
        t = np.linspace(0.0, math.pi, 36)
        c, v = np.cos(t), np.abs(np.sin(t)) ** (2.0 / n)
        taper = 1.0 - (0.10 * v**4 if self.male else 0.24 * v**1.6)
        if self.age == "senior":
            taper = taper + 0.05 * np.exp(-(((v - 0.86) / 0.08) ** 2))
        x = self.cx + self.hw * np.sign(c) * np.abs(c) ** (2.0 / n) * taper
        jaw = np.stack([x, self.cy + self.hl * v], axis=1)
        return np.concatenate([arc(self.cx, self.cy, self.hw, self.hh, math.pi, 2 * math.pi, 28), jaw])


# --------------------------------------------------------------------------- head and skin


def neck_and_head(pen: Pen, g: Look, ident: FaceIdentity) -> None:
    nw, neck = g.hw * (0.47 if g.male else 0.37), shade(g.skin, 0.9)
    pen.fill(
        [
            (g.cx - nw, g.cy + 0.4 * g.hl),
            (g.cx + nw, g.cy + 0.4 * g.hl),
            (g.cx + nw * 1.06, 222.0),
            (g.cx - nw * 1.06, 222.0),
        ],
        neck,
    )
    pen.ellipse((g.cx, 221.0), (nw * 1.06, 11.0), neck, a0=0, a1=180)
    pen.ellipse(
        (g.cx, 219.0), (nw * 1.3, 16.0), shade(ident.shirt_colour, 0.72), 3.5, a0=15, a1=165
    )  # collar
    pen.ellipse((g.cx, g.cy + g.hl - 6), (g.hw * 0.5, 14.0), shade(g.skin, 0.78))  # shadow under the chin
    for dy in {"young": (), "adult": (4.0,), "senior": (0.0, 9.0)}[g.age]:  # neck lines
        y = g.cy + g.hl + 10 + dy
        pen.line(curve((g.cx - nw * 0.6, y), (g.cx, y + 5), (g.cx + nw * 0.6, y)), shade(g.skin, 0.75), 1.6)
    for s in (-1, 1):  # ears
        c = (g.cx + s * g.hw * 0.97, g.eye_y + 8)
        pen.ellipse(c, (9.0, 17.0), shade(g.skin, 0.95))
        a0 = -100 if s > 0 else 80  # the inner rim, on the outer side of each ear
        pen.ellipse((c[0] + s * 1.5, c[1]), (4.5, 10.0), shade(g.skin, 0.78), 1.8, a0, a0 + 200)
    pen.fill(g.outline, g.skin)


def expression_marks(pen: Pen, g: Look) -> None:
    """Cheeks and expression folds on the bare face, under beard and features."""
    if not g.male or g.emotion == "happy":
        # a smile lifts the cheeks into the light: paler, not redder (red is anger's flush)
        cheek = (
            mix(g.skin, (255, 214, 200), 0.3) if g.emotion == "happy" else mix(g.skin, (236, 120, 120), 0.12)
        )
        for s in (-1, 1):
            pen.ellipse(
                (g.cx + s * g.hw * 0.53, g.eye_y + (22 if g.emotion == "happy" else 27)), (15.0, 10.0), cheek
            )
    if g.emotion == "happy":  # smile folds from the nose wings round the raised mouth corners
        for s in (-1, 1):
            fold = curve(
                (g.cx + s * (g.nose_w + 5), g.nose_y - 5),
                (g.cx + s * (g.mouth_w * 1.3 + 11), g.mouth_y - 8),
                (g.cx + s * (g.mouth_w * 1.3 + 5), g.mouth_y + 6),
            )
            pen.tint(fold, 0.86, 6.0, blur=3)
            pen.line(fold, shade(g.skin, 0.74), 2.2)
    elif g.emotion == "sad":  # raised inner brows crease the middle of the forehead
        pen.tint(blob(g.cx, g.brow_y - 10, 15.0, 8.0), 0.84, blur=3)
    elif g.emotion == "angry":  # a flushed face; knitted brows shadow and crease the glabella
        pen.tint(blob(g.cx, g.cy + 10, g.hw * 0.8, g.hl * 0.7, k=24), (1.0, 0.87, 0.87), blur=6)
        pen.tint(blob(g.cx, g.brow_y + 6, 10.0, 9.0), 0.8, blur=3)
        for s in (-1, 1):
            pen.line(
                [(g.cx + s * 4, g.brow_y + 1), (g.cx + s * 5.5, g.brow_y + 14)], shade(g.skin, 0.68), 2.2
            )


def age_marks(pen: Pen, g: Look) -> None:
    """Age as soft shading (the same direction of change on every skin tone) plus the lines
    a viewer reads: folds, forehead lines, crow's feet, sagging jaw."""
    cx, mw = g.cx, g.mouth_w
    if g.age == "young":  # smooth, glowing skin with a sheen on the cheekbones and forehead
        for s in (-1, 1):
            pen.tint(blob(cx + s * g.hw * 0.5, g.eye_y + 22, 16.0, 11.0), (1.1, 1.06, 1.06), blur=7)
        pen.tint(blob(cx, g.brow_y - 20, g.hw * 0.5, 12.0), (1.08, 1.05, 1.05), blur=7)
        return
    senior = g.age == "senior"
    dark = shade(g.skin, 0.64 if senior else 0.74)
    for s in (-1, 1):  # cheek hollows and nasolabial folds
        fold = curve(
            (cx + s * (g.nose_w + 4), g.nose_y - 5),
            (cx + s * (mw + 11), g.nose_y + 8),
            (cx + s * (mw + 8), g.mouth_y + 8),
        )
        pen.tint(blob(cx + s * g.hw * 0.7, g.nose_y - 2, 8.0, 14.0), warm(0.84 if senior else 0.88), blur=8)
        pen.tint(fold, warm(0.76 if senior else 0.8), 9.0, blur=3)
        pen.line(fold, dark, 2.4 if senior else 2.0)
    for i in range(4 if senior else 2):  # forehead lines
        y, w = g.brow_y - 15 - 7 * i, g.hw * (0.46 - 0.04 * i)
        pen.line(curve((cx - w, y + 2), (cx, y - 4), (cx + w, y + 2)), dark, 2.2)
    if not senior:
        return
    pen.tint(blob(cx, g.brow_y - 26, g.hw * 0.5, 16.0), 0.9, blur=4)
    for s in (-1, 1):
        ox = cx + s * (g.eye_dx + 14)
        for k in (-1.0, 1.0):  # crow's feet
            pen.line([(ox, g.eye_y + k * 2), (ox + s * 8, g.eye_y + k * 6)], dark, 1.6)
        jowl = curve(
            (cx + s * g.hw * 0.86, g.cy + 0.5 * g.hl),
            (cx + s * g.hw * 0.8, g.cy + 0.8 * g.hl),
            (cx + s * g.hw * 0.5, g.cy + 0.9 * g.hl),
        )
        pen.tint(jowl, 0.8, 9.0, blur=3)
        pen.line(jowl, dark, 2.0)
        pen.line(
            curve(
                (cx + s * (mw + 3), g.mouth_y + 4),
                (cx + s * (mw + 6), g.mouth_y + 14),
                (cx + s * (mw + 4), g.mouth_y + 24),
            ),
            dark,
            2.0,
        )  # marionette lines


# --------------------------------------------------------------------------- beard and features


def beard(pen: Pen, g: Look, ident: FaceIdentity, colour: Colour) -> None:
    """Full, goatee, heavy stubble or short boxed, all with a moustache. Facial hair is denser
    than scalp hair, so it is drawn a little darker, and it shadows the neck."""
    style, cx, my, w = ident.beard_style, g.cx, g.mouth_y, g.mouth_w
    colour = mix(colour, (24, 18, 14), 0.22)
    moustache = np.concatenate(
        [
            curve((cx - w - 4, my + 2), (cx, g.nose_y - 2), (cx + w + 4, my + 2)),
            curve((cx + w, my - 1), (cx, my - 8), (cx - w, my - 1)),
        ]
    )
    pen.tint(blob(cx, g.cy + g.hl + 8, g.hw * (0.45 if style == 1 else 0.62), 16.0), 0.6, blur=4)
    if style == 1:
        pen.ellipse((cx, my + 20), (w + 4, 19.0), colour)
        for s in (-1, 1):
            pen.line([(cx + s * (w + 3), my - 2), (cx + s * (w + 6), my + 16)], colour, 7.0)
        pen.fill(moustache, colour)
        return
    jaw = g.outline[28:][g.outline[28:, 1] > g.cy + 4]
    jaw = (g.cx, g.nose_y) + (jaw - (g.cx, g.nose_y)) * (1.08 if style == 0 else 1.03)
    if style == 0:  # a full beard hangs below the chin
        jaw[:, 1] += 10.0 * np.clip((jaw[:, 1] - my) / (g.cy + g.hl - my), 0, 1) ** 2
    top = [
        (cx - g.hw * 0.66, g.nose_y + 2),
        (cx - w - 5, g.nose_y + 5),
        (cx, g.nose_y + 6),
        (cx + w + 5, g.nose_y + 5),
        (cx + g.hw * 0.66, g.nose_y + 2),
    ]
    pen.fill(np.concatenate([jaw, top]), mix(g.skin, colour, {0: 1.0, 2: 0.6, 3: 0.85}[style]))
    pen.fill(moustache, mix(g.skin, colour, 0.75) if style == 2 else colour)


def mouth(pen: Pen, g: Look, ident: FaceIdentity) -> None:
    """Happy: wide open smile with upper teeth. Surprised: open O. Neutral: closed and flat.
    Sad: a strong frown, lips parted, lower lip pouting. Angry: thin pressed lips."""
    cx, my, w, emo = g.cx, g.mouth_y, g.mouth_w, g.emotion
    full = ident.lip_fullness * (1.0 if g.male else 1.3) * (0.65 if g.age == "senior" else 1.0)
    # lips are a darker, redder version of the skin, so they show on every tone; women's redder still
    lip = mix(
        tuple(c * f for c, f in zip(g.skin, (0.92, 0.62, 0.66))), (196, 52, 76), 0.08 if g.male else 0.3
    )
    inside = (84, 24, 30)
    if emo == "happy":
        w *= 1.3
        upper = curve((cx - w, my - 7), (cx, my + 2), (cx + w, my - 7), n=16)
        lower = curve((cx - w, my - 7), (cx, my + 27), (cx + w, my - 7), n=16)
        pen.fill(np.concatenate([upper, lower[::-1]]), inside)
        teeth = upper + np.stack([np.zeros(16), np.minimum(7.0, 0.55 * (lower[:, 1] - upper[:, 1]))], axis=1)
        pen.fill(np.concatenate([upper, teeth[::-1]]), (246, 244, 236))
        pen.line(np.concatenate([upper, lower[::-1]]), lip, 3.0 * full, closed=True)
        return
    if emo == "surprised":
        pen.ellipse((cx, my + 5), (w * 0.5 + 3.5 * full, 15.0 + 3.5 * full), lip)
        pen.ellipse((cx, my + 5), (w * 0.5, 15.0), inside)
        return
    corner, middle, w, thin, gap = {
        "neutral": (0.0, 0.0, w, 1.0, 2.0),
        "sad": (14.0, -7.0, w * 0.85, 1.0, 6.0),
        "angry": (3.0, 1.0, w * 0.85, 0.45, 3.4),
    }[emo]
    t = np.linspace(0.0, 1.0, 15)
    mid = curve((cx - w, my + corner), (cx, my + 2 * middle), (cx + w, my + corner), n=15)
    bow = np.sin(np.pi * t) ** 0.7 * (1 - 0.3 * np.exp(-(((t - 0.5) / 0.08) ** 2)))  # Cupid's bow
    up = mid - np.stack([np.zeros(15), 4.5 * full * thin * bow], axis=1)
    pout = (8.0 if emo == "sad" else 5.5) * full * thin
    lo = mid + np.stack([np.zeros(15), pout * np.sin(np.pi * t) ** 0.8], axis=1)
    if emo != "neutral":  # the pout (sad) or the clench (angry) bunches the chin below the lip
        pen.tint(curve((cx - w * 0.7, my + 14), (cx, my + 24), (cx + w * 0.7, my + 14)), 0.8, 6.0, blur=3)
    pen.fill(np.concatenate([up, mid[::-1]]), shade(lip, 0.9))
    pen.fill(np.concatenate([mid, lo[::-1]]), lip)
    pen.line(mid, inside if emo == "sad" else shade(g.skin, 0.42), gap)


def nose(pen: Pen, g: Look) -> None:
    nw, ny, cx = g.nose_w, g.nose_y, g.cx
    dark, soft = shade(g.skin, 0.62), shade(g.skin, 0.84)
    pen.line(curve((cx - 4, g.brow_y + 10), (cx - 7, ny - 14), (cx - nw * 0.8, ny - 5)), soft, 1.8)
    for s in (-1, 1):
        pen.line(
            curve((cx + s * nw, ny - 4), (cx + s * (nw + 3), ny + 3), (cx + s * nw * 0.45, ny + 3)),
            dark,
            2.0,
        )
        pen.ellipse((cx + s * nw * 0.42, ny + 2), (3.2, 1.9), dark)
    pen.line(curve((cx - nw * 0.4, ny + 3), (cx, ny + 6), (cx + nw * 0.4, ny + 3)), soft, 1.8)


def eyes(pen: Pen, g: Look, ident: FaceIdentity) -> None:
    p, es = EMOTION[g.emotion], ident.eye_size * {"young": 1.04, "adult": 1.0, "senior": 0.96}[g.age]
    ew, r, ey, lid = 12.5 * es, 6.6 * es * p["iris"], g.eye_y, shade(g.skin, 0.3)
    for s in (-1, 1):
        ex = g.cx + s * g.eye_dx
        inner, outer = (ex - s * ew, ey), (ex + s * ew, ey + p["drop"])
        up = curve(
            inner,
            (ex - s * ew / 3, ey - 1.33 * p["up_in"] * es),
            (ex + s * ew / 3, ey + p["drop"] * 0.6 - 1.33 * p["up_out"] * es),
            outer,
            n=14,
        )
        lo = curve(
            inner,
            (ex - s * ew / 3, ey + 1.33 * p["lo"] * es),
            (ex + s * ew / 3, ey + p["drop"] * 0.6 + 1.33 * p["lo"] * es),
            outer,
            n=14,
        )
        pen.fill(np.concatenate([up, lo[::-1]]), (242, 240, 234))
        pen.ellipse((ex, ey + 0.5), (r, r), EYE_COLOURS[ident.eye_colour])
        pen.ellipse((ex, ey + 0.5), (r * 0.45, r * 0.45), (16, 12, 12))
        pen.ellipse((ex + 1.6, ey - 1.4), (1.3, 1.3), (250, 250, 250))
        # skin above the upper and below the lower lid clips the iris to the eye opening
        pen.fill(np.concatenate([up, [(outer[0], ey - r - 5), (inner[0], ey - r - 5)]]), g.skin)
        pen.fill(np.concatenate([lo, [(outer[0], ey + r + 5), (inner[0], ey + r + 5)]]), g.skin)
        if g.emotion == "sad":  # heavy, shadowed upper lids
            pen.tint(up - (0, 4), 0.8, 6.0, blur=2)
        pen.line(up, lid, 2.4 if g.male else 3.2)
        if not g.male:  # lashes flick at the outer corner
            pen.line([up[-3], (outer[0] + s * 4, outer[1] - 3)], lid, 2.2)
        pen.line(lo, shade(g.skin, 0.72), 1.2)
        if g.age != "young":  # under-eye shadow; bags for seniors
            y = ey + max(p["lo"], 2.0) * es
            bag = curve((ex - s * ew * 0.8, y + 4), (ex, y + 11), (ex + s * ew * 0.9, y + 4))
            pen.tint(bag - (0, 1), warm(0.8), 8.0, blur=2)
            pen.line(up - (0, 5), shade(g.skin, 0.72), 1.6)  # upper-lid crease
            if g.age == "senior":
                pen.line(bag, shade(g.skin, 0.66), 2.0)


def brows(pen: Pen, g: Look, ident: FaceIdentity) -> None:
    """Tapered brows: men's thicker and straighter; moved by the emotion's lift, ends and arch."""
    p = EMOTION[g.emotion]
    th, arch = (7.5 if g.male else 5.0) * ident.brow_thickness, (1.5 if g.male else 5.0) + p["arch"]
    colour = mix(g.hair, (72, 52, 38), 0.5) if sum(g.hair) > 360 else shade(g.hair, 0.85)
    taper = (1.0 - 0.45 * np.linspace(0.0, 1.0, 12)[:, None]) * th / 2
    for s in (-1, 1):
        ex, y = g.cx + s * g.eye_dx, g.brow_y + p["lift"]
        inner = (ex - s * (9.0 if g.emotion == "angry" else 12.0), y + p["inner"])
        outer = (ex + s * 16.0, y + p["outer"] + 1.5)
        line = curve(inner, ((inner[0] + outer[0]) / 2, (inner[1] + outer[1]) / 2 - 2 * arch), outer)
        tangent = np.gradient(line, axis=0)
        normal = np.stack([-tangent[:, 1], tangent[:, 0]], axis=1) / np.linalg.norm(tangent, axis=1)[:, None]
        pen.fill(np.concatenate([line + normal * taper, (line - normal * taper)[::-1]]), colour)


def glasses(pen: Pen, g: Look, ident: FaceIdentity) -> None:
    """Tinted lenses, rims, a glint, temples running to the ears, and a bridge."""
    colour = FRAME_COLOURS[ident.glasses_colour]
    rw, rh, n, th = ((15.5, 15.0, 2.0, 4.6), (18.0, 13.0, 4.5, 5.2), (18.5, 14.0, 2.6, 6.5))[
        ident.glasses_style
    ]
    ey = g.eye_y + 1
    for s in (-1, 1):
        ex = g.cx + s * g.eye_dx
        rim = blob(ex, ey, rw, rh, n, 36)
        pen.tint(rim, (0.76, 0.8, 0.9))
        pen.line(rim, colour, th, closed=True)
        pen.line([(ex - 0.55 * rw, ey - 0.2 * rh), (ex - 0.2 * rw, ey - 0.62 * rh)], (236, 240, 246), 1.6)
        pen.line([(ex + s * rw, ey - 4), (g.cx + s * g.hw * 0.99, ey - 6)], colour, th * 0.85)
    bridge = curve((g.cx - g.eye_dx + rw, ey - 3), (g.cx, ey - 8), (g.cx + g.eye_dx - rw, ey - 3), n=8)
    pen.line(bridge, colour, th * 0.85)


def hat(pen: Pen, g: Look, ident: FaceIdentity) -> None:
    """Cap, beanie or brimmed hat. It stops at the upper forehead, so hair stays visible at
    the sides and below it, and it shades the forehead."""
    colour, dark, cx, hw = ident.hat_colour, shade(ident.hat_colour, 0.72), g.cx, g.hw
    base = g.hairline_y + 5
    height = base - (g.cy - g.hh - 14)
    reach = (26.0, 14.0, 32.0)[ident.hat_style]
    pen.tint(
        [
            (cx - hw * 0.9, base - 4),
            (cx + hw * 0.9, base - 4),
            (cx + hw * 0.85, base + reach),
            (cx - hw * 0.85, base + reach),
        ],
        0.68,
        blur=5,
    )
    if ident.hat_style == 0:
        pen.fill(arc(cx, base, hw * 1.1, height, math.pi, 2 * math.pi, 30), colour)
        for dx in (-0.45, 0.45):  # panel seams, button, brim seen from the front
            pen.line(
                curve(
                    (cx, base - height + 2), (cx + hw * dx, base - height * 0.7), (cx + hw * dx * 1.6, base)
                ),
                dark,
                2.0,
            )
        pen.ellipse((cx, base - height + 3), (5.0, 3.5), dark)
        pen.ellipse((cx, base + 1), (hw * 0.98, 14.0), dark, a0=0, a1=180)
        pen.line([(cx - hw * 1.08, base), (cx + hw * 1.08, base)], shade(colour, 0.85), 3.0)
    elif ident.hat_style == 1:
        pen.fill(arc(cx, base, hw * 1.15, height + 2, math.pi, 2 * math.pi, 30), colour)
        for dx in np.linspace(-0.8, 0.8, 7):  # knit ribs above a folded cuff
            pen.line([(cx + hw * dx, base - 14), (cx + hw * dx * 0.7, base - height * 0.75)], dark, 1.6)
        cuff = blob(cx, base - 6, hw * 1.17, 10.0, 6.0, 36)
        pen.fill(cuff, shade(colour, 0.88))
        pen.line(cuff[20:34], dark, 1.6)
    else:
        pen.ellipse((cx, base - 2), (hw * 1.75, 15.0), dark)  # brim, then crown and band
        pen.fill(
            np.concatenate(
                [
                    [(cx - hw * 0.86, base - 4)],
                    curve(
                        (cx - hw * 0.74, base - height + 4),
                        (cx, base - height - 6),
                        (cx + hw * 0.74, base - height + 4),
                    ),
                    [(cx + hw * 0.86, base - 4)],
                ]
            ),
            colour,
        )
        band = mix(colour, (240, 230, 210) if sum(colour) < 380 else (40, 30, 30), 0.6)
        pen.fill(
            [
                (cx - hw * 0.86, base - 4),
                (cx - hw * 0.83, base - 14),
                (cx + hw * 0.83, base - 14),
                (cx + hw * 0.86, base - 4),
            ],
            band,
        )
