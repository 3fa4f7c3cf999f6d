"""The face critic (mmdemo.training.critic): trained on the training faces, frozen, and judging only
the faces generated from a description or a voice."""

import json
from dataclasses import replace

import numpy as np
import torch

from mmdemo.data.loaders import load_image, open_samples
from mmdemo.model.network import FusionAutoencoder, ModelConfig
from mmdemo.schema import to_indices
from mmdemo.training.config import PRESETS, TrainConfig
from mmdemo.training.critic import CRITIC_FILE, critic_loss, fit_critic, load_or_fit_critic
from mmdemo.training.objective import step_losses


def _faces(samples):
    x = torch.from_numpy(np.stack([load_image(s, 64) for s in samples])).permute(0, 3, 1, 2).float() / 255
    return x, torch.tensor([to_indices(s.attrs) for s in samples], dtype=torch.long)


def test_the_critic_learns_to_read_faces_it_did_not_train_on(tiny_data):
    train, val = open_samples(tiny_data, "train"), open_samples(tiny_data, "val")
    critic = fit_critic(train, image_size=64, steps=120, batch_size=32, seed=0)
    assert not critic.training and not any(p.requires_grad for p in critic.parameters())
    faces, attrs = _faces(val)
    untrained = fit_critic(train, image_size=64, steps=0, seed=0)  # silent: chance-level logits
    with torch.no_grad():
        learned, chance = (
            critic_loss(critic, faces, attrs).mean(),
            critic_loss(untrained, faces, attrs).mean(),
        )
    assert learned < 0.75 * chance


def test_the_critics_gradient_reaches_the_decoder_not_the_critic(tiny_data):
    torch.manual_seed(0)
    samples = open_samples(tiny_data, "train")[:8]
    critic = fit_critic(samples, image_size=64, steps=2, batch_size=4)
    model = FusionAutoencoder(ModelConfig(dim=32, depth=1, heads=2, latent_dim=8, decoder_channels=16))
    faces, attrs = _faces(samples)
    batch = {  # faces and voices: pass B decodes some rows from the voice alone, which the critic judges
        "image": faces,
        "attrs": attrs,
        "mel": torch.randn(8, 100, 64),
        "mel_len": torch.full((8,), 100),
        "has_image": torch.ones(8, dtype=torch.bool),
        "has_text": torch.zeros(8, dtype=torch.bool),
        "has_voice": torch.ones(8, dtype=torch.bool),
        "has_voice_params": torch.zeros(8, dtype=torch.bool),
    }
    cfg = replace(TrainConfig(), critic=1.0)
    total, parts, _ = step_losses(model, cfg, batch, 10, torch.Generator().manual_seed(0), critic)
    total.backward()
    assert parts["critic"] > 0
    assert model.image_decoder.out.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in critic.parameters())


def test_a_run_saves_its_critic_and_a_resumed_one_reuses_it(tiny_data, tmp_path, monkeypatch):
    from mmdemo.training import train

    tiny = PRESETS["tiny"]
    monkeypatch.setitem(PRESETS, "tiny-critic", replace(tiny, critic=0.5, critic_steps=10))
    out = train(tiny_data, tmp_path / "ckpt", preset="tiny-critic", steps=4, device="cpu", progress=False)
    assert (out / CRITIC_FILE).is_file()
    history = json.loads((out / "history.json").read_text())
    assert all("critic" in h and np.isfinite(h["critic"]) for h in history)
    saved = load_or_fit_critic(out, [], image_size=64, steps=10, seed=1, device="cpu", main=False)
    fresh = fit_critic(open_samples(tiny_data, "train"), image_size=64, steps=10, seed=0)
    for key, value in fresh.state_dict().items():
        assert torch.equal(saved.state_dict()[key], value), key
