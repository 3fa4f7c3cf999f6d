"""The public Python API on a real (tiny) checkpoint: every input subset, bad input, round trips."""

import itertools

import cv2
import numpy as np
import pytest
import torch

import mmdemo
from mmdemo.audio import read_audio
from mmdemo.data.loaders import open_samples
from mmdemo.schema import NAMES

SUBSETS = [c for r in (1, 2, 3) for c in itertools.combinations(("image", "text", "voice"), r)]


@pytest.fixture(scope="module")
def model(tiny_checkpoint):
    return mmdemo.load_model(tiny_checkpoint, device="cpu")


@pytest.fixture(scope="module")
def person(tiny_data):
    s = open_samples(tiny_data, "test")[0]
    image = cv2.cvtColor(cv2.imread(str(s.image)), cv2.COLOR_BGR2RGB)
    return {"image": image, "text": s.text, "voice": read_audio(s.audio)}


@pytest.mark.parametrize("subset", SUBSETS, ids=["+".join(s) for s in SUBSETS])
def test_every_subset(model, person, subset):
    a = model.analyze(**{k: person[k] for k in subset})
    assert a.inputs == subset
    assert a.embedding.shape == (model.config.latent_dim,) and np.isfinite(a.embedding).all()
    assert set(a.attributes) == set(NAMES)
    assert all(0 < c <= 1 for c in a.confidences.values())
    assert a.image.shape == (64, 64, 3) and a.image.dtype == np.uint8
    assert isinstance(a.text, str)
    sr, wave = a.audio
    assert sr == 16000 and wave.dtype == np.float32 and len(wave) > 8000
    shares = a.attention.modality_share
    assert set(shares) == set(a.inputs) and abs(sum(shares.values()) - 1) < 1e-5
    if "image" in subset and "text" in subset:
        maps = a.attention.text_to_image
        assert maps.shape == (len(a.attention.words), 8, 8) and np.allclose(maps.sum((1, 2)), 1, atol=1e-4)
    if "image" in subset:
        assert a.attention.rollout.shape == (8, 8) and a.face_crop.shape == (64, 64, 3)
    if "voice" in subset:
        assert abs(a.attention.voice_frames.sum() - 1) < 1e-4
    assert set(a.unimodal) == set(a.inputs)
    assert set(a.generated_faces) == {m for m in ("text", "voice") if m in a.inputs}


def test_save_load_round_trip_gives_identical_outputs(tiny_checkpoint, person):
    a = mmdemo.load_model(tiny_checkpoint, device="cpu").analyze(**person)
    b = mmdemo.load_model(tiny_checkpoint, device="cpu").analyze(**person)
    assert np.array_equal(a.embedding, b.embedding) and np.array_equal(a.image, b.image)
    assert a.text == b.text and np.array_equal(a.audio[1], b.audio[1])


def test_concurrent_analyses_each_get_their_own_description_and_voice(model, tiny_data):
    """analyze hands the description and voice to an encoder thread shared by every caller: callers
    in several server threads at once must each get back the reading of their own inputs."""
    from concurrent.futures import ThreadPoolExecutor

    people = []
    for s in open_samples(tiny_data, "test")[:4]:
        image = cv2.cvtColor(cv2.imread(str(s.image)), cv2.COLOR_BGR2RGB)
        people.append({"image": image, "text": s.text, "voice": read_audio(s.audio)})
    alone = [model.analyze(**p) for p in people]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda p: model.analyze(**p), people * 3))
    for i, a in enumerate(together):
        expected = alone[i % len(people)]
        np.testing.assert_allclose(a.embedding, expected.embedding, atol=1e-5)
        assert a.attention.words == expected.attention.words and a.text == expected.text
    assert len({a.embedding.tobytes() for a in alone}) == len(people)  # four different readings


def test_image_formats_are_converted(model, person):
    rgb = person["image"]
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    sixteen = rgb.astype(np.uint16) * 257
    floats = rgb.astype(np.float32) / 255
    base = model.analyze(image=rgb).embedding
    for variant in (rgba, sixteen, floats):
        assert np.allclose(model.analyze(image=variant).embedding, base, atol=1e-4)
    # a grey image is the same picture in every channel, with or without a channel axis
    grey_rgb = model.analyze(image=np.dstack([grey] * 3)).embedding
    for variant in (grey, grey[:, :, None]):
        assert np.allclose(model.analyze(image=variant).embedding, grey_rgb, atol=1e-5)
    assert not np.allclose(grey_rgb, base, atol=1e-4)  # and it is seen as grey, not as the colour image


def test_no_face_falls_back_to_the_centre(model):
    noise = np.random.default_rng(0).integers(0, 255, (300, 200, 3), dtype=np.uint8)
    a = model.analyze(image=noise)
    assert a.face_found is False and any("no face" in w for w in a.warnings)


