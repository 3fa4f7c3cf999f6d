"""Audio input/output and the model's voice features.

Everything that touches raw audio goes through here: decoding whatever a
microphone, an upload or a file gives us into float32 mono at 16 kHz, writing
dataset WAVs, detecting and trimming silence, and computing the log-mel
features the voice encoder reads. Only numpy, scipy, soundfile and torch are
used (librosa and torchaudio are not available on the build machines), so the
mel filterbank is computed here and cached.
"""

from __future__ import annotations

import functools
import math
import os
from fractions import Fraction

import numpy as np
import soundfile as sf
import torch

SAMPLE_RATE = 16000
N_MELS = 64
WIN_MS = 25
HOP_MS = 10
MAX_SECONDS = 4.0

WIN_LENGTH = SAMPLE_RATE * WIN_MS // 1000  # 400 samples
HOP_LENGTH = SAMPLE_RATE * HOP_MS // 1000  # 160 samples
N_FFT = 512  # next power of two above the window
LOG_EPS = 1e-6
_MAX_CHANNELS = 8  # more "channels" than this means the layout was misread


def _as_float(samples: np.ndarray) -> np.ndarray:
    """Any numeric dtype -> float64 with full scale mapped to [-1, 1]."""
    x = np.asarray(samples)
    kind = x.dtype.kind
    if kind == "b" or kind not in "iuf":
        raise ValueError(f"audio samples must be numbers, got dtype {x.dtype}")
    if kind == "i":
        return x.astype(np.float64) / float(2 ** (8 * x.dtype.itemsize - 1))
    if kind == "u":  # unsigned PCM (e.g. 8-bit WAV) is centred on half scale
        half = float(2 ** (8 * x.dtype.itemsize - 1))
        return (x.astype(np.float64) - half) / half
    return x.astype(np.float64)


def _to_mono(x: np.ndarray) -> np.ndarray:
    """(N,), (N, C) or (C, N) -> (N,) by averaging channels.

    The channel axis is the short one: soundfile and Gradio give (N, C),
    torchaudio-style code gives (C, N). A square or ambiguous array is read as
    (N, C), the soundfile convention.
    """
    if x.ndim == 1:
        return x
    rows, cols = x.shape
    if cols <= _MAX_CHANNELS and (rows >= cols or rows > _MAX_CHANNELS):
        return x.mean(axis=1)
    if rows <= _MAX_CHANNELS:
        return x.mean(axis=0)
    raise ValueError(
        f"audio of shape {x.shape} has no plausible channel axis; pass mono (N,) "
        f"or multi-channel (N, C) / (C, N) with at most {_MAX_CHANNELS} channels"
    )


def _resample_ratio(sample_rate: int) -> tuple[int, int]:
    """(up, down) for resample_poly; exact for all common rates.

    limit_denominator keeps the polyphase filter short for odd rates (a rate
    like 44099 Hz would otherwise need a filter of ~900k taps); the resulting
    pitch error is below 0.1 %.
    """
    ratio = Fraction(SAMPLE_RATE, sample_rate).limit_denominator(1000)
    return ratio.numerator, ratio.denominator


def to_mono_16k(sample_rate: int, samples: np.ndarray) -> np.ndarray:
    """Any audio array -> float32 mono samples in [-1, 1] at 16 kHz.

    Accepts int8/16/32/64, unsigned and float dtypes, mono (N,) or
    multi-channel (N, C) / (C, N). Float input louder than full scale is
    scaled down to peak 1 rather than clipped, so its waveform survives.
    Raises ValueError for an empty array, NaN/inf, a non-positive sample rate
    or more than two dimensions.
    """
    try:
        rate_f = float(sample_rate)
    except (TypeError, ValueError):
        raise ValueError(f"sample rate must be a number of Hz, got {sample_rate!r}") from None
    if not math.isfinite(rate_f) or rate_f <= 0:
        raise ValueError(f"sample rate must be a positive number of Hz, got {sample_rate!r}")
    rate = int(round(rate_f))
    x = np.asarray(samples)
    if x.ndim == 0 or x.ndim > 2:
        raise ValueError(f"audio must be 1-D (mono) or 2-D (channels), got an array of shape {x.shape}")
    if x.size == 0:
        raise ValueError("the audio is empty (0 samples); record or upload a longer clip")
    x = _as_float(x)
    if not np.isfinite(x).all():
        raise ValueError("the audio contains NaN or infinite samples; check the recording or decoder")
    x = _to_mono(x)
    peak = float(np.abs(x).max())
    if peak > 1.0:
        x = x / peak
    if rate != SAMPLE_RATE:
        from scipy.signal import resample_poly  # here, not at import: scipy.signal is ~1 s of app start

        up, down = _resample_ratio(rate)
        x = resample_poly(x, up, down)
    # The anti-aliasing filter can overshoot by a little near full scale.
    return np.clip(x, -1.0, 1.0).astype(np.float32)


