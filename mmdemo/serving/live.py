"""`python -m mmdemo live`: the live view in a desktop window (OpenCV), or headless into PNG files.

Left: the camera (or a video file) with the detected face box and the frame rate. Right: the face the
model reconstructs, its attention rollout over the face, and a small map of the gallery with the moving
point and its trail. A description typed in the terminal (`t`) or 3 s of voice (`r`) is fused with every
following frame. The model work is `DemoService.live_reading`, shared with the app's browser live tab;
nothing here imports gradio, and a missing microphone or PortAudio only turns the voice off.
"""

from __future__ import annotations

import os
import re
import statistics
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from mmdemo.schema import NAMES
from mmdemo.serving.live_drawing import LiveMap, compose

RECORD_SECONDS = 3.0
RECORD_RATE = 16000  # the model's rate (audio.SAMPLE_RATE; not imported: it pulls in torch)
TRAIL_LENGTH = 24  # map positions kept behind the moving point
WINDOW_TITLE = "mmdemo live"
MESSAGE_SECONDS = 6.0  # how long a message replaces the key help in the status line
KEYS_HELP = "keys: r record 3 s | t type a description | s snapshot | q quit"
PORTAUDIO_MISSING = (
    "voice off: the PortAudio library is missing; install it (Debian/Ubuntu: "
    "sudo apt-get install libportaudio2; macOS: brew install portaudio) and restart"
)
NO_MICROPHONE = "voice off: no microphone found; plug one in (or enable it) and restart"


@dataclass
class LiveOptions:
    checkpoint: Path = Path("checkpoints/default")
    camera: int = 0
    source: Path | None = None  # a video file instead of the camera
    headless: bool = False  # no window: every composed frame goes to `out` as a PNG
    frames: int | None = None  # stop after this many frames (None: until the video ends or q)
    out: Path = Path(".")  # headless frames and `s` snapshots
    device: str = "auto"
    colour_by: str = "emotion"

    def __post_init__(self):
        if self.frames is not None and self.frames < 1:
            raise ValueError(f"--frames must be 1 or more, not {self.frames}")
        if self.colour_by not in NAMES:
            raise ValueError(
                f"unknown attribute {self.colour_by!r} to colour the map by; use one of {', '.join(NAMES)}"
            )


@dataclass
class LiveSummary:
    frames: int
    median_fps: float
    headless: bool
    out: Path

    def line(self) -> str:
        done = (
            f"wrote {self.frames} frames to {self.out}" if self.headless else f"showed {self.frames} frames"
        )
        return f"{done}, median {self.median_fps:.1f} frames per second"


# ------------------------------------------------------------------ inputs
class FrameSource:
    """BGR frames from a camera or a video file. The first frame is read on opening, so a source that
    cannot deliver fails before the model loads, with a message naming it."""

    def __init__(self, camera: int = 0, source: Path | None = None):
        self.is_file = source is not None
        self.name = str(source) if self.is_file else f"camera {camera}"
        if self.is_file and not Path(source).is_file():
            raise ValueError(f"--source {source} does not exist; give a video file (.mp4, .avi, ...)")
        previous = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # OpenCV's per-backend warnings
        try:
            self._capture = cv2.VideoCapture(str(source) if self.is_file else int(camera))
            ok, first = self._capture.read() if self._capture.isOpened() else (False, None)
        finally:
            cv2.utils.logging.setLogLevel(previous)
        if not ok:
            self._capture.release()
            if self.is_file:
                raise ValueError(
                    f"cannot read {source} as a video (OpenCV/FFmpeg could not decode a frame); "
                    f"give a video file such as .mp4 or .avi"
                )
            raise ValueError(
                f"no camera opened at index {camera}; plug in a camera (or try another --camera N), "
                f"or pass --source VIDEO_FILE"
            )
        self._pending: np.ndarray | None = first
        self.ended = False

    def read(self) -> np.ndarray | None:
        """The next frame, or None at the end of the video (or when the camera stops)."""
        if self._pending is not None:
            frame, self._pending = self._pending, None
            return frame
        ok, frame = self._capture.read()
        self.ended = not ok
        return frame if ok else None

    def release(self) -> None:
        self._capture.release()


class Microphone:
    """sounddevice's default input; `record` returns (16000, mono float32 samples)."""

    def __init__(self, sd):
        self._sd = sd

    def record(self, seconds: float = RECORD_SECONDS) -> tuple[int, np.ndarray]:
        failure = getattr(self._sd, "PortAudioError", OSError)
        try:
            samples = self._sd.rec(
                int(seconds * RECORD_RATE), samplerate=RECORD_RATE, channels=1, dtype="float32"
            )
            self._sd.wait()
        except failure as e:  # unplugged or busy since the probe
            raise ValueError(f"recording failed ({e}); check the microphone and press r again") from None
        return RECORD_RATE, np.asarray(samples, np.float32).reshape(-1)


