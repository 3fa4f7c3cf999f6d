"""`python -m mmdemo live`: the headless loop end to end on a video the test writes, the clear refusals
(no camera, unreadable video), the voice turning off without PortAudio or a microphone, and the keys."""

import os
import subprocess
import sys
import types
from pathlib import Path

import cv2
import numpy as np
import pytest
import soundfile as sf

from mmdemo.serving import live, live_drawing

REPO = Path(__file__).resolve().parents[1]
FACE = REPO / "assets" / "examples" / "person2.png"
VOICE = REPO / "assets" / "examples" / "person2.wav"


def write_face_video(path: Path, frames: int, size=(320, 240), face_side=160) -> Path:
    """An MJPG .avi of person2's face drifting sideways (at this size the Haar cascade finds it)."""
    face = cv2.resize(cv2.imread(str(FACE)), (face_side, face_side), interpolation=cv2.INTER_CUBIC)
    w, h = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 15, size)
    assert writer.isOpened(), "this OpenCV cannot write MJPG video"
    for i in range(frames):
        x, y = (w - face_side) // 2 + int(12 * np.sin(i / 3)), (h - face_side) // 2
        writer.write(
            cv2.copyMakeBorder(face, y, h - face_side - y, x, w - face_side - x, cv2.BORDER_REPLICATE)
        )
    writer.release()
    return path