def test_audio_conversions_and_limits(model, person):
    from scipy.signal import resample_poly

    sr, wave = person["voice"]
    base = model.analyze(voice=(sr, wave)).embedding
    # the same clip as 16-bit stereo, or at 44.1 kHz, is heard as the same voice: the conversions move
    # the tiny model's embedding by ~0.003, another person's voice by 0.04 or more
    stereo_int = (np.stack([wave, wave], 1) * 32767).astype(np.int16)
    at_44k = resample_poly(wave, 441, 160).astype(np.float32)
    for converted in ((sr, stereo_int), (44100, at_44k)):
        a = model.analyze(voice=converted)
        assert a.inputs == ("voice",) and np.allclose(a.embedding, base, atol=0.01), converted[0]
    long = np.tile(wave, int(40 * sr / len(wave)) + 1)
    a = model.analyze(voice=(sr, long))
    assert any("first 30 s" in w for w in a.warnings)


def test_audio_keyword_still_works_and_warns(model, person):
    with pytest.warns(DeprecationWarning, match=r"renamed analyze\(voice=\.\.\.\)"):
        a = model.analyze(audio=person["voice"])
    assert a.inputs == ("voice",)
    assert np.array_equal(a.embedding, model.analyze(voice=person["voice"]).embedding)


def test_text_limits(model):
    assert model.analyze(text="   ", image=np.full((64, 64, 3), 128, np.uint8)).inputs == ("image",)
    a = model.analyze(text="a happy man with glasses " * 100)
    assert any("longer than 1000 characters" in w for w in a.warnings)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({}, "nothing to analyze"),
        ({"text": ""}, "nothing to analyze"),
        ({"voice": (16000, np.zeros(32000, np.float32))}, "no voice detected"),
        ({"voice": (16000, np.array([0.1, np.nan] * 8000, np.float32))}, "NaN"),
        ({"voice": (16000, np.zeros(0, np.float32))}, "empty"),
        ({"voice": np.zeros(100)}, "sample_rate, samples"),
        ({"voice": (0, np.ones(1600))}, "sample rate"),
        ({"image": np.zeros((8, 8, 3), np.uint8)}, "too small"),
        ({"image": np.zeros((7000, 6000, 3), np.uint8)}, "42 megapixels; the limit is 40"),
        ({"image": np.zeros((64, 64, 5), np.uint8)}, "expected height x width"),
        ({"image": np.array(["not", "an", "image"], dtype=object)}, "not an image"),
        ({"text": 42}, "must be text"),
    ],
)
def test_bad_input_is_a_clear_value_error(model, kwargs, message):
    with pytest.raises(ValueError, match=message):
        model.analyze(**kwargs)


def test_checkpoint_refusals(tmp_path, tiny_checkpoint):
    import shutil

    from mmdemo.checkpoint import CheckpointError

    def copy(name):
        d = tmp_path / name
        shutil.copytree(tiny_checkpoint, d, ignore=shutil.ignore_patterns("resume"))
        return d

    trunc = copy("trunc")
    data = (trunc / "model.safetensors").read_bytes()
    (trunc / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"model.safetensors is truncated or corrupt"):
        mmdemo.load_model(trunc)
    unknown = copy("unknown")
    cfg = (unknown / "config.json").read_text().replace('"depth"', '"depht"')
    (unknown / "config.json").write_text(cfg)
    with pytest.raises(CheckpointError, match=r"config.json: unknown model config fields: depht"):
        mmdemo.load_model(unknown)
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "config.json").write_text("{}")
    (pickled / "model.pt").write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(CheckpointError, match=r"model.pt \(pickle format\)"):
        mmdemo.load_model(pickled)
    with pytest.raises(CheckpointError, match="not a checkpoint folder"):
        mmdemo.load_model(tmp_path / "missing")


def test_cuda_is_refused_without_a_gpu(tiny_checkpoint, monkeypatch):
    """Hides any GPU, so the refusal is tested on every machine."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for device in ("cuda", "cuda:0"):
        with pytest.raises(ValueError, match="no CUDA GPU is visible; use --device auto or cpu"):
            mmdemo.load_model(tiny_checkpoint, device=device)
    assert mmdemo.load_model(tiny_checkpoint, device="auto").device.type == "cpu"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_is_used_when_present(tiny_checkpoint, person):
    on_gpu = mmdemo.load_model(tiny_checkpoint, device="cuda")
    assert on_gpu.device.type == "cuda" and next(on_gpu.net.parameters()).is_cuda
    assert mmdemo.load_model(tiny_checkpoint, device="auto").device.type == "cuda"
    cpu = mmdemo.load_model(tiny_checkpoint, device="cpu").analyze(text=person["text"]).embedding
    assert np.allclose(on_gpu.analyze(text=person["text"]).embedding, cpu, atol=1e-3)