def open_microphone() -> tuple[Microphone | None, str]:
    """The microphone, or None and one line saying what to install or plug in (the voice then stays off)."""
    try:
        import sounddevice as sd
    except OSError:  # what sounddevice raises when the PortAudio C library is not installed
        return None, PORTAUDIO_MISSING
    except ImportError:
        return None, "voice off: the sounddevice package is missing; pip install sounddevice, then restart"
    try:
        sd.query_devices(kind="input")
    except Exception:  # sounddevice.PortAudioError ("Error querying device -1") or a driver error: no input
        return None, NO_MICROPHONE
    return Microphone(sd), "voice ready: press r to record 3 s"


# ----------------------------------------------------------------- session
@dataclass
class LiveSession:
    """What the user added to the camera (typed description, recorded voice) and what the status line says.

    Both are encoded once into `context` (DemoService.live_context) and fused with every later frame."""

    service: object  # DemoService (imported lazily: torch loads only once a source opened)
    microphone: Microphone | None
    voice_note: str  # why the voice is off, or that it is ready
    text: str | None = None
    voice: tuple[int, np.ndarray] | None = None
    context: object | None = None  # Encoded tokens of text/voice, or None
    message: str = ""
    message_at: float = 0.0  # when `message` was said; the key help returns MESSAGE_SECONDS later

    def say(self, message: str) -> None:
        self.message, self.message_at = message, time.monotonic()

    def set_text(self, text: str) -> None:
        self._update(
            text.strip() or None, self.voice, "description " + ("set" if text.strip() else "cleared")
        )

    def record_voice(self) -> None:
        if self.microphone is None:
            self.say(self.voice_note)
            return
        print(f"recording {RECORD_SECONDS:.0f} s ...", file=sys.stderr, flush=True)
        try:
            voice = self.microphone.record()
        except ValueError as e:
            self.say(str(e))
            return
        self._update(self.text, voice, f"voice recorded ({RECORD_SECONDS:.0f} s) and fused")

    def _update(self, text, voice, done: str) -> None:
        try:
            self.context = self.service.live_context(text, voice)
        except ValueError as e:  # e.g. "no voice detected: the recording is silent ..."; keep what we had
            self.say(str(e))
            return
        self.text, self.voice = text, voice
        self.say(done)

    def status_lines(self) -> list[str]:
        idle = "voice ready (r records 3 s)" if self.microphone else self.voice_note
        voice = "voice on" if self.voice is not None else idle
        description = f'description: "{self.text}"' if self.text else "no description (t to type one)"
        recent = self.message and time.monotonic() - self.message_at < MESSAGE_SECONDS
        return [f"{voice} | {description}", self.message if recent else KEYS_HELP]


def read_description() -> str:
    """A line typed in the terminal (the window waits meanwhile); empty at end of input."""
    try:
        return input("description (empty clears it)> ")
    except EOFError:
        return ""


def handle_key(
    key: int,
    session: LiveSession,
    snapshot: Callable[[], Path],
    read_text: Callable[[], str] = read_description,
) -> bool:
    """Acts on one key; False when the user asked to quit."""
    char = chr(key & 0xFF).lower()
    if char == "q" or key & 0xFF == 27:  # q or Esc
        return False
    if char == "r":
        session.record_voice()
    elif char == "t":
        session.set_text(read_text())
    elif char == "s":
        session.say(f"saved {snapshot()}")
    return True


# ----------------------------------------------------------------- drawing
# ----------------------------------------------------------------- outputs
class Output(Protocol):
    def show(self, image: np.ndarray) -> int | None: ...  # the key pressed, if any
    def close(self) -> None: ...


class HeadlessOutput:
    """Writes every composed frame as frame_00000.png, ... (no display needed)."""

    def __init__(self, out: Path):
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.count = 0

    def show(self, image: np.ndarray) -> int | None:
        cv2.imwrite(str(self.out / f"frame_{self.count:05d}.png"), image)
        self.count += 1
        return None

    def close(self) -> None:
        pass