def run_cli(*args: str, extra_env: dict | None = None) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        **(extra_env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "mmdemo", "live", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return write_face_video(tmp_path_factory.mktemp("video") / "face.avi", frames=10)


@pytest.fixture(scope="module")
def live_checkpoint(tiny_checkpoint, tiny_data):
    """The tiny checkpoint with a PCA gallery (built here unless another test module already did)."""
    if not (tiny_checkpoint / "gallery").is_dir():
        from mmdemo.inference.projection import build_gallery

        build_gallery(tiny_checkpoint, tiny_data, people=120, device="cpu", layout="pca")
    return tiny_checkpoint


@pytest.fixture(scope="module")
def service(live_checkpoint):
    from mmdemo.serving.service import DemoService

    return DemoService(live_checkpoint, "cpu")


def fake_portaudio_missing(folder: Path, monkeypatch) -> None:
    """`import sounddevice` raises what the real one raises when libportaudio2 is not installed."""
    (folder / "sounddevice.py").write_text('raise OSError("PortAudio library not found")\n')
    monkeypatch.delitem(sys.modules, "sounddevice", raising=False)
    monkeypatch.syspath_prepend(str(folder))


def fake_sounddevice(recordings=(), has_input=True) -> types.ModuleType:
    """A sounddevice whose default input plays back `recordings` (16 kHz float arrays), one per rec()."""
    sd = types.ModuleType("sounddevice")
    sd.PortAudioError = type("PortAudioError", (Exception,), {})
    queue = list(recordings)

    def query_devices(device=None, kind=None):
        if not has_input:
            raise sd.PortAudioError("Error querying device -1")
        return {"name": "fake microphone", "max_input_channels": 1}

    def rec(frames, samplerate, channels, dtype):
        clip = np.resize(queue.pop(0), frames).astype(dtype)  # loops the clip to the requested length
        return clip.reshape(frames, channels)

    sd.query_devices, sd.rec, sd.wait = query_devices, rec, lambda: None
    return sd


# ------------------------------------------------------------------ the command, end to end
@pytest.mark.slow
def test_headless_run_writes_composed_frames(live_checkpoint, video, tmp_path):
    out = tmp_path / "frames"
    result = run_cli(
        "--headless",
        "--source",
        str(video),
        "--frames",
        "6",
        "--out",
        str(out),
        "--checkpoint",
        str(live_checkpoint),
        "--device",
        "cpu",
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert f"wrote 6 frames to {out}, median" in result.stdout and "frames per second" in result.stdout
    pngs = sorted(out.glob("*.png"))
    assert [p.name for p in pngs] == [f"frame_{i:05d}.png" for i in range(6)]
    for png in pngs:
        image = cv2.imread(str(png))
        assert image.shape == live_drawing.COMPOSITE_SHAPE
        recon = image[
            : live_drawing.PANEL - 30,
            live_drawing.CAMERA_SIZE[0] : live_drawing.CAMERA_SIZE[0] + live_drawing.PANEL,
        ]  # above its label
        assert recon.std() > 3, "the reconstruction panel is blank"


def test_missing_camera_is_one_clear_line(tmp_path):
    result = run_cli("--camera", "99", "--headless", "--frames", "2", "--out", str(tmp_path))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "no camera opened at index 99" in lines[0] and "--source" in lines[0]
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("kind", ["not a video", "missing"])
def test_unreadable_source_names_the_file(tmp_path, kind):
    path = tmp_path / "clip.avi"
    if kind == "not a video":
        path.write_text("this is not a video")
    result = run_cli("--headless", "--source", str(path), "--frames", "2", "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr, result.stderr
    assert str(path) in result.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the display check is Linux's (X11/Wayland)")
def test_no_display_says_use_headless(video, monkeypatch):
    """Checked before any window call: OpenCV's Qt backend aborts the process when there is no display."""
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(ValueError, match="--headless"):
        live.run_live(live.LiveOptions(source=video))


# ------------------------------------------------------------------ voice off, not a crash
def test_missing_portaudio_turns_voice_off(tmp_path, monkeypatch):
    fake_portaudio_missing(tmp_path, monkeypatch)
    microphone, note = live.open_microphone()
    assert microphone is None
    assert "\n" not in note and "PortAudio" in note and "apt-get install libportaudio2" in note


def test_no_input_device_turns_voice_off(monkeypatch):
    monkeypatch.setitem(sys.modules, "sounddevice", fake_sounddevice(has_input=False))
    microphone, note = live.open_microphone()
    assert microphone is None
    assert "\n" not in note and "plug" in note and "microphone" in note


@pytest.mark.slow
def test_live_loop_runs_with_voice_off(service, video, tmp_path, monkeypatch, capsys):
    fake_portaudio_missing(tmp_path, monkeypatch)
    summary = live.run_live(
        live.LiveOptions(source=video, headless=True, frames=3, out=tmp_path / "out"), service=service
    )
    assert summary.frames == 3 and len(list((tmp_path / "out").glob("frame_*.png"))) == 3
    assert live.PORTAUDIO_MISSING in capsys.readouterr().err


# ------------------------------------------------------------------ keys
class ScriptedOutput:
    """Stands in for the window: presses one scripted key per frame and keeps what it was shown."""

    def __init__(self, keys):
        self.keys, self.shown = list(keys), []

    def show(self, image):
        self.shown.append(image)
        key = self.keys.pop(0) if self.keys else None
        return ord(key) if key else None

    def close(self):
        pass


@pytest.mark.slow
def test_keys_type_record_snapshot_and_quit(service, video, tmp_path, monkeypatch):
    voice, rate = sf.read(VOICE, dtype="float32")
    assert rate == live.RECORD_RATE
    monkeypatch.setitem(sys.modules, "sounddevice", fake_sounddevice([np.zeros(100, np.float32), voice]))
    statuses, inputs = [], []
    compose = live.compose

    def spy(frame, reading, *args):
        statuses.append(args[-2])
        inputs.append(reading.inputs)
        return compose(frame, reading, *args)

    monkeypatch.setattr(live, "compose", spy)
    output = ScriptedOutput(["t", "r", "r", "s", None, "q", None])
    summary = live.run_live(
        live.LiveOptions(source=video, out=tmp_path),
        output=output,
        service=service,
        read_text=lambda: "A happy young woman with red hair.",
    )
    assert summary.frames == 6, "q ends the loop on the frame it is pressed"
    assert inputs[0] == ("image",) and inputs[1] == ("image", "text")
    assert "no voice detected" in statuses[2][1], "silence is refused in the status line, not a crash"
    assert inputs[2] == ("image", "text") and inputs[3] == ("image", "text", "voice")
    assert statuses[3][0].startswith("voice on") and "red hair" in statuses[3][0]
    snapshots = list(tmp_path.glob("live_*.png"))
    assert len(snapshots) == 1 and cv2.imread(str(snapshots[0])).shape == live_drawing.COMPOSITE_SHAPE
    assert statuses[4][1].startswith("saved ")


def test_map_keeps_far_points_inside_the_panel():
    import pandas as pd

    table = pd.DataFrame({"x2": [0.0, 1.0, 0.5], "y2": [0.0, 1.0, 0.5], "emotion": ["happy", "sad", "angry"]})
    live_map = live_drawing.LiveMap(table, "emotion")
    for x, y in live_map.to_pixels(np.array([[-50.0, 80.0], [0.5, 0.5]])):
        assert 0 <= x < live_drawing.PANEL and 0 <= y < live_drawing.PANEL
    image = live_map.draw([np.array([0.2, 0.2]), np.array([0.8, 0.9])])
    assert image.shape == (live_drawing.PANEL, live_drawing.PANEL, 3) and (image != live_map.base).any()
