"""Tests for mmdemo.audio: decoding to 16 kHz mono, WAV I/O, silence, log-mel."""

import numpy as np
import pytest
import soundfile as sf
import torch

from mmdemo import audio as A


def _tone(rate: int, seconds: float = 1.0, freq: float = 440.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _peak_hz(x: np.ndarray, rate: int = A.SAMPLE_RATE) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[np.argmax(spectrum)])


@pytest.mark.parametrize("rate", [8000, 16000, 22050, 44100, 48000, 96000])
def test_resample_keeps_duration_and_pitch(rate):
    y = A.to_mono_16k(rate, _tone(rate))
    assert y.dtype == np.float32 and y.ndim == 1
    assert abs(len(y) - A.SAMPLE_RATE) <= 1
    assert abs(_peak_hz(y) - 440.0) < 3.0
    assert np.abs(y).max() <= 1.0


def test_odd_sample_rate_is_accepted():
    y = A.to_mono_16k(44099, _tone(44099))
    assert abs(len(y) - A.SAMPLE_RATE) <= 20
    assert abs(_peak_hz(y) - 440.0) < 3.0


def test_stereo_either_layout_is_averaged():
    left, right = _tone(16000, freq=440.0, amp=0.4), _tone(16000, freq=660.0, amp=0.2)
    expected = (left + right) / 2
    n_c = A.to_mono_16k(16000, np.stack([left, right], axis=1))
    c_n = A.to_mono_16k(16000, np.stack([left, right], axis=0))
    np.testing.assert_allclose(n_c, expected, atol=1e-6)
    np.testing.assert_allclose(c_n, expected, atol=1e-6)


def test_integer_dtypes_are_scaled_to_unit_range():
    x = _tone(16000, amp=1.0)
    as_int16 = A.to_mono_16k(16000, np.round(x * 32767).astype(np.int16))
    as_int32 = A.to_mono_16k(16000, np.round(x.astype(np.float64) * (2**31 - 1)).astype(np.int32))
    as_uint8 = A.to_mono_16k(16000, np.round(x * 127 + 128).astype(np.uint8))
    np.testing.assert_allclose(as_int16, x, atol=1e-4)
    np.testing.assert_allclose(as_int32, x, atol=1e-6)
    np.testing.assert_allclose(as_uint8, x, atol=2e-2)  # 8-bit: 1/128 steps
    np.testing.assert_allclose(A.to_mono_16k(16000, x.astype(np.float64)), x, atol=1e-7)


def test_loud_float_is_scaled_not_clipped():
    y = A.to_mono_16k(16000, _tone(16000, amp=3.0))
    assert np.isclose(np.abs(y).max(), 1.0, atol=1e-3)
    assert abs(_peak_hz(y) - 440.0) < 3.0


@pytest.mark.parametrize(
    "rate, samples, words",
    [
        (16000, np.array([0.1, np.nan, 0.2]), "NaN"),
        (16000, np.array([0.1, np.inf]), "NaN"),
        (16000, np.zeros(0), "empty"),
        (0, np.zeros(100), "positive"),
        (-8000, np.zeros(100), "positive"),
        (16000, np.zeros((2, 3, 100)), "1-D"),
        (16000, np.zeros((50, 60)), "channel"),
        (16000, np.array(["a", "b"]), "numbers"),
    ],
)
def test_bad_input_raises_value_error(rate, samples, words):
    with pytest.raises(ValueError, match=words):
        A.to_mono_16k(rate, samples)


def test_silence_detection():
    rng = np.random.default_rng(0)
    assert A.is_silent(np.zeros(16000))
    assert A.is_silent(np.zeros(0))
    assert A.is_silent(rng.normal(0, 10 ** (-60 / 20), 32000))  # -60 dBFS hiss
    assert not A.is_silent(_tone(16000, amp=0.1))  # about -23 dBFS
    word = np.zeros(48000, np.float32)
    word[20000:23200] = _tone(16000, 0.2, amp=0.3)  # 200 ms word in 3 s
    assert not A.is_silent(word)
    click = np.zeros(48000, np.float32)
    click[1000] = 1.0  # one sample is not speech
    assert A.is_silent(click)
    assert not A.is_silent((_tone(16000) * 32767).astype(np.int16))  # int input is scaled


