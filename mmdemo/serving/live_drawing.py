"""Drawing the desktop live window: the gallery map drawn once with OpenCV (the moving point and its
trail added per frame), the camera panel with the face box and frame rate, and the composite of
camera, reconstruction, attention, map, legend and status lines. Pure OpenCV on arrays: the window,
the camera and the model live in `live.py`."""

from __future__ import annotations

import re
from collections.abc import Sequence

import cv2
import numpy as np

from mmdemo.schema import BY_NAME
from mmdemo.serving.figures import PALETTE, heat_overlay, value_label

PANEL = 256  # px a side of each right-hand panel
CAMERA_SIZE = (640, 512)  # (w, h) of the camera panel; frames are letterboxed into it
STATUS_HEIGHT = 52  # two lines of status text under the panels
COMPOSITE_SHAPE = (CAMERA_SIZE[1] + STATUS_HEIGHT, CAMERA_SIZE[0] + 2 * PANEL, 3)
FONT = cv2.FONT_HERSHEY_SIMPLEX


def _bgr(hex_colour: str) -> tuple[int, int, int]:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return b, g, r


def _ascii(text: str) -> str:
    """OpenCV's Hershey fonts draw ASCII only; anything else would come out as '?' boxes anyway."""
    return re.sub(r"[^\x20-\x7e]", "?", text)


def put_text(
    img: np.ndarray,
    text: str,
    org: tuple[int, int],
    scale: float = 0.5,
    colour=(255, 255, 255),
    max_width: int | None = None,
) -> None:
    """Text with a dark outline (readable on any background), cut with '...' to fit max_width px."""
    text = _ascii(text)
    if max_width is not None:
        while len(text) > 4 and cv2.getTextSize(text, FONT, scale, 1)[0][0] > max_width:
            text = text[:-4] + "..."
    cv2.putText(img, text, org, FONT, scale, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(img, text, org, FONT, scale, colour, 1, cv2.LINE_AA)


class LiveMap:
    """The gallery's 2-D layout drawn once with OpenCV, coloured by an attribute; each frame copies it
    and adds the trail and the moving point (a plotly figure per frame would be far too slow here)."""

    def __init__(self, table, colour_by: str = "emotion", side: int = PANEL, margin: int = 12):
        self.side, self.margin, self.colour_by = side, margin, colour_by
        xy = table[["x2", "y2"]].to_numpy(np.float64)
        self.low, high = xy.min(0), xy.max(0)
        self.span = np.maximum(high - self.low, 1e-9)
        self.legend: list[tuple[str, tuple[int, int, int]]] = []
        self.base = np.full((side, side, 3), 250, np.uint8)
        values = table[colour_by].astype(str).to_numpy()
        for k, value in enumerate(BY_NAME[colour_by].values):
            colour = _bgr(PALETTE[k % len(PALETTE)])
            for p in self.to_pixels(xy[values == value]):
                cv2.circle(self.base, p, 2, colour, -1, cv2.LINE_AA)
            self.legend.append((value_label(colour_by, value), colour))

    def to_pixels(self, xy: np.ndarray) -> list[tuple[int, int]]:
        """Map coordinates -> pixels (y up, as in the app's map), clipped so a far-off point stays visible."""
        unit = (np.atleast_2d(xy) - self.low) / self.span
        usable = self.side - 2 * self.margin
        px = np.clip(self.margin + unit * usable, 0, self.side - 1)
        return [(int(x), int(self.side - 1 - y)) for x, y in px]

    def draw(self, trail: Sequence[np.ndarray]) -> np.ndarray:
        img = self.base.copy()
        points = self.to_pixels(np.asarray(trail)) if len(trail) else []
        for i in range(1, len(points)):  # older segments lighter: the trail shows where it came from
            shade = int(200 * (1 - i / len(points)))
            cv2.line(img, points[i - 1], points[i], (shade, shade, shade), 2, cv2.LINE_AA)
        if points:
            cv2.circle(img, points[-1], 7, (255, 255, 255), -1, cv2.LINE_AA)
            cv2.circle(img, points[-1], 5, (20, 20, 20), -1, cv2.LINE_AA)
        return img


def letterbox(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Fits `img` inside (w, h) keeping its aspect ratio, on a dark background."""
    w, h = size
    scale = min(w / img.shape[1], h / img.shape[0])
    nw, nh = max(1, round(img.shape[1] * scale)), max(1, round(img.shape[0] * scale))
    out = np.full((h, w, 3), 24, np.uint8)
    x, y = (w - nw) // 2, (h - nh) // 2
    out[y : y + nh, x : x + nw] = cv2.resize(
        img, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    )
    return out


def camera_panel(frame: np.ndarray, box, fps: float) -> np.ndarray:
    shown = frame.copy()
    if box is not None:
        x, y, w, h = box
        thickness = max(2, shown.shape[1] // 240)
        cv2.rectangle(shown, (x, y), (x + w, y + h), (80, 220, 80), thickness, cv2.LINE_AA)
    panel = letterbox(shown, CAMERA_SIZE)
    put_text(panel, f"{fps:.1f} fps", (10, 26), 0.7)
    if box is None:
        put_text(
            panel,
            "no face found: the centre of the frame is used",
            (10, CAMERA_SIZE[1] - 14),
            colour=(120, 200, 255),
        )
    return panel


def info_panel(reading, live_map: LiveMap) -> np.ndarray:
    img = np.full((PANEL, PANEL, 3), 40, np.uint8)
    put_text(img, "fused: " + " + ".join("face" if m == "image" else m for m in reading.inputs), (10, 24))
    put_text(img, f"map colour: {live_map.colour_by}", (10, 54))
    for i, (label, colour) in enumerate(live_map.legend):
        y = 80 + 22 * i
        cv2.circle(img, (18, y - 5), 6, colour, -1, cv2.LINE_AA)
        put_text(img, label, (32, y), 0.5, max_width=PANEL - 40)
    return img


def compose(
    frame: np.ndarray, reading, map_image: np.ndarray, live_map: LiveMap, status: Sequence[str], fps: float
) -> np.ndarray:
    """One BGR image: camera left; reconstruction, attention, map and legend right; status lines below."""
    to_bgr = lambda rgb: cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)  # noqa: E731 - the model speaks RGB, OpenCV BGR
    canvas = np.full(COMPOSITE_SHAPE, 16, np.uint8)
    cw, ch = CAMERA_SIZE
    canvas[:ch, :cw] = camera_panel(frame, reading.box, fps)
    recon = cv2.resize(reading.reconstruction, (PANEL, PANEL), interpolation=cv2.INTER_CUBIC)
    panels = [
        (to_bgr(recon), "reconstruction"),
        (to_bgr(heat_overlay(reading.crop, reading.heat, size=PANEL)), "attention rollout"),
        (map_image, "map: you are the black dot"),
        (info_panel(reading, live_map), ""),
    ]
    for i, (img, label) in enumerate(panels):
        x, y = cw + PANEL * (i % 2), PANEL * (i // 2)
        canvas[y : y + PANEL, x : x + PANEL] = img
        if label:
            put_text(canvas, label, (x + 6, y + PANEL - 8), 0.45)
    for i, line in enumerate(status):
        put_text(canvas, line, (10, ch + 20 + 22 * i), 0.5, max_width=COMPOSITE_SHAPE[1] - 20)
    return canvas
