"""The face decoder fitted on a finished network's frozen latents (`fit-face-decoder`): only the face
decoder, the private face latent and its conditional prior change, the private latent changes only the
face, and the refitted checkpoint loads and analyses."""

import json
import re

import numpy as np
import torch

from mmdemo.data.loaders import open_samples
from mmdemo.model.network import load_network
from mmdemo.training.face_decoder_fit import (
    REFITTED,
    FaceDecoderFit,
    LatentRows,
    fit_face_decoder,
    read_latents,
)

TINY_FIT = FaceDecoderFit(steps=4, batch_size=8, private_dim=8, channels=16)


def test_the_fit_changes_only_the_face_decoder_and_the_private_encoder(tiny_checkpoint, tiny_data):
    net = load_network(tiny_checkpoint, torch.device("cpu")).eval()
    new, record = fit_face_decoder(net, [tiny_data], TINY_FIT)
    assert new.config.face_decoder == "modulated" and new.config.private_dim == 8
    old = net.state_dict()
    for name, value in new.state_dict().items():
        if not name.startswith(REFITTED):
            assert torch.equal(value, old[name]), name
    assert record["history"][-1]["step"] == 4 and record["private_prior"]["steps"] > 0
    scores = record["val"][str(tiny_data)]
    assert scores["people"] > 0 and 0 < scores["all/psnr"] < 60
    # the shared latent is the network's: its embeddings and readings do not move
    image = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(new.encode({"image": image}).mu, net.encode({"image": image}).mu)


def test_the_private_latent_changes_the_face_and_nothing_else(tiny_checkpoint, tiny_data):
    net, _ = fit_face_decoder(
        load_network(tiny_checkpoint, torch.device("cpu")).eval(), [tiny_data], TINY_FIT
    )
    z = torch.randn(3, net.config.latent_dim, generator=torch.Generator().manual_seed(0))
    w = torch.randn(3, 8, generator=torch.Generator().manual_seed(1)) * 2
    with torch.no_grad():
        assert (net.decode_image(z, w) - net.decode_image(z)).abs().max() > 1e-4
        # text, voice and attributes are read from z alone: no input of theirs takes w
        before = (net.text_decoder.generate(z), net.voice_outputs(z), net.attribute_logits(z))
        after = (net.text_decoder.generate(z), net.voice_outputs(z), net.attribute_logits(z))
    assert torch.equal(before[0], after[0])
    assert all(torch.equal(a, b) for a, b in zip(before[1], after[1]))


def test_latents_are_read_under_each_subset_a_person_has(tiny_checkpoint, tiny_data):
    net = load_network(tiny_checkpoint, torch.device("cpu")).eval()
    samples = [s for s in open_samples(tiny_data, "val") if s.image is not None]
    rows = read_latents(net, samples)
    assert rows.faces.shape == (len(samples), 64, 64, 3) and rows.faces.dtype == np.uint8
    everything = [i for i, s in enumerate(samples) if s.text and s.audio]
    assert everything and rows.valid[everything].all()
    # the same person read the same way: the face-only latent is the network's own
    with torch.no_grad():
        own = net.encode({"image": torch.from_numpy(rows.faces[:2]).permute(0, 3, 1, 2).float() / 255}).mu
    assert torch.allclose(rows.latents[:2, LatentRows.KINDS.index("image")], own, atol=1e-5)


def test_the_command_rewrites_the_checkpoint_and_the_app_draws_with_it(tiny_checkpoint, tiny_data, tmp_path):
    import shutil

    from mmdemo import load_model
    from mmdemo.cli import main

    folder = tmp_path / "ckpt"
    shutil.copytree(tiny_checkpoint, folder)
    args = ["fit-face-decoder", "--checkpoint", str(folder), "--data", str(tiny_data), "--quiet"]
    assert main([*args, "--steps", "3", "--private-dim", "8", "--device", "cpu"]) == 0
    config = json.loads((folder / "config.json").read_text())["model"]
    assert config["face_decoder"] == "modulated" and config["private_dim"] == 8
    assert json.loads((folder / "face_decoder.json").read_text())["settings"]["steps"] == 3
    from mmdemo.serving.model_card import model_card

    card = model_card(folder, {}, people=0, reads_real=False)
    assert "Drawing faces" in card and "PSNR" in card  # the fit and its val scores reach the About tab
    model = load_model(folder, device="cpu")
    face = (np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)
    analysis = model.analyze(image=face, text="a smiling woman with a hat")
    encoded = model.encode_inputs(images=analysis.face_crop[None], texts=["a smiling woman with a hat"])
    fused = model.fuse(encoded)
    drawn = model.decode_images(fused.mu, fused.private_mu)[0].astype(int)
    assert np.abs(analysis.image - drawn).max() <= 1  # decoded in one batch with the generated faces
    # the face from the description alone is drawn with the private latent its shared latent implies
    text_only = model.fuse(model.encode_inputs(texts=["a smiling woman with a hat"]))
    implied = model.decode_images(text_only.mu)[0].astype(int)
    assert np.abs(analysis.generated_faces["text"] - implied).max() <= 1
    assert np.abs(implied - model.decode_images(text_only.mu, torch.zeros(1, 8))[0]).max() > 1


def test_train_fits_the_face_decoder_after_its_last_step_when_asked(tiny_data, tmp_path, capsys):
    from mmdemo.cli import main

    out = tmp_path / "run"
    args = ["train", "--data", str(tiny_data), "--out", str(out), "--steps", "2", "--quiet"]
    assert main([*args, "--device", "cpu", "--face-decoder-steps", "2"]) == 0
    saved = json.loads((out / "config.json").read_text())
    assert saved["train"]["face_decoder_steps"] == 2 and saved["model"]["face_decoder"] == "modulated"
    assert json.loads((out / "face_decoder.json").read_text())["settings"]["steps"] == 2
    # the fitted run is finished: resuming it is refused with what to do instead, and nothing is touched
    before = {f.name: f.stat().st_mtime_ns for f in out.iterdir()}
    assert main([*args, "--device", "cpu", "--resume"]) == 2
    assert re.search(r"nothing to resume.*--init", capsys.readouterr().err)
    assert {f.name: f.stat().st_mtime_ns for f in out.iterdir()} == before
