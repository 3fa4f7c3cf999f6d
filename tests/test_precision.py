"""Where inference runs in bf16: the frozen MiniLM always (where the CPU has bf16 natively), and the
batched readings behind `gallery`; `MMDEMO_FLOAT32=1` turns both off. bf16 must not move what the
model reads: the same token states and latents as float32, to a cosine of 0.999."""

import numpy as np
import pytest
import torch

from mmdemo.model.precision import inference_autocast, native_cpu_bf16
from mmdemo.model.text import shared_encoder

TEXTS = [
    "A man.",
    "An older woman with long red hair, round glasses and a wide smile, wearing a green hat.",
    "A young man with a beard.",
    "A woman with short black hair who looks surprised.",
    "A child.",
]


def _cosines(a, b, mask):
    return torch.nn.functional.cosine_similarity(a[mask], b[mask], dim=-1)


def test_minilm_returns_each_text_in_the_order_given_as_if_read_alone():
    """Texts are encoded in batches sorted by length; the result must come back in the caller's order,
    each row what that text reads alone (padding only adds masked columns)."""
    encoder = shared_encoder()
    together = encoder.encode(TEXTS, batch_size=2)
    assert together.states.shape[:2] == together.mask.shape and len(together.tokens) == len(TEXTS)
    for i, text in enumerate(TEXTS):
        alone = encoder.encode([text])
        n = int(alone.mask.sum())
        assert int(together.mask[i].sum()) == n and together.tokens[i] == alone.tokens[0]
        assert not together.mask[i, n:].any()  # padding after the text's own tokens
        cos = _cosines(together.states[i, :n], alone.states[0, :n], slice(None))
        assert cos.min() > 0.999
    assert encoder.encode([]).states.shape[0] == 0


def test_the_float32_switch_gives_the_same_states(monkeypatch):
    encoder = shared_encoder()
    fast = encoder.encode(TEXTS)
    monkeypatch.setenv("MMDEMO_FLOAT32", "1")
    exact = encoder.encode(TEXTS)
    with inference_autocast("cpu"):
        assert not torch.is_autocast_enabled("cpu")  # the switch holds for every caller
    if not native_cpu_bf16():
        assert torch.equal(fast.states, exact.states)  # emulated bf16 is slower: never used
    assert _cosines(fast.states, exact.states, exact.mask).min() > 0.999


def test_a_bf16_latent_only_reading_matches_float32(tiny_checkpoint, tiny_data):
    from mmdemo.inference.model import load_model
    from mmdemo.inference.projection import one_per_person
    from mmdemo.schema import MODALITIES

    model = load_model(tiny_checkpoint, "cpu")
    samples = one_per_person(tiny_data, 60)[:24]
    exact = model.read(samples, [MODALITIES], batch_size=8)[MODALITIES]
    fast = model.read(samples, [MODALITIES], batch_size=8, bf16=True, evidence=False)[MODALITIES]
    assert fast.evidence is None and fast.mu.dtype == torch.float32 and fast.mu.shape == exact.mu.shape
    cos = torch.nn.functional.cosine_similarity(fast.mu, exact.mu, dim=-1).numpy()
    assert np.min(cos) > 0.999
    assert not torch.is_autocast_enabled("cpu")  # the reading leaves the caller's thread as it was


@pytest.mark.skipif(not native_cpu_bf16(), reason="this CPU has no native bf16")
def test_native_bf16_is_used_where_the_cpu_has_it(monkeypatch):
    with inference_autocast("cpu"):
        assert torch.is_autocast_enabled("cpu")
    monkeypatch.setenv("MMDEMO_FLOAT32", "1")
    with inference_autocast("cpu"):
        assert not torch.is_autocast_enabled("cpu")
