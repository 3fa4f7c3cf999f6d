"""Voices from attributes, synthesized with the eSpeak NG library bundled in
the `espeakng-loader` wheel (through ctypes; no system package needed).

Three layers:

* the parameter design: `sample_person_voice` gives a person a variant and a
  personal pitch/rate, `voice_params` turns a person plus the sample's age
  group and emotion into `VoiceParams`, and `emotion_text` adds the
  punctuation that drives eSpeak's intonation for that emotion;
* `PHRASES`, short neutral sentences with no attribute words, so the voice
  carries the attributes only through prosody;
* `synthesize`, the thread-safe call into the library.

The cues are kept apart so they stay separable: gender -> variant family
(formants) and base pitch; age -> pitch steps and speaking rate; emotion ->
pitch range, volume and intonation (plus small pitch/rate nudges). Per-person
and per-utterance jitter is smaller than the gap between neighbouring classes.

eSpeak NG keeps global state, so every call runs under one module-level lock
and the library is initialised once per process, lazily (never at import).
Two pieces of that state would make the output depend on earlier calls: the
pitch "flutter" table index and the roughness cycle counter, both static
variables that are never reset. We therefore load the variants from a
mirror of the data folder (symlinks plus patched variant files with flutter
and roughness off) and seed the library's noise generator before each
utterance, which makes `synthesize` a pure function of its arguments.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import re
import shutil
import tempfile
import threading
import zlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from mmdemo.audio import SAMPLE_RATE, to_mono_16k, trim_silence
from mmdemo.schema import BY_NAME

FEMALE_VARIANTS: tuple[str, ...] = ("f1", "f2", "f3", "f4", "f5")
# m8 also exists but is very low (65 Hz base) and muffled by its tone filter.
MALE_VARIANTS: tuple[str, ...] = ("m1", "m2", "m3", "m4", "m5", "m6", "m7")
VARIANTS: tuple[str, ...] = FEMALE_VARIANTS + MALE_VARIANTS
MAX_TEXT_CHARS = 1000  # the library lock is held for the whole utterance

PHRASES: tuple[str, ...] = (
    "Hello, this is my voice.",
    "I am recording this message.",
    "This is a short voice sample.",
    "I read this sentence out loud.",
    "Here is my recorded message.",
    "This is how my voice sounds.",
    "I will read a few words now.",
    "Thank you for listening to me.",
    "I am testing the new recorder.",
    "Let me say a few words here.",
    "This short message is for the demo.",
    "I am talking at my desk.",
    "Please listen to my voice now.",
    "I am reading from a small card.",
    "The weather is mild this morning.",
    "I took the train into town.",
    "I am saying this for the record.",
    "I have a cup of tea right here.",
    "I walked along the river today.",
    "This recording will be short.",
    "I am calling about the meeting.",
    "I left my keys on the table.",
    "We can start whenever you like.",
    "I will speak for a little while.",
    "This is my part of the project.",
)


# ---------------------------------------------------------------- parameters


@dataclass(frozen=True)
class VoiceParams:
    """eSpeak settings for one utterance (dataset columns voice_*)."""

    variant: str  # eSpeak variant name, gender-appropriate
    pitch: int  # eSpeak base pitch 0-100
    rate: int  # words per minute (80-450)
    range: int  # pitch range 0-100
    volume: int  # amplitude 0-200

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"voice variant {self.variant!r} is not one of {', '.join(VARIANTS)}")
        for name, lo, hi in (("pitch", 0, 100), ("rate", 80, 450), ("range", 0, 100), ("volume", 0, 200)):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or not lo <= value <= hi:
                raise ValueError(f"voice {name}={value!r} must be an integer in {lo}-{hi}")

    def to_dict(self) -> dict[str, Any]:
        """{"voice_variant": ..., "voice_pitch": ..., ...} for metadata.csv."""
        return {f"voice_{k}": (v if k == "variant" else int(v)) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> VoiceParams:
        """Inverse of to_dict; also accepts unprefixed keys and CSV strings."""

        def get(key: str) -> Any:
            for k in (f"voice_{key}", key):
                if k in d and d[k] not in (None, ""):
                    return d[k]
            raise ValueError(f"voice parameters lack voice_{key}")

        try:
            numbers = {k: int(float(get(k))) for k in ("pitch", "rate", "range", "volume")}
        except (TypeError, ValueError) as err:
            raise ValueError(f"bad voice parameters {dict(d)!r}: {err}") from None
        return cls(variant=str(get("variant")).strip(), **numbers)


@dataclass(frozen=True)
class PersonVoice:
    """What stays fixed for one person across their samples."""

    variant: str
    pitch_offset: float  # eSpeak pitch units added to the group's base
    rate_factor: float  # multiplies the group's speaking rate


@dataclass(frozen=True)
class _EmotionStyle:
    pitch: float  # pitch units added (happy/surprised up, sad down)
    rate: float  # rate factor
    range: float  # eSpeak pitch range
    volume: float  # eSpeak amplitude
    punctuation: str  # sentence ending that selects eSpeak's intonation tune


# Female voices sit ~18 pitch units (one unit is 1/50 octave, ~0.24
# semitone) above male ones, on top of the higher f* variant bases:
# median F0 ~200 Hz vs ~100 Hz.
_BASE_PITCH = {"0": 58.0, "1": 40.0}
_BASE_RATE = 175.0  # eSpeak default; median clip ~1.55 s = ~50 KB as 16-bit WAV
# The variants' own base pitches differ by up to ~16 % (f1 173 Hz vs f3 201 Hz
# at pitch 50), as much as an age step. These offsets, measured on PHRASES,
# bring every variant of a gender to the same F0, so pitch is left to age
# and emotion while the variant keeps its formants.
_VARIANT_PITCH = {
    "f1": 5.4,
    "f2": -0.5,
    "f3": -5.3,
    "f4": 5.0,
    "f5": -4.4,
    "m1": 4.9,
    "m2": -1.3,
    "m3": -3.0,
    "m4": 5.2,
    "m5": -1.5,
    "m6": -1.0,
    "m7": -3.7,
}
# Age: mostly pitch and rate; 12 units is ~2.9 semitones, well above person jitter.
_AGE_PITCH = {"young": 12.0, "adult": 0.0, "senior": -12.0}
_AGE_RATE = {"young": 1.12, "adult": 1.0, "senior": 0.84}
# Emotion: mostly range, volume and intonation, which age does not touch;
# its pitch and rate nudges are kept below half an age step. Volumes above
# ~130 engage eSpeak's peak limiter: angry is louder in RMS, peaks stay <= 1.
_EMOTION = {
    "neutral": _EmotionStyle(pitch=0.0, rate=1.00, range=35.0, volume=95.0, punctuation="."),
    "happy": _EmotionStyle(pitch=3.0, rate=1.06, range=70.0, volume=130.0, punctuation="!"),
    "sad": _EmotionStyle(pitch=-3.0, rate=0.90, range=8.0, volume=58.0, punctuation="..."),
    "angry": _EmotionStyle(pitch=0.0, rate=1.08, range=50.0, volume=175.0, punctuation="!"),
    "surprised": _EmotionStyle(pitch=6.0, rate=0.97, range=100.0, volume=105.0, punctuation="?"),
}
# Jitter (normal, clipped at 2 sd) stays below the gaps it could blur.
_PERSON_PITCH_SD = 2.0  # pitch units; age steps are 12
_PERSON_RATE_SD = 0.035  # age rate steps are >= 12 %
_UTTER_PITCH_SD = 1.0
_UTTER_RATE_SD = 0.02
_UTTER_RANGE_SD = 3.0  # emotion ranges are >= 15 apart
_UTTER_VOLUME_SD = 0.04  # relative; emotion volumes are >= 10 % apart


def _value(attrs: Mapping[str, Any], name: str, default: str | None) -> str:
    """Schema string of one attribute, `default` if absent; ValueError if unknown."""
    raw = attrs.get(name)
    if raw is None or str(raw).strip() == "":
        if default is None:
            raise ValueError(f"a voice needs the {name} attribute")
        return default
    attribute = BY_NAME[name]
    return attribute.values[attribute.index(raw)]


def _rng(rng: np.random.Generator | int | None) -> np.random.Generator | None:
    if rng is None or isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


def _normal(rng: np.random.Generator | None, sd: float) -> float:
    """N(0, sd) clipped at 2 sd, or 0 without an rng (the typical voice)."""
    return 0.0 if rng is None else float(np.clip(rng.normal(0.0, sd), -2 * sd, 2 * sd))


def sample_person_voice(
    attrs: Mapping[str, Any], rng: np.random.Generator | int | None = None
) -> PersonVoice:
    """A person's fixed voice: a variant of their gender plus pitch/rate offsets.

    With rng=None the typical voice of the gender (first-listed variant, no
    offsets) is returned, e.g. to voice a decoded attribute set.
    """
    male = _value(attrs, "Male", None)
    family = MALE_VARIANTS if male == "1" else FEMALE_VARIANTS
    gen = _rng(rng)
    variant = family[0] if gen is None else str(family[int(gen.integers(len(family)))])
    return PersonVoice(
        variant=variant,
        pitch_offset=round(_normal(gen, _PERSON_PITCH_SD), 2),
        rate_factor=round(1.0 + _normal(gen, _PERSON_RATE_SD), 4),
    )


def voice_params(
    attrs: Mapping[str, Any],
    person_voice: PersonVoice | None = None,
    rng: np.random.Generator | int | None = None,
) -> VoiceParams:
    """Per-utterance eSpeak parameters: the person's voice modulated by age and emotion.

    Missing age_group / emotion default to adult / neutral. With rng=None no
    per-utterance jitter is added.
    """
    male = _value(attrs, "Male", None)
    age = _value(attrs, "age_group", "adult")
    style = _EMOTION[_value(attrs, "emotion", "neutral")]
    person = person_voice or sample_person_voice(attrs, None)
    if (person.variant in MALE_VARIANTS) != (male == "1"):
        raise ValueError(f"variant {person.variant!r} does not match Male={male}")
    gen = _rng(rng)
    pitch = (
        _BASE_PITCH[male]
        + _VARIANT_PITCH[person.variant]
        + _AGE_PITCH[age]
        + style.pitch
        + person.pitch_offset
        + _normal(gen, _UTTER_PITCH_SD)
    )
    rate = (
        _BASE_RATE * _AGE_RATE[age] * style.rate * person.rate_factor * (1.0 + _normal(gen, _UTTER_RATE_SD))
    )
    pitch_range = style.range + _normal(gen, _UTTER_RANGE_SD)
    volume = style.volume * (1.0 + _normal(gen, _UTTER_VOLUME_SD))
    return VoiceParams(
        variant=person.variant,
        pitch=int(np.clip(round(pitch), 0, 100)),
        rate=int(np.clip(round(rate), 80, 450)),
        range=int(np.clip(round(pitch_range), 0, 100)),
        volume=int(np.clip(round(volume), 0, 200)),
    )


def emotion_text(text: str, emotion: str = "neutral") -> str:
    """`text` with the sentence ending that gives eSpeak the emotion's intonation.

    "!" for happy/angry (exclamation tune: a raised nucleus), "?" for
    surprised (question tune: a final rise), "..." for sad (read as an
    unfinished clause: no final fall, and no pause since it is at the end);
    the words are unchanged. Call it on the text passed to `synthesize`.
    """
    style = _EMOTION[_value({"emotion": emotion}, "emotion", "neutral")]
    body = text.strip().rstrip(".!?;:… 。！？；：")
    return body + style.punctuation if body else text


# ------------------------------------------------------------------ engine

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_CHARS_UTF8 = 1
_PARAM = {"rate": 1, "volume": 2, "pitch": 3, "range": 4, "punctuation": 5, "wordgap": 7}
_VARIANT_PATCH = "\n// mmdemo: deterministic output (see mmdemo/synth/voices.py)\nflutter 0\nroughness 8\n"
_LANGUAGE_RE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")
_CALLBACK_TYPE = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)

_LOCK = threading.Lock()
_ENGINE: _Engine | None = None


def _mirror_data_dir(source: str) -> str:
    """A data folder identical to `source` except for patched f*/m* variants.

    Lives in the temp dir, named by a hash of the source path and the patch,
    so processes share it; built under a temporary name and renamed into
    place so concurrent builders cannot see a half-made folder.
    """
    digest = hashlib.sha1(f"{os.path.abspath(source)}|{_VARIANT_PATCH}".encode())
    for name in VARIANTS:  # a changed library version gets a fresh mirror
        with open(os.path.join(source, "voices", "!v", name), "rb") as f:
            digest.update(f.read())
    uid = os.getuid() if hasattr(os, "getuid") else 0
    target = os.path.join(tempfile.gettempdir(), f"mmdemo-espeak-{uid}-{digest.hexdigest()[:12]}")
    if os.path.isdir(os.path.join(target, "voices", "!v")):
        return target
    staging = tempfile.mkdtemp(prefix=os.path.basename(target) + ".", dir=os.path.dirname(target))
    try:
        for entry in os.listdir(source):
            if entry != "voices":
                os.symlink(os.path.join(source, entry), os.path.join(staging, entry))
        os.makedirs(os.path.join(staging, "voices", "!v"))
        for entry in os.listdir(os.path.join(source, "voices")):
            if entry != "!v":
                os.symlink(os.path.join(source, "voices", entry), os.path.join(staging, "voices", entry))
        for entry in os.listdir(os.path.join(source, "voices", "!v")):
            src = os.path.join(source, "voices", "!v", entry)
            dst = os.path.join(staging, "voices", "!v", entry)
            if entry in VARIANTS:
                with open(src, "rb") as fin, open(dst, "wb") as fout:
                    fout.write(fin.read() + _VARIANT_PATCH.encode())
            else:
                os.symlink(src, dst)
        os.rename(staging, target)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if not os.path.isdir(os.path.join(target, "voices", "!v")):  # lost a race -> use the winner
            raise
    return target


class _Engine:
    """The initialised library; use only while holding _LOCK."""

    def __init__(self) -> None:
        import espeakng_loader  # imported here so `import mmdemo.synth.voices` stays cheap

        self.lib = ctypes.CDLL(espeakng_loader.get_library_path())
        source = espeakng_loader.get_data_path()
        try:
            data_dir = _mirror_data_dir(source)
            self.deterministic = True
        except OSError:  # read-only temp dir: still works, output varies slightly
            data_dir, self.deterministic = source, False
        self.lib.espeak_Initialize.restype = ctypes.c_int
        self.lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        self.lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self.lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        self.lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        self.lib.espeak_Synth.argtypes = [
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        self.sample_rate = self.lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, data_dir.encode(), _INITIALIZE_DONT_EXIT
        )
        if self.sample_rate <= 0:
            raise RuntimeError(f"eSpeak NG failed to initialise with data at {data_dir!r}")
        self.chunks: list[np.ndarray] = []
        self.callback = _CALLBACK_TYPE(self._collect)  # kept on self: ctypes must not free it
        self.lib.espeak_SetSynthCallback(self.callback)

    def _collect(self, wav: Any, n_samples: int, _events: Any) -> int:
        if n_samples > 0 and wav:
            self.chunks.append(np.ctypeslib.as_array(wav, shape=(n_samples,)).copy())
        return 0  # 0 = keep going

    def render(self, text: str, params: VoiceParams, language: str) -> np.ndarray:
        """int16 samples at self.sample_rate."""
        if self.lib.espeak_SetVoiceByName(f"{language}+{params.variant}".encode()) != 0:
            raise ValueError(f"eSpeak NG has no voice {language!r}; try 'en-us', 'en' or 'cmn'")
        for name in ("rate", "volume", "pitch", "range"):
            self.lib.espeak_SetParameter(_PARAM[name], int(getattr(params, name)), 0)
        self.lib.espeak_SetParameter(_PARAM["punctuation"], 0, 0)  # never read punctuation aloud
        self.lib.espeak_SetParameter(_PARAM["wordgap"], 0, 0)
        data = text.encode("utf-8")
        # Seeded per utterance: the breathy variants (f2, f3, f5) draw noise from rand().
        self.lib.espeak_ng_SetRandSeed(zlib.crc32(data + repr((params, language)).encode()))
        self.chunks = []
        status = self.lib.espeak_Synth(data, len(data) + 1, 0, 0, 0, _CHARS_UTF8, None, None)
        self.lib.espeak_Synchronize()
        if status != 0:
            raise RuntimeError(f"eSpeak NG could not synthesize (status {status})")
        return np.concatenate(self.chunks) if self.chunks else np.zeros(0, np.int16)


def _engine() -> _Engine:
    """The process's engine, created on first use; call with _LOCK held."""
    global _ENGINE
    if _ENGINE is None:
        _ENGINE = _Engine()
    return _ENGINE


