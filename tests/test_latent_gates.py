"""Latent gates: how far the latent's attribute reading is trusted when one face or voice is all
there is (ModelConfig.latent_gates), their fit with the readers and adding them to a checkpoint."""

import pytest
import torch
from tiny_nets import reader_net

from mmdemo.extractors import speaker
from mmdemo.model.network import FusionAutoencoder, ModelConfig
from mmdemo.schema import ATTRIBUTE_SIZES, ATTRIBUTES, NAMES
from mmdemo.training import readers
from mmdemo.training.refit import with_layers

AGE = NAMES.index("age_group")
AGE_SLICE = torch.arange(sum(ATTRIBUTE_SIZES)).split(ATTRIBUTE_SIZES)[AGE]


def _net(**fields) -> FusionAutoencoder:
    return reader_net(face_features=False, **fields)


def _voice_and_text(b: int = 3) -> dict:
    g = torch.Generator().manual_seed(1)
    return {
        "mel": torch.randn(b, 120, 64, generator=g),
        "mel_len": torch.full((b,), 120),
        "speaker_features": torch.randn(b, speaker.EMBEDDING_DIM, generator=g),
        "text_states": torch.randn(b, 5, 384, generator=g),
        "text_mask": torch.ones(b, 5, dtype=torch.bool),
    }


def _logits(net: FusionAutoencoder, tokens, modalities) -> torch.Tensor:
    out = net.fuse(net.subset(tokens, modalities))
    return torch.cat(net.attribute_logits(out.mu, out.evidence), -1)


def test_added_gates_change_nothing_until_they_are_fitted():
    net = _net()
    gated = with_layers(net, latent_gates=True).eval()
    assert gated.config.latent_gates and not net.config.latent_gates
    inputs = _voice_and_text()
    for subset in (["voice"], ["voice", "text"]):
        assert torch.allclose(
            _logits(net, net.tokens(inputs), subset), _logits(gated, gated.tokens(inputs), subset)
        )


def test_a_gate_scales_only_a_lone_voice_and_only_what_a_voice_tells():
    net = _net(latent_gates=True)
    torch.nn.init.constant_(net.latent_gates["speaker_features"].bias, -30.0)  # trust 0: latent ignored
    plain = _net()
    plain.load_state_dict({k: v for k, v in net.state_dict().items() if not k.startswith("latent_gates.")})
    inputs = _voice_and_text()
    tokens, plain_tokens = net.tokens(inputs), plain.tokens(inputs)
    # with a description fused too, the latent also speaks for it: nothing is scaled
    both = ["voice", "text"]
    assert torch.allclose(_logits(net, tokens, both), _logits(plain, plain_tokens, both))
    alone = net.fuse(net.subset(tokens, ["voice"]))
    gated = torch.cat(net.attribute_logits(alone.mu, alone.evidence), -1)
    reader = net.attribute_readers["speaker_features"](tokens["voice"][0][:, -1])
    for a, lg, lg_plain, rd in zip(
        ATTRIBUTES,
        gated.split(ATTRIBUTE_SIZES, -1),
        _logits(plain, plain_tokens, ["voice"]).split(ATTRIBUTE_SIZES, -1),
        reader.split(ATTRIBUTE_SIZES, -1),
    ):
        if "voice" in a.observable_from:  # the latent's logits gone: the reader's alone remain
            assert torch.allclose(lg, rd, atol=1e-5), a.name
        else:  # a voice says nothing of hats: the latent's reading of them stands
            assert torch.allclose(lg, lg_plain, atol=1e-6), a.name
    assert alone.mu.equal(plain.fuse(plain.subset(plain_tokens, ["voice"])).mu)  # the embedding stays