def test_trim_silence_keeps_the_sound_and_padding():
    x = np.concatenate([np.zeros(8000), _tone(16000, 0.5), np.zeros(8000)]).astype(np.float32)
    y = A.trim_silence(x, pad_ms=50)
    assert abs(len(y) - (8000 + 2 * 800)) <= 160
    assert np.abs(y).max() == pytest.approx(np.abs(x).max())
    quiet = np.zeros(4000, np.float32)
    assert A.trim_silence(quiet) is quiet  # nothing above threshold: unchanged


def test_wav_roundtrip(tmp_path):
    x = _tone(16000, 0.5, amp=0.7)
    path = tmp_path / "a.wav"
    A.write_wav(path, x)
    rate, y = A.read_audio(path)
    assert rate == 16000 and y.ndim == 1
    np.testing.assert_allclose(y, x, atol=1e-4)
    info = __import__("soundfile").info(str(path))
    assert (info.channels, info.subtype) == (1, "PCM_16")


def test_read_audio_errors_name_the_file(tmp_path):
    bad = tmp_path / "not_audio.wav"
    bad.write_bytes(b"this is not a wav file")
    with pytest.raises(ValueError, match="'not_audio.wav' is not a readable recording"):
        A.read_audio(bad)
    with pytest.raises(ValueError, match="missing.wav"):
        A.read_audio(tmp_path / "missing.wav")


def test_read_audio_decodes_no_more_than_max_seconds(tmp_path):
    path = tmp_path / "ten_seconds.flac"
    sf.write(path, _tone(8000, 10.0), 8000)
    rate, head = A.read_audio(path, max_seconds=2.5)
    assert rate == 8000 and head.shape == (20000,)
    assert A.read_audio(path)[1].shape == (80000,)


def test_write_wav_rejects_bad_samples(tmp_path):
    with pytest.raises(ValueError):
        A.write_wav(tmp_path / "x.wav", np.array([0.0, np.nan]))
    with pytest.raises(ValueError):
        A.write_wav(tmp_path / "x.wav", np.zeros((10, 2)))


def test_log_mel_shape_and_crop():
    x = np.random.default_rng(1).normal(0, 0.1, 4 * 16000).astype(np.float32)
    m = A.log_mel(x)
    # 4.0 s = 64000 samples, centred frames every 160 samples: 1 + 64000 // 160 = 401.
    assert m.shape == (401, A.N_MELS) and m.dtype == torch.float32
    assert A.n_frames(64000) == 401
    longer = np.concatenate([x, x])
    torch.testing.assert_close(A.log_mel(longer), m)  # cropped to 4 s
    assert A.log_mel(x[:16000]).shape == (101, A.N_MELS)
    assert A.log_mel(x, max_seconds=1.0).shape == (101, A.N_MELS)
    assert A.log_mel(x[:100]).shape == (1, A.N_MELS)  # shorter than a window still works


def test_log_mel_batch_equals_per_item_and_accepts_tensors():
    rng = np.random.default_rng(2)
    batch = rng.normal(0, 0.1, (3, 24000)).astype(np.float32)
    out = A.log_mel(torch.from_numpy(batch))
    assert out.shape == (3, 151, A.N_MELS)
    for i in range(3):
        torch.testing.assert_close(out[i], A.log_mel(batch[i]), atol=1e-4, rtol=1e-5)
    silent = A.log_mel(np.zeros(16000, np.float32))
    assert torch.isfinite(silent).all()
    assert torch.allclose(silent, torch.full_like(silent, float(np.log(A.LOG_EPS))))


def test_log_mel_puts_a_tone_in_the_right_band():
    m = A.log_mel(_tone(16000, freq=1000.0)).mean(0)
    fb = A.mel_filterbank()
    centres = (fb * torch.linspace(0, 8000, fb.shape[0])[:, None]).sum(0) / fb.sum(0)
    assert abs(float(centres[int(m.argmax())]) - 1000.0) < 80.0


def test_mel_filterbank_is_cached_and_complete():
    fb = A.mel_filterbank()
    assert fb is A.mel_filterbank()
    assert fb.shape == (A.N_FFT // 2 + 1, A.N_MELS)
    assert (fb.sum(0) > 0).all()  # no empty filter, even at the low end
    assert float(fb.max()) <= 1.0 + 1e-6


def test_log_mel_rejects_bad_shapes():
    with pytest.raises(ValueError):
        A.log_mel(np.zeros((2, 2, 100), np.float32))
    with pytest.raises(ValueError):
        A.log_mel(np.zeros(0, np.float32))