def synthesize(text: str, params: VoiceParams, language: str = "en-us") -> np.ndarray:
    """Speak `text` with `params`: float32 mono samples at 16 kHz, silence trimmed.

    Thread-safe (one lock around the library) and deterministic: the same
    arguments give the same samples. Raises ValueError for empty or very long
    text and an unknown language.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("nothing to say: the text is empty")
    if len(text) > MAX_TEXT_CHARS:
        raise ValueError(
            f"text of {len(text)} characters is too long to speak; keep it under {MAX_TEXT_CHARS}"
        )
    if not isinstance(params, VoiceParams):
        raise ValueError(f"params must be VoiceParams, got {type(params).__name__}")
    if not _LANGUAGE_RE.match(language):
        raise ValueError(f"language {language!r} is not an eSpeak language code such as 'en-us' or 'cmn'")
    with _LOCK:
        engine = _engine()
        pcm = engine.render(text, params, language)
        rate = engine.sample_rate
    if pcm.size == 0:
        raise ValueError(f"eSpeak NG produced no audio for {text!r}")
    # -50 dBFS: eSpeak pads with digital silence, and quiet (sad) voices stay above it.
    return trim_silence(to_mono_16k(rate, pcm), SAMPLE_RATE, threshold_db=-50.0, pad_ms=30.0)