def _rows(n: int, seed: int) -> readers.ReaderRows:
    """Voices read alone: half "synthetic" (token[0] = +2) whose latent reads age right, half "real"
    (token[0] = -2) whose latent is confidently wrong; token[1] tells a real voice's age weakly."""
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randn(n, 32, generator=g)
    real = torch.arange(n) % 2 == 1
    tokens[:, 0] = torch.where(real, -2.0, 2.0)
    age = torch.randint(0, ATTRIBUTE_SIZES[AGE], (n,), generator=g)
    tokens[:, 1] += torch.where(real, age.float() * 1.5, torch.zeros(n))
    targets = torch.full((n, len(ATTRIBUTES)), -1, dtype=torch.long)
    targets[:, AGE] = age
    latent = torch.zeros(n, sum(ATTRIBUTE_SIZES))
    wrong = (age + 1) % ATTRIBUTE_SIZES[AGE]
    latent[torch.arange(n), AGE_SLICE[0] + torch.where(real, wrong, age)] = 8.0
    present, alone = torch.ones(n, dtype=torch.bool), torch.ones(n, dtype=torch.bool)
    return readers.ReaderRows(
        {"speaker_features": (tokens, present)}, latent.clone(), targets, latent=latent, alone=alone
    )


def test_a_fitted_gate_stops_trusting_a_latent_that_is_confidently_wrong():
    train, val = _rows(1200, seed=0), _rows(600, seed=1)
    real = torch.arange(len(val)) % 2 == 1
    without = _net()
    with_gates = _net(latent_gates=True)
    w_plain = readers.fit(without, train, l2=1e-3)
    w_gated = readers.fit(with_gates, train, l2=1e-3)
    assert readers.gate_key("speaker_features") in w_gated
    assert readers.gate_key("speaker_features") not in w_plain

    def age_accuracy(net, weights, rows):
        pred = readers.linear_logits(net, weights, rows)[:, AGE_SLICE].argmax(1)
        return float((pred == rows.targets[:, AGE]).float().mean())

    real_rows = readers.ReaderRows(
        {
            "speaker_features": (
                val.tokens["speaker_features"][0][real],
                val.tokens["speaker_features"][1][real],
            )
        },
        val.offsets[real],
        val.targets[real],
        latent=val.latent[real],
        alone=val.alone[real],
    )
    synthetic_rows = readers.ReaderRows(
        {
            "speaker_features": (
                val.tokens["speaker_features"][0][~real],
                val.tokens["speaker_features"][1][~real],
            )
        },
        val.offsets[~real],
        val.targets[~real],
        latent=val.latent[~real],
        alone=val.alone[~real],
    )
    assert age_accuracy(with_gates, w_gated, real_rows) > age_accuracy(without, w_plain, real_rows) + 0.2
    assert age_accuracy(with_gates, w_gated, synthetic_rows) > 0.98  # the latent still trusted there
    readers.install(with_gates, w_gated)
    assert torch.equal(
        with_gates.latent_gates["speaker_features"].weight, w_gated["speaker_features/gate"][0]
    )
    assert readers.current_weights(with_gates).keys() == w_gated.keys()


def test_rows_read_with_other_inputs_are_not_gated():
    net = _net(latent_gates=True)
    rows = _rows(50, seed=2)
    gate = {
        readers.gate_key("speaker_features"): (
            torch.zeros(sum(ATTRIBUTE_SIZES), 32),
            torch.full((sum(ATTRIBUTE_SIZES),), -30.0),
        )
    }
    assert not torch.allclose(readers.linear_logits(net, gate, rows), rows.offsets)
    together = readers.ReaderRows(
        rows.tokens, rows.offsets, rows.targets, latent=rows.latent, alone=~rows.alone
    )
    assert torch.equal(readers.linear_logits(net, gate, together), rows.offsets)


def test_gates_need_readers():
    torch.manual_seed(0)
    plain = FusionAutoencoder(
        ModelConfig(dim=32, depth=1, heads=2, latent_dim=8, decoder_channels=16, text_hidden=16)
    )
    with pytest.raises(ValueError, match="attribute readers"):
        with_layers(plain, latent_gates=True)