def gui_problem() -> str | None:
    """Why no OpenCV window can open here, or None. Checked before any cv2 window call: with no display,
    OpenCV's Qt backend aborts the whole process instead of raising."""
    gui = re.search(r"^\s*GUI:\s*(\S+)", cv2.getBuildInformation(), re.MULTILINE)
    if gui and gui.group(1).upper() == "NONE":
        return (
            "this OpenCV has no window support (a -headless build); pip install opencv-python, "
            "or use --headless --out DIR"
        )
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        return "no display to open a window on; run it in a desktop session, or use --headless --out DIR"
    return None


class Window:
    """The OpenCV window; closing it counts as q."""

    def __init__(self):
        problem = gui_problem()
        if problem:
            raise ValueError(problem)
        try:
            cv2.namedWindow(WINDOW_TITLE, cv2.WINDOW_AUTOSIZE)
        except cv2.error:
            raise ValueError(
                "OpenCV cannot open a window here; use --headless --out DIR, "
                "or install a GUI build of OpenCV (pip install opencv-python)"
            ) from None
        self.shown = False

    def show(self, image: np.ndarray) -> int | None:
        if self.shown and cv2.getWindowProperty(WINDOW_TITLE, cv2.WND_PROP_VISIBLE) < 1:
            return ord("q")  # the user closed the window
        cv2.imshow(WINDOW_TITLE, image)
        self.shown = True
        key = cv2.waitKey(1)
        return key if key >= 0 else None

    def close(self) -> None:
        cv2.destroyAllWindows()
        cv2.waitKey(1)  # lets the GUI thread actually take the window down


# -------------------------------------------------------------------- loop
@dataclass
class FrameRate:
    """Frames per second over the last few seconds (shown) and every frame interval (the summary's median)."""

    window_s: float = 2.0
    intervals: list[float] = field(default_factory=list)
    _recent: deque = field(default_factory=lambda: deque(maxlen=240))

    def tick(self) -> float:
        now = time.perf_counter()
        if self._recent:
            self.intervals.append(now - self._recent[-1])
        self._recent.append(now)
        while now - self._recent[0] > self.window_s:
            self._recent.popleft()
        span = self._recent[-1] - self._recent[0]
        return (len(self._recent) - 1) / span if span > 0 else 0.0

    def median(self) -> float:
        return 1.0 / statistics.median(self.intervals) if self.intervals else 0.0


def save_snapshot(image: np.ndarray, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d_%H%M%S") + f"_{int(time.time() * 1000) % 1000:03d}"
    path = out / f"live_{stamp}.png"
    cv2.imwrite(str(path), image)
    return path


def run_live(
    options: LiveOptions,
    *,
    output: Output | None = None,
    service=None,
    read_text: Callable[[], str] = read_description,
) -> LiveSummary:
    """The live loop until q, a closed window, the end of the video or `options.frames` frames.

    output/service/read_text: injected by tests (a scripted output, an already loaded model)."""
    source = FrameSource(options.camera, options.source)  # fails fast, before the model loads
    try:
        output = output or (HeadlessOutput(options.out) if options.headless else Window())
        microphone, voice_note = open_microphone()
        if microphone is None:
            print(voice_note, file=sys.stderr, flush=True)
        if service is None:  # this process is ours: tune it for one small frame at a time
            import torch

            from mmdemo.serving.service import DemoService

            # A frame is a batch of one: intra-op threads gain little, and on a busy CPU OpenMP's waiting
            # threads made each frame many times slower (2 cores, 4 other processes: 1190 ms vs 31 ms).
            torch.set_num_threads(1)
            service = DemoService(options.checkpoint, options.device)
        session = LiveSession(service, microphone, voice_note)
        frames, rate = _loop(
            source, output, session, LiveMap(service.gallery.table, options.colour_by), options, read_text
        )
    finally:
        source.release()
        if output is not None:
            output.close()
    if source.ended and not source.is_file:
        print(f"{source.name} stopped sending frames", file=sys.stderr)
    return LiveSummary(frames, rate.median(), options.headless, options.out)


def _loop(
    source: FrameSource,
    output: Output,
    session: LiveSession,
    live_map: LiveMap,
    options: LiveOptions,
    read_text: Callable[[], str],
) -> tuple[int, FrameRate]:
    trail: deque = deque(maxlen=TRAIL_LENGTH)
    rate, frames = FrameRate(), 0
    while options.frames is None or frames < options.frames:
        frame = source.read()
        if frame is None:
            break
        reading = session.service.live_reading(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), session.context)
        trail.append(reading.coords[:2])
        image = compose(frame, reading, live_map.draw(trail), live_map, session.status_lines(), rate.tick())
        key = output.show(image)
        frames += 1
        if key is not None and not handle_key(
            key, session, lambda im=image: save_snapshot(im, options.out), read_text
        ):
            break
    return frames, rate
