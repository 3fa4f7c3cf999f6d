"""The face's private latent (ModelConfig.private_dim, as in MMVAE+): read from the face's pixels only,
decoded with the shared latent, drawn from its prior where the face was not fused."""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from mmdemo.model.network import FusionAutoencoder, ModelConfig
from mmdemo.training.config import PRESETS
from mmdemo.training.objective import decoder_losses


def _net(private_dim: int = 8) -> FusionAutoencoder:
    torch.manual_seed(0)
    config = ModelConfig(dim=32, depth=1, heads=2, latent_dim=8, decoder_channels=16, private_dim=private_dim)
    return FusionAutoencoder(config).eval()


def test_only_a_fused_face_gives_a_private_latent_and_the_decoder_reads_it():
    net = _net()
    with torch.no_grad():
        tokens = net.tokens(
            {
                "image": torch.rand(3, 3, 64, 64),
                "text_states": torch.randn(3, 5, 384),
                "text_mask": torch.ones(3, 5, dtype=torch.bool),
            }
        )
        with_face = net.fuse(tokens)
        text_only = net.fuse(net.subset(tokens, ["text"]))
        assert with_face.private_mu.shape == with_face.private_logvar.shape == (3, 8)
        assert text_only.private_mu is None
        # the private latent depends on the face alone, not on what else was fused
        face_only = net.fuse(net.subset(tokens, ["image"]))
        assert torch.equal(face_only.private_mu, with_face.private_mu)
        z = with_face.mu
        prior_mean = net.decode_image(z)
        assert torch.equal(prior_mean, net.decode_image(z, torch.zeros(3, 8)))
        assert (net.decode_image(z, torch.randn(3, 8) * 3) - prior_mean).abs().max() > 1e-3
    assert _net(0).private_encoder is None and _net(0).decode_image(torch.zeros(1, 8)).shape == (1, 3, 64, 64)


def test_a_row_uses_its_faces_detail_only_where_its_latent_fused_the_face():
    """Rows whose latent came from a description or a voice decode with a private latent from the
    prior: the image loss of those rows sends nothing to the private encoder."""
    net = _net().train()
    batch = {
        "image": torch.rand(4, 3, 64, 64),
        "has_image": torch.ones(4, dtype=torch.bool),
        "has_voice_params": torch.zeros(4, dtype=torch.bool),
        "attrs": torch.full((4, 8), -1, dtype=torch.long),
    }
    grads = {}
    for own in (False, True):
        net.zero_grad()
        tokens = net.tokens({"image": batch["image"]})
        mu_w, logvar_w = net.private_posterior(tokens)
        fused = net.fuse(tokens)
        losses, _ = decoder_losses(
            net,
            batch,
            fused.mu,
            fused.logvar,
            rows=torch.ones(4, dtype=torch.bool),
            gen=torch.Generator().manual_seed(0),
            private=(mu_w, logvar_w, torch.full((4,), own)),
        )
        (losses["image_l1"] + losses["kl_private"]).backward()
        grads[own] = sum(float(p.grad.abs().sum()) for p in net.private_encoder.parameters())
    assert grads[False] == 0 and grads[True] > 0


def test_a_checkpoint_with_a_private_latent_trains_loads_and_reconstructs_with_it(
    tiny_data, tmp_path, monkeypatch
):
    from mmdemo import load_model
    from mmdemo.training import train

    tiny = PRESETS["tiny"]
    monkeypatch.setitem(PRESETS, "tiny-private", replace(tiny, model=replace(tiny.model, private_dim=8)))
    out = train(tiny_data, tmp_path / "ckpt", preset="tiny-private", steps=6, device="cpu", progress=False)
    model = load_model(out, device="cpu")
    assert model.config.private_dim == 8
    face = (np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)
    analysis = model.analyze(image=face, text="a smiling woman with a hat")
    encoded = model.encode_inputs(images=analysis.face_crop[None], texts=["a smiling woman with a hat"])
    fused = model.fuse(encoded)
    assert np.array_equal(analysis.image, model.decode_images(fused.mu, fused.private_mu)[0])
    assert "text" in analysis.generated_faces


def test_fine_tuning_adds_a_private_latent_that_starts_by_drawing_the_checkpoints_faces(tiny_checkpoint):
    from mmdemo.model.network import load_network
    from mmdemo.training.finetune import widened, with_private_latent

    net = load_network(tiny_checkpoint, torch.device("cpu")).eval()
    config = with_private_latent(net.config, 8)
    assert config.private_dim == 8 and with_private_latent(config, 8) is config
    with pytest.raises(ValueError, match="private face latent is 8 wide"):
        with_private_latent(config, 16)
    wider = widened(net, config, torch.device("cpu")).eval()
    z = torch.randn(3, net.config.latent_dim, generator=torch.Generator().manual_seed(0))
    w = torch.randn(3, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(wider.decode_image(z, w), net.decode_image(z))  # the new columns start at zero
    assert wider.private_encoder is not None


def test_the_train_command_takes_the_critic_and_the_private_latent(tiny_data, tiny_checkpoint, tmp_path):
    from mmdemo.cli import main

    out = tmp_path / "tuned"
    args = ["train", "--data", str(tiny_data), "--init", str(tiny_checkpoint), "--out", str(out), "--quiet"]
    assert main([*args, "--steps", "2", "--critic", "0.5", "--private-dim", "8", "--device", "cpu"]) == 0
    saved = json.loads((out / "config.json").read_text())
    assert saved["model"]["private_dim"] == 8 and saved["train"]["critic"] == 0.5
    assert (out / "critic.safetensors").is_file()
    assert main([*args, "--critic", "-1"]) == 2  # refused with one line before anything is written