def read_audio(path: str | os.PathLike, max_seconds: float | None = None) -> tuple[int, np.ndarray]:
    """(sample_rate, samples) of an audio file (WAV, FLAC, OGG, MP3 ...).

    Samples are float32 as stored (mono (N,) or (N, C)); pass them through
    to_mono_16k for the model. With `max_seconds`, only that much is decoded:
    a few megabytes of FLAC can hold hours of audio, gigabytes once decoded.
    Raises ValueError naming the file if it is missing or cannot be decoded.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"audio file {path!r} does not exist")
    try:
        with sf.SoundFile(path) as f:
            frames = -1 if max_seconds is None else math.ceil(max_seconds * f.samplerate)
            return int(f.samplerate), f.read(frames, dtype="float32", always_2d=False)
    except (RuntimeError, OSError, TypeError) as err:  # LibsndfileError is a RuntimeError
        reason = getattr(err, "error_string", None) or str(err)  # without the path libsndfile repeats
        raise ValueError(
            f"the audio file {os.path.basename(path)!r} is not a readable recording ({reason.rstrip('.')}): "
            f"it may be corrupt, truncated or another kind of file; upload a WAV, FLAC, OGG or MP3 file"
        ) from err


def write_wav(path: str | os.PathLike, samples_16k: np.ndarray) -> None:
    """Write float samples at 16 kHz as a mono 16-bit PCM WAV."""
    x = np.asarray(samples_16k, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"write_wav expects mono (N,) samples, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"refusing to write NaN/inf samples to {os.fspath(path)!r}")
    sf.write(os.fspath(path), np.clip(x, -1.0, 1.0), SAMPLE_RATE, subtype="PCM_16", format="WAV")


def _frame_rms_db(x: np.ndarray, frame: int, hop: int | None = None) -> np.ndarray:
    """RMS in dBFS of frames of `frame` samples every `hop` (default: no overlap).

    The last partial frame is zero-padded, so every sample is in some frame.
    """
    hop = hop or frame
    n_frames = max(1, math.ceil(max(len(x) - frame, 0) / hop) + 1)
    padded = np.zeros((n_frames - 1) * hop + frame, dtype=np.float64)
    padded[: len(x)] = x
    frames = np.lib.stride_tricks.sliding_window_view(padded, frame)[::hop]
    return 10.0 * np.log10((frames**2).mean(axis=1) + 1e-12)


def is_silent(samples: np.ndarray, threshold_db: float = -45.0, sample_rate: int = SAMPLE_RATE) -> bool:
    """True unless about 200 ms of the clip is louder than `threshold_db` dBFS.

    The level is that of the third-loudest 100 ms window (windows every
    50 ms), so a click or a pop does not count as speech but a short word
    does. Clips of under 200 ms use their quietest window. Empty is silent.
    """
    x = _as_float(np.asarray(samples)).reshape(-1)
    if x.size == 0:
        return True
    window = max(1, sample_rate // 10)
    db = np.sort(_frame_rms_db(x, window, max(1, window // 2)))
    return bool(db[max(0, len(db) - 3)] < threshold_db)


SPEECH_LEVEL_DB = -20.0  # where a quiet recording's speech is raised to (typical close-mic speech)
QUIETEST_SPEECH_DB = -80.0  # below this even the loudest moments are a muted or absent microphone
MIN_DYNAMICS_DB = 6.0  # syllables rise this far above the quiet between them; steady hiss varies ~1 dB


def raise_quiet_speech(
    samples: np.ndarray, threshold_db: float = -45.0, sample_rate: int = SAMPLE_RATE
) -> tuple[np.ndarray, float]:
    """(clip, gain in dB): speech recorded too quietly to pass `is_silent` is amplified so its loud
    windows sit at SPEECH_LEVEL_DB; anything else comes back unchanged with gain 0.

    A far or muted-by-software microphone records real speech at -50 to -70 dBFS. That is a person
    talking and should be heard, not refused; steady hiss at the same level is not (its loudest and
    quietest windows differ by far less than speech and pauses do), nor is digital silence."""
    x = _as_float(np.asarray(samples)).reshape(-1)
    if x.size == 0:
        return x, 0.0
    window = max(1, sample_rate // 10)
    db = np.sort(_frame_rms_db(x, window, max(1, window // 2)))
    level = float(db[max(0, len(db) - 3)])
    floor = float(np.percentile(db, 10))
    if level >= threshold_db or level < QUIETEST_SPEECH_DB or level - floor < MIN_DYNAMICS_DB:
        return x, 0.0
    gain = SPEECH_LEVEL_DB - level
    return np.clip(x * 10 ** (gain / 20), -1.0, 1.0).astype(np.float32), gain


def trim_silence(
    samples: np.ndarray, sample_rate: int = SAMPLE_RATE, threshold_db: float = -40.0, pad_ms: float = 50.0
) -> np.ndarray:
    """Cut leading and trailing audio quieter than `threshold_db` dBFS.

    Works on 10 ms frames and keeps `pad_ms` of context on each side so
    consonant onsets are not clipped. A clip with no frame above the
    threshold is returned unchanged (check is_silent to reject it).
    """
    x = np.asarray(samples)
    if x.ndim != 1:
        raise ValueError(f"trim_silence expects mono (N,) samples, got shape {x.shape}")
    if x.size == 0:
        return x
    frame = max(1, sample_rate // 100)
    loud = np.flatnonzero(_frame_rms_db(_as_float(x), frame) >= threshold_db)
    if loud.size == 0:
        return x
    pad = int(round(pad_ms * sample_rate / 1000.0))
    start = max(0, int(loud[0]) * frame - pad)
    stop = min(len(x), (int(loud[-1]) + 1) * frame + pad)
    return x[start:stop]


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + f / 700.0)  # HTK formula


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (m / 2595.0) - 1.0)


@functools.lru_cache(maxsize=4)
def mel_filterbank(
    n_mels: int = N_MELS,
    n_fft: int = N_FFT,
    sample_rate: int = SAMPLE_RATE,
    f_min: float = 0.0,
    f_max: float | None = None,
) -> torch.Tensor:
    """(n_fft // 2 + 1, n_mels) triangular HTK mel filters with peak 1.

    Triangles are evaluated at the FFT bin frequencies. Cached: every call
    with the same arguments returns the same tensor, so never modify it.
    """
    f_max = sample_rate / 2.0 if f_max is None else f_max
    edges = _mel_to_hz(np.linspace(_hz_to_mel(np.array(f_min)), _hz_to_mel(np.array(f_max)), n_mels + 2))
    bins = np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins[None, :] - lower) / (centre - lower)
    falling = (upper - bins[None, :]) / (upper - centre)
    fb = np.maximum(0.0, np.minimum(rising, falling))  # (n_mels, n_bins)
    return torch.from_numpy(fb.T.astype(np.float32))


@functools.lru_cache(maxsize=1)
def _hann_window() -> torch.Tensor:
    return torch.hann_window(WIN_LENGTH, periodic=True, dtype=torch.float32)


def n_frames(n_samples: int) -> int:
    """Frames log_mel returns for `n_samples` (after cropping): 1 + n // hop."""
    return 1 + int(n_samples) // HOP_LENGTH


def log_mel(samples_16k: np.ndarray | torch.Tensor, max_seconds: float = MAX_SECONDS) -> torch.Tensor:
    """log(mel power + 1e-6) features: (N,) -> (frames, 64), (B, N) -> (B, frames, 64).

    25 ms Hann window, 10 ms hop, 512-point FFT, centred frames with zero
    padding, so a clip of N samples gives 1 + N // 160 frames: 4.0 s
    (64000 samples) -> 401 frames. Input longer than `max_seconds` is cropped
    first. Runs on the input tensor's device.
    """
    x = torch.as_tensor(samples_16k)
    if x.ndim not in (1, 2):
        raise ValueError(f"log_mel expects (N,) or (B, N) samples, got shape {tuple(x.shape)}")
    if x.shape[-1] == 0:
        raise ValueError("log_mel got an empty clip")
    if not torch.is_floating_point(x):
        x = torch.as_tensor(_as_float(x.cpu().numpy()))
    x = x.to(torch.float32)
    x = x[..., : int(round(max_seconds * SAMPLE_RATE))]
    window = _hann_window().to(x.device)
    spec = torch.stft(
        x,
        n_fft=N_FFT,
        hop_length=HOP_LENGTH,
        win_length=WIN_LENGTH,
        window=window,
        center=True,
        pad_mode="constant",
        return_complex=True,
    )
    power = spec.real**2 + spec.imag**2  # (..., bins, frames)
    mel = torch.matmul(power.transpose(-1, -2), mel_filterbank().to(x.device))
    return torch.log(mel + LOG_EPS)
