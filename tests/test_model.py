"""The network on its own: masking, attention output, shapes, config validation."""

import pytest
import torch

from mmdemo.model.network import FusionAutoencoder, ModelConfig
from mmdemo.model.text import SPECIALS
from mmdemo.schema import ATTRIBUTES


def _net(seed=0):
    torch.manual_seed(seed)
    cfg = ModelConfig(
        dim=32,
        depth=4,
        heads=4,
        latent_dim=16,
        decoder_channels=32,
        text_hidden=32,
        text_vocab=[*SPECIALS, "a", "man", "."],
        voice_variants=["f1", "m1"],
    )
    return FusionAutoencoder(cfg).eval()


def _inputs(b=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {
        "image": torch.rand(b, 3, 64, 64, generator=g),
        "text_states": torch.randn(b, 7, 384, generator=g),
        "text_mask": torch.tensor([[True] * 7, [True] * 5 + [False] * 2, [True] * 3 + [False] * 4])[:b],
        "mel": torch.randn(b, 120, 64, generator=g) - 5,
        "mel_len": torch.tensor([120, 80, 41])[:b],
    }


@pytest.mark.parametrize(
    "subset",
    [
        ("image",),
        ("text",),
        ("voice",),
        ("image", "text"),
        ("image", "voice"),
        ("text", "voice"),
        ("image", "text", "voice"),
    ],
)
def test_every_subset_fuses_to_a_latent(subset):
    net = _net()
    tokens = net.tokens(_inputs())
    out = net.fuse({m: tokens[m] for m in subset}, want_attention=True)
    assert out.mu.shape == (3, 16) and torch.isfinite(out.mu).all()
    assert set(out.layout) == set(subset)
    assert len(out.attentions) == 4 and out.attentions[0].shape[1] == 4


def test_a_missing_modality_is_an_absent_key():
    """Masking every key of a modality gives exactly what leaving it out gives."""
    net = _net()
    tokens = net.tokens(_inputs())
    alone = net.fuse({"image": tokens["image"]}).mu
    text_states, _ = tokens["text"]
    hidden = net.fuse(
        {"image": tokens["image"], "text": (text_states, torch.zeros(3, 7, dtype=torch.bool))}
    ).mu
    assert torch.allclose(alone, hidden, atol=1e-5)


def test_padding_does_not_change_the_result():
    net = _net()
    x = _inputs()
    longer = dict(
        x,
        text_states=torch.cat([x["text_states"], torch.randn(3, 4, 384)], 1),
        text_mask=torch.cat([x["text_mask"], torch.zeros(3, 4, dtype=torch.bool)], 1),
    )
    assert torch.allclose(net.encode(x).mu, net.encode(longer).mu, atol=1e-5)


def test_attention_is_a_distribution_over_present_keys_and_matches_the_fused_kernel():
    net = _net()
    x = _inputs()
    with_attn = net.encode(x, want_attention=True)
    without = net.encode(x)
    assert without.attentions is None
    assert torch.allclose(with_attn.mu, without.mu, atol=1e-5)
    a = with_attn.attentions[-1]
    assert torch.allclose(a.sum(-1), torch.ones_like(a.sum(-1)), atol=1e-5)
    masked_keys = ~with_attn.key_mask
    assert (
        a.permute(0, 2, 1, 3)[masked_keys[:, None, None, :].expand(-1, a.shape[2], a.shape[1], -1)] == 0
    ).all()


def test_decoders_shapes_and_ranges():
    net = _net()
    z = torch.randn(5, 16)
    img = net.image_decoder(z)
    assert img.shape == (5, 3, 64, 64) and img.min() >= 0 and img.max() <= 1
    ids = net.text_decoder.generate(z)
    assert ids.shape[0] == 5 and ids.shape[1] <= net.config.text_max_tokens - 1
    logits = net.attribute_logits(z)
    assert [lg.shape[1] for lg in logits] == [len(a.values) for a in ATTRIBUTES]
    variants, params = net.voice_outputs(z)
    assert variants.shape == (5, 2) and params.shape == (5, 4)
    assert torch.allclose(net.denormalise_voice(net.normalise_voice(params)), params, atol=1e-4)


def test_config_round_trip_and_validation():
    cfg = _net().config
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown model config fields: colour"):
        ModelConfig.from_dict({**cfg.to_dict(), "colour": 1})
    broken = cfg.to_dict()
    del broken["depth"]
    with pytest.raises(ValueError, match="lacks fields: depth"):
        ModelConfig.from_dict(broken)


def test_greedy_decoding_follows_the_trained_gru():
    """`generate` writes the GRU step out by hand; it must pick what `nn.GRU` (used in training) picks."""
    torch.manual_seed(1)
    dec = _net().text_decoder
    z = torch.randn(8, 16) * 3
    h, cond = dec._h0(z), dec.cond(z)[:, None]
    token, expected = torch.full((8, 1), SPECIALS.index("[BOS]"), dtype=torch.long), []
    for _ in range(dec.max_len - 1):
        y, h = dec.gru(torch.cat([dec.embed(token), cond], -1), h)
        token = dec.out(y).argmax(-1)
        expected.append(token)
    expected = torch.cat(expected, 1)
    got = dec.generate(z)
    eos = SPECIALS.index("[EOS]")
    for row, want in zip(got, expected):  # equal up to each row's [EOS] (padding after it)
        end = (want == eos).nonzero()
        n = int(end[0]) + 1 if len(end) else len(want)
        assert torch.equal(row[:n], want[:n])


def test_each_device_keeps_its_own_minilm():
    """A model loaded on the GPU must not move the MiniLM that a CPU model in the same process reads
    with (the H200 showed a CPU model's load pulling the GPU model's encoder back to the CPU). The
    meta device stands in for the GPU: no GPU is needed to see which instance moves."""
    from mmdemo.model.text import shared_encoder

    on_cpu = shared_encoder("cpu")
    elsewhere = shared_encoder("meta")
    assert elsewhere is not on_cpu and elsewhere.device.type == "meta"
    assert shared_encoder() is on_cpu and on_cpu.device.type == "cpu"
    assert next(on_cpu.model.parameters()).device.type == "cpu"
    assert on_cpu.encode(["a smiling woman"]).states.shape[0] == 1
