"""A corpus of bad and odd inputs, each through the Python API and through the app's /analyze over HTTP.

Every case is a refusal whose message says what is wrong and what to do, or an analysis of what
could be used, with the expected warning; after every HTTP case the server still answers.
The files are written once per module; the 10-minute recording is 8 kHz 8-bit (4.8 MB), so it
passes the test server's 12 MB upload limit and reaches the library's 30 s cut.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cv2
import numpy as np
import pytest
import soundfile as sf
from PIL import Image
from scipy.signal import resample_poly

from mmdemo.data.preprocess import prepare_image
from mmdemo.inference.model import Analysis
from mmdemo.synth.descriptions_zh import has_chinese
from webapp.messages import say

EXAMPLES = Path(__file__).resolve().parents[1] / "assets" / "examples"
Writer = Callable[[Path], object]  # writes one input file at the given path


# ------------------------------------------------------------------ source media
@cache
def photo(person: int = 2) -> np.ndarray:
    """A 128x128 RGB example portrait with a face OpenCV finds."""
    return np.asarray(Image.open(EXAMPLES / f"person{person}.png").convert("RGB"))


@cache
def speech() -> np.ndarray:
    """1.6 s of example speech, float32 at 16 kHz."""
    wave, rate = sf.read(EXAMPLES / "person2.wav", dtype="float32")
    assert rate == 16000
    return wave


def encoded(array: np.ndarray, ext: str) -> bytes:
    return cv2.imencode(ext, cv2.cvtColor(array, cv2.COLOR_RGB2BGR))[1].tobytes()


def speech_wav() -> bytes:
    return (EXAMPLES / "person2.wav").read_bytes()


def first_half(data: bytes) -> bytes:
    return data[: len(data) // 2]


def silence() -> np.ndarray:
    return np.zeros(32000, np.float32)


def many_faces() -> np.ndarray:
    """Three people on one photo: one at full size on the left, two smaller ones beside."""
    small = [cv2.resize(photo(p), (96, 96), interpolation=cv2.INTER_AREA) for p in (2, 4)]
    return np.hstack([photo(3), np.pad(np.hstack(small), ((0, 32), (0, 0), (0, 0)), constant_values=128)])


def largest_face_was_used(analysis: Analysis) -> None:
    """The model saw the big face on the left, not either small one."""
    seen = analysis.face_crop.astype(int)
    crops = {p: prepare_image(photo(p), len(seen)).crop for p in (2, 3, 4)}
    distance = {p: np.abs(seen - crop).mean() for p, crop in crops.items()}
    assert min(distance, key=distance.get) == 3, distance


def ten_minutes_8k() -> np.ndarray:
    wave = resample_poly(speech(), 1, 2)
    return np.tile(wave, 600 * 8000 // len(wave) + 1)[: 600 * 8000]


def zip_archive() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("voice.txt", "not a recording")
    return buffer.getvalue()


# A header-only MP4 (an 'ftyp' box and padding), the way a phone's video looks to an audio decoder.
MP4_HEADER = b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41" + bytes(2000)


# ------------------------------------------------------------------ writers
def raw(make: Callable[[], bytes]) -> Writer:
    return lambda path: path.write_bytes(make())


def picture(make: Callable[[], np.ndarray | Image.Image], **options) -> Writer:
    def write(path):
        image = make()
        (image if isinstance(image, Image.Image) else Image.fromarray(image)).save(path, **options)

    return write


def recording(make: Callable[[], np.ndarray], rate: int = 16000, **options) -> Writer:
    return lambda path: sf.write(path, make(), rate, **options)


def rgba(alpha: int) -> np.ndarray:
    return np.dstack([photo(), np.full(photo().shape[:2], alpha, np.uint8)])


def with_samples(value: float, every: int) -> np.ndarray:
    wave = speech().copy()
    wave[::every] = value
    return wave


# ------------------------------------------------------------------ the table
@dataclass(frozen=True)
class Case:
    id: str
    face: tuple[str, Writer] | None = None  # (file name, writer)
    text: str | None = None
    voice: tuple[str, Writer] | None = None
    refused: str | None = None  # regex the refusal must match; None: analyzed
    warning: str | None = None  # regex one warning must match; None: no warnings at all
    inputs: tuple[str, ...] | None = None  # modalities used; None: every one given
    face_found: bool | None = None
    check_api: Callable[[Analysis], None] | None = None  # one more assertion on the Python API's result

    def used(self) -> list[str]:
        given = [
            m for m, v in (("image", self.face), ("text", self.text), ("voice", self.voice)) if v is not None
        ]
        return list(self.inputs if self.inputs is not None else given)


UNREADABLE_IMAGE = r"the face file is not a readable image .*; upload a PNG or JPEG photo"
NOTHING = r"nothing to analyze: give a face photo, a description or a voice recording"


def unreadable_audio(name: str) -> str:
    return rf"the audio file '{name}' is not a readable recording .*; upload a WAV, FLAC, OGG or MP3 file"


CASES = [
    # faces
    Case(
        "face-text-file", face=("face.png", raw(lambda: b"this is not a picture")), refused=UNREADABLE_IMAGE
    ),
    Case("face-is-a-wav", face=("face.png", raw(speech_wav)), refused=UNREADABLE_IMAGE),
    Case("face-zero-bytes", face=("face.jpg", raw(lambda: b"")), refused=UNREADABLE_IMAGE),
    Case(
        "face-corrupt-png",
        face=("face.png", raw(lambda: (png := encoded(photo(), ".png"))[:200] + bytes(300) + png[500:])),
        refused=UNREADABLE_IMAGE,
    ),
    Case(
        "face-truncated-png",
        face=("face.png", raw(lambda: first_half(encoded(photo(), ".png")))),
        refused=UNREADABLE_IMAGE,
    ),
    Case(
        "face-truncated-jpeg",
        face=("face.jpg", raw(lambda: first_half(encoded(photo(), ".jpg")))),
        refused=UNREADABLE_IMAGE,
    ),
    Case(
        "face-48-megapixels",
        face=("face.png", picture(lambda: Image.new("L", (8000, 6000), 200))),
        refused=r"the image is 48 megapixels; the limit is 40: resize it",
    ),
    Case(
        "face-8x8",
        face=("face.png", picture(lambda: photo()[:8, :8])),
        refused=r"the image is 8x8 pixels, too small to show a face; use at least 16x16",
    ),
    Case(
        "face-1-channel",
        face=("face.png", picture(lambda: cv2.cvtColor(photo(), cv2.COLOR_RGB2GRAY))),
        face_found=True,
    ),
    Case("face-4-channel", face=("face.png", picture(lambda: rgba(160))), face_found=True),
    Case(
        "face-fully-transparent",
        face=("face.png", picture(lambda: rgba(0))),
        warning="no face was found",
        face_found=False,
    ),
    Case(
        "face-16-bit-grey",
        face=("face.png", picture(lambda: cv2.cvtColor(photo(), cv2.COLOR_RGB2GRAY).astype(np.uint16) * 257)),
        face_found=True,
    ),
    Case(
        "face-16-bit-rgb",
        face=(
            "face.png",
            lambda path: cv2.imwrite(
                str(path), cv2.cvtColor(photo(), cv2.COLOR_RGB2BGR).astype(np.uint16) * 257
            ),
        ),
        face_found=True,
    ),
    Case(
        "face-animated-gif",
        face=(
            "face.gif",
            lambda path: Image.fromarray(photo()).save(
                path,
                save_all=True,
                append_images=[Image.fromarray(255 - photo()), Image.fromarray(photo(3))],
                duration=100,
                loop=0,
            ),
        ),
        face_found=True,
    ),
    Case("face-jpeg-named-png", face=("face.png", raw(lambda: encoded(photo(), ".jpg"))), face_found=True),
    Case(
        "face-none-in-noise",
        face=(
            "face.png",
            picture(lambda: np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8)),
        ),
        warning="no face was found, so the centre of the image was used",
        face_found=False,
    ),
    Case(
        "face-three-people",
        face=("face.png", picture(many_faces)),
        face_found=True,
        check_api=largest_face_was_used,
    ),
    # descriptions
    Case("text-empty", text="", refused=NOTHING),
    Case("text-whitespace", text=" \n\t\u3000 ", refused=NOTHING),
    Case(
        "text-whitespace-with-a-face",
        face=("face.png", picture(photo)),
        text="   \n",
        inputs=("image",),
        face_found=True,
    ),
    Case(
        "text-100k-characters",
        text="a calm man with glasses " * 4200,
        warning=r"longer than 1000 characters; only the first \d+ were used",
    ),
    Case("text-100k-characters-no-spaces", text="x" * 100_000, warning="longer than 1000 characters"),
    Case("text-control-characters", text="\x00\x07A happy\x1b[0m young\x7f woman\x08 with red hair"),
    Case("text-only-control-characters", text="\x00\x01\x1b\x7f\u200b\u202e", refused=NOTHING),
    Case("text-emoji", text="😀 a smiling woman with red hair 👩‍🦰"),
    Case("text-only-emoji", text="😀👩‍🦰🎉"),
    Case("text-right-to-left", text="امرأة سعيدة ذات شعر أحمر"),
    Case("text-rtl-override", text="\u202eA sad old man with a beard\u202c"),
    Case("text-html-script", text='<script>alert("x")</script><img src=x onerror=alert(1)> A sad woman'),
    Case("text-sql", text="Robert'); DROP TABLE people;-- a man with a hat"),
    # voices
    Case(
        "voice-zero-samples",
        voice=("voice.wav", recording(lambda: np.zeros(0, np.float32))),
        refused=r"the audio is empty \(0 samples\); record or upload a longer clip",
    ),
    Case("voice-zero-bytes", voice=("voice.wav", raw(lambda: b"")), refused=unreadable_audio("voice.wav")),
    Case(
        "voice-header-only",
        voice=("voice.wav", raw(lambda: speech_wav()[:44])),
        refused=r"the audio is empty",
    ),
    Case("voice-truncated", voice=("voice.wav", raw(lambda: first_half(speech_wav())))),
    Case(
        "voice-silent",
        voice=("voice.wav", recording(silence)),
        refused=r"no voice detected: the recording is silent; check the microphone",
    ),
    Case(
        "voice-50-ms", voice=("voice.wav", recording(lambda: speech()[:800])), refused=r"shorter than 0\.1 s"
    ),
    Case(
        "voice-clipped",
        voice=("voice.wav", recording(lambda: np.clip(speech() * 20, -1, 1), subtype="PCM_16")),
    ),
    Case(
        "voice-nan-samples",
        voice=("voice.wav", recording(lambda: with_samples(np.nan, 100), subtype="FLOAT")),
        refused=r"NaN or infinite samples",
    ),
    Case(
        "voice-inf-sample",
        voice=("voice.wav", recording(lambda: with_samples(np.inf, 20000), subtype="FLOAT")),
        refused=r"NaN or infinite samples",
    ),
    Case("voice-8-khz", voice=("voice.wav", recording(lambda: resample_poly(speech(), 1, 2), 8000))),
    Case(
        "voice-96-khz-24-bit",
        voice=("voice.wav", recording(lambda: resample_poly(speech(), 6, 1), 96000, subtype="PCM_24")),
    ),
    Case("voice-stereo", voice=("voice.wav", recording(lambda: np.stack([speech(), 0.3 * speech()], 1)))),
    Case(
        "voice-10-minutes",
        voice=("voice.wav", recording(ten_minutes_8k, 8000, subtype="PCM_U8")),
        warning=r"longer than 30 s; only the first 30 s were used",
    ),
    Case("voice-zip-named-wav", voice=("voice.wav", raw(zip_archive)), refused=unreadable_audio("voice.wav")),
    Case(
        "voice-mp4-named-wav",
        voice=("clip.wav", raw(lambda: MP4_HEADER)),
        refused=unreadable_audio("clip.wav"),
    ),
    Case(
        "voice-png-named-wav",
        voice=("voice.wav", raw(lambda: encoded(photo(), ".png"))),
        refused=unreadable_audio("voice.wav"),
    ),
    Case("voice-flac-named-wav", voice=("voice.wav", recording(speech, format="FLAC"))),
    Case("voice-ogg-named-mp3", voice=("voice.mp3", recording(speech, format="OGG"))),
    # together
    Case("nothing-at-all", refused=NOTHING),
    Case(
        "good-face-and-text-silent-voice",
        face=("face.png", picture(photo)),
        text="A happy woman.",
        voice=("voice.wav", recording(silence)),
        refused="no voice detected",
    ),
    Case(
        "all-three-odd",
        face=("face.gif", picture(photo)),
        text="\x00😀 امرأة",
        voice=("voice.flac", recording(lambda: np.stack([speech()] * 2, 1), 48000)),
        face_found=True,
    ),
]
CASE_IDS = [c.id for c in CASES]
assert len(set(CASE_IDS)) == len(CASES)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, tuple[Path | None, str | None, Path | None]]:
    """Every case's (face file, description, voice file), written once."""
    root = tmp_path_factory.mktemp("bad_inputs")

    def write(case: Case, given: tuple[str, Writer] | None) -> Path | None:
        if given is None:
            return None
        name, writer = given
        path = root / case.id / name
        path.parent.mkdir(exist_ok=True)
        writer(path)
        return path

    return {case.id: (write(case, case.face), case.text, write(case, case.voice)) for case in CASES}


