"""A browser with a fake webcam and microphone: the media files Chromium plays as its camera and
microphone, the flags it needs here, and finding a Gradio component in its page. Shared by the
browser test and the browser benchmark."""

from __future__ import annotations

import os
import re
from math import gcd
from pathlib import Path

import cv2
import numpy as np
import soundfile as sf

CHROMIUM = os.environ.get("MMDEMO_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [  # headless, offline: nothing is fetched from outside
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def fake_media_args(webcam_y4m: Path, microphone_wav: Path) -> list[str]:
    """Chromium flags that grant the camera and microphone and play these files through them."""
    return CHROMIUM_ARGS + [
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={webcam_y4m}",
        f"--use-file-for-fake-audio-capture={microphone_wav}",
    ]


def launch_browser(playwright, profile: Path, webcam_y4m: Path, microphone_wav: Path):
    """Chromium (a persistent context) whose camera and microphone play these files, granted both."""
    return playwright.chromium.launch_persistent_context(
        str(profile),
        executable_path=CHROMIUM,
        args=fake_media_args(webcam_y4m, microphone_wav),
        headless=True,
        permissions=["camera", "microphone"],
        viewport={"width": 1400, "height": 1000},
    )


def write_y4m(
    path: Path, face_png: Path, width=320, height=240, fps=15, seconds=3, sway_px: int = 0
) -> np.ndarray:
    """A webcam: the face scaled into the middle of a plain background, as raw 4:2:0 frames; still,
    or swaying `sway_px` pixels side to side under a flickering light, as a person in front of a
    camera does, once over the whole clip (each of its frames then differs, and so does what a live
    view shows of it; Chromium loops the clip). Returns the first frame (BGR)."""
    side = min(width, height) - 40
    face = cv2.resize(cv2.imread(str(face_png)), (side, side), interpolation=cv2.INTER_CUBIC)
    half = (width // 2, height // 2)
    n = fps * seconds

    def frame_at(i: int) -> tuple[np.ndarray, bytes]:
        shift = round(sway_px * np.sin(2 * np.pi * i / n))
        frame = np.full((height, width, 3), (200, 205, 210), np.uint8)
        y0, x0 = (height - side) // 2, (width - side) // 2 + shift
        frame[y0 : y0 + side, x0 : x0 + side] = face
        if sway_px:
            light = 1 + 0.08 * np.sin(2 * np.pi * i / n)
            frame = np.clip(frame * light, 0, 255).astype(np.uint8)
        ycc = cv2.cvtColor(frame, cv2.COLOR_BGR2YCrCb)  # full-range (JPEG) YCbCr, as C420jpeg wants
        cb = cv2.resize(ycc[..., 2], half, interpolation=cv2.INTER_AREA)
        cr = cv2.resize(ycc[..., 1], half, interpolation=cv2.INTER_AREA)
        return frame, b"FRAME\n" + ycc[..., 0].tobytes() + cb.tobytes() + cr.tobytes()

    cycle = [frame_at(i) for i in range(n if sway_px else 1)]  # the whole clip, or one still
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for i in range(n):
            f.write(cycle[i % len(cycle)][1])
    return cycle[0][0]


def write_wav(path: Path, voice_wav: Path, rate=48000, seconds=6.0) -> None:
    """The example voice at 48 kHz, 16-bit mono, with short silences around it, repeated to ~6 s
    (Chromium loops the file; repeating keeps speech inside any 2 s window of the recording)."""
    from scipy.signal import resample_poly

    wave, sr = sf.read(str(voice_wav), dtype="float32")
    if wave.ndim > 1:
        wave = wave.mean(axis=1)
    g = gcd(rate, sr)
    wave = resample_poly(wave, rate // g, sr // g).astype(np.float32)
    gap = np.zeros(int(0.3 * rate), np.float32)
    unit = np.concatenate([gap, wave, gap])
    out = np.zeros(int(seconds * rate), np.float32)
    for start in range(0, len(out) - len(unit) + 1, len(unit)):
        out[start : start + len(unit)] = unit
    sf.write(str(path), np.clip(out, -1, 1), rate, subtype="PCM_16")


def block(page, label: str):
    """A component's block in a Gradio page, found by its label (not every component has an elem_id)."""
    return (
        page.locator("div.block")
        .filter(
            has=page.locator(
                "label[data-testid='block-label']", has_text=re.compile(rf"^\s*{re.escape(label)}\s*$")
            )
        )
        .last
    )


# The Live tab's reconstruction <img>, and a counter of the distinct reconstructions it draws
# (window.__live: one timestamp per new picture, on animation frames; stop with __liveRaf).
LIVE_IMAGE = "document.querySelector('#live-live_recon img')"
# New reconstructions drawn: each change of the image's address, counted once it has loaded. Not each
# new address: the files are named by their content, and a looping clip brings the same ones back.
COUNT_LIVE_FRAMES = (
    """() => { window.__live = []; let last = null;
  const tick = () => { const i = """
    + LIVE_IMAGE
    + """;
    if (i && i.src && i.src !== last && i.complete) {
      last = i.src; window.__live.push(performance.now()); }
    window.__liveRaf = requestAnimationFrame(tick); };
  tick(); }"""
)


def start_live_stream(page) -> None:
    """Opens the Live tab, starts the fake webcam streaming, and waits for the first reconstruction."""
    page.get_by_role("tab", name="Live").click()
    cam = block(page, "webcam")
    cam.get_by_text("Click to Access Webcam").click()
    page.wait_for_function("(v) => v.videoWidth > 0", arg=cam.locator("video").element_handle())
    cam.locator("button[aria-label='capture photo']").click()  # labelled "Record" when streaming
    page.wait_for_function(f"() => {{ const i = {LIVE_IMAGE}; return i && i.src; }}")