def check_analysis(case: Case, inputs, warnings, face_found) -> None:
    assert list(inputs) == case.used()
    if case.warning is None:
        assert warnings == []
    else:
        assert any(re.search(case.warning, w) for w in warnings), warnings
    if case.face_found is not None:
        assert face_found is case.face_found


# ------------------------------------------------------------------ the two ways in
@pytest.fixture(scope="module")
def model(tiny_checkpoint):
    import mmdemo

    return mmdemo.load_model(tiny_checkpoint, device="cpu")


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_python_api(model, corpus, case):
    from mmdemo.audio import read_audio

    face, text, voice = corpus[case.id]

    def analyze():
        return model.analyze(
            image=face, text=text, voice=read_audio(voice) if voice else None
        )  # as a user would

    if case.refused:
        with pytest.raises(ValueError, match=case.refused) as refused:
            analyze()
        messages = [str(refused.value)]
    else:
        a = analyze()
        check_analysis(case, a.inputs, a.warnings, a.face_found)
        if case.check_api:
            case.check_api(a)
        messages = a.warnings
    # a Chinese page shows each of them in Chinese (webapp/i18n.py knows its template)
    untranslated = [m for m in messages if not has_chinese(say(m, "zh"))]
    assert not untranslated, untranslated


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_http(client, still_serving, corpus, case):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    face, text, voice = corpus[case.id]
    args = (handle_file(face) if face else None, text, handle_file(voice) if voice else None)
    if case.refused:
        with pytest.raises(AppError, match=case.refused):
            client.predict(*args, api_name="/analyze")
    else:
        *_, summary = client.predict(*args, api_name="/analyze")
        check_analysis(case, summary["inputs"], summary["warnings"], summary["face_found"])
    still_serving()
