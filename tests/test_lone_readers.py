"""Lone readers: a linear correction of how one input alone is read (ModelConfig.lone_readers), its
fit after training and the command that fits it into a checkpoint."""

import csv
import json
import shutil
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from mmdemo.audio import SAMPLE_RATE
from mmdemo.cli import main
from mmdemo.data.loaders import load_audio, open_samples
from mmdemo.inference.model import load_model
from mmdemo.model.network import LONE_READERS_FILE, FusionAutoencoder, ModelConfig, load_network
from mmdemo.schema import ATTRIBUTE_SIZES, ATTRIBUTES, MODALITIES
from mmdemo.training.lone_readers import fit_lone_readers


def _net(**fields) -> FusionAutoencoder:
    torch.manual_seed(0)
    cfg = ModelConfig(dim=32, depth=1, heads=2, latent_dim=8, decoder_channels=16, text_hidden=16, **fields)
    return FusionAutoencoder(cfg).eval()


def _inputs(b: int = 3) -> dict:
    g = torch.Generator().manual_seed(1)
    return {
        "image": torch.rand(b, 3, 64, 64, generator=g),
        "mel": torch.randn(b, 120, 64, generator=g),
        "mel_len": torch.full((b,), 120),
        "text_states": torch.randn(b, 5, 384, generator=g),
        "text_mask": torch.ones(b, 5, dtype=torch.bool),
    }


def _read(net: FusionAutoencoder, modalities) -> tuple[torch.Tensor, torch.Tensor]:
    out = net.fuse(net.subset(net.tokens(_inputs()), modalities))
    return out.mu, torch.cat(net.attribute_logits(out.mu, out.evidence), -1)


def test_a_lone_reader_corrects_only_its_own_input_read_alone_and_only_what_it_carries():
    net = _net(lone_readers=["voice"])
    torch.nn.init.normal_(net.lone_readers["voice"].weight)
    torch.nn.init.constant_(net.lone_readers["voice"].bias, 3.0)
    plain = _net()
    plain.load_state_dict({k: v for k, v in net.state_dict().items() if not k.startswith("lone_readers.")})
    for subset in (["image"], ["text"], ["voice", "text"], list(MODALITIES)):
        mu, logits = _read(net, subset)
        plain_mu, plain_logits = _read(plain, subset)
        assert mu.equal(plain_mu) and torch.allclose(logits, plain_logits), subset
    mu, logits = _read(net, ["voice"])
    plain_mu, plain_logits = _read(plain, ["voice"])
    assert mu.equal(plain_mu)  # the embedding the map shows is the same
    added = net.lone_readers["voice"](mu)
    parts = zip(
        ATTRIBUTES,
        logits.split(ATTRIBUTE_SIZES, -1),
        plain_logits.split(ATTRIBUTE_SIZES, -1),
        added.split(ATTRIBUTE_SIZES, -1),
    )
    for a, lg, lg_plain, extra in parts:
        if "voice" in a.observable_from:
            assert torch.allclose(lg, lg_plain + extra, atol=1e-5), a.name
        else:  # a voice says nothing of hats
            assert torch.allclose(lg, lg_plain, atol=1e-6), a.name


def test_unknown_modalities_are_refused():
    with pytest.raises(ValueError, match="not a modality"):
        _net(lone_readers=["smell"])


@pytest.fixture(scope="module")
def fitted(tiny_checkpoint, tiny_data):
    net = load_network(tiny_checkpoint, torch.device("cpu")).eval()
    return net, *fit_lone_readers(net, [tiny_data])


def test_the_fit_never_reads_an_input_alone_worse_on_val_and_keeps_every_embedding(fitted):
    net, out, record = fitted
    assert set(record["modalities"]) == set(MODALITIES)
    assert record["lone_readers"] == list(out.config.lone_readers)
    for m, entry in record["modalities"].items():
        before, after = entry["val_balanced_accuracy_before"], entry["val_balanced_accuracy"]
        assert set(before) == {a.name for a in ATTRIBUTES if m in a.observable_from} or m == "text"
        assert all(after[name] >= before[name] for name in before), m
        # a reader is kept only where some attribute chose a correction over none
        assert (m in out.config.lone_readers) == any(v is not None for v in entry["l2"].values())
    inputs = _inputs()
    for subset in ([m] for m in MODALITIES):
        fused, fused_before = out.fuse(out.subset(out.tokens(inputs), subset)), _read(net, subset)[0]
        assert fused.mu.equal(fused_before)
    everything = out.fuse(out.tokens(inputs))
    assert torch.allclose(
        torch.cat(out.attribute_logits(everything.mu, everything.evidence), -1),
        _read(net, list(MODALITIES))[1],
    )


def test_a_refit_of_other_inputs_keeps_a_reader_as_it_was(fitted, tiny_data):
    _, out, _ = fitted
    with_voice = FusionAutoencoder(replace(out.config, lone_readers=list(MODALITIES))).eval()
    with_voice.load_state_dict(out.state_dict(), strict=False)
    torch.nn.init.normal_(with_voice.lone_readers["voice"].weight)
    refit, record = fit_lone_readers(with_voice, [tiny_data], modalities=["image"])
    assert set(record["modalities"]) == {"image"}
    assert refit.lone_readers["voice"].weight.equal(with_voice.lone_readers["voice"].weight)


def test_the_command_fits_them_into_a_checkpoint_and_recalibrates_it(
    tiny_app_checkpoint, tiny_data, tmp_path
):
    folder = tmp_path / "ckpt"
    shutil.copytree(tiny_app_checkpoint, folder)
    calibrated = (folder / "calibration.safetensors").read_bytes()
    assert main(["fit-lone-readers", "--checkpoint", str(folder), "--data", str(tiny_data), "--quiet"]) == 0
    record = json.loads((folder / LONE_READERS_FILE).read_text())
    config = json.loads((folder / "config.json").read_text())
    assert config["model"]["lone_readers"] == record["lone_readers"]
    assert (folder / "calibration.safetensors").read_bytes() != calibrated  # fitted on the new readings
    person = open_samples(tiny_data, "test")[0]
    face, voice = np.asarray(Image.open(person.image).convert("RGB")), (SAMPLE_RATE, load_audio(person))
    saved, loaded = (
        load_model(folder, "cpu").analyze(image=face, text=person.text, voice=voice) for _ in "ab"
    )
    assert saved.same_person and saved.same_person == loaded.same_person
    assert saved.attributes == loaded.attributes and np.array_equal(saved.embedding, loaded.embedding)


def test_the_command_refuses_data_without_a_val_split_and_leaves_the_checkpoint_alone(
    tiny_checkpoint, tiny_data, tmp_path, capsys
):
    folder = tmp_path / "ckpt"
    shutil.copytree(tiny_checkpoint, folder)
    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    train_only = tmp_path / "train_only"
    shutil.copytree(tiny_data, train_only, ignore=shutil.ignore_patterns("features"))
    with open(tiny_data / "metadata.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    with open(train_only / "metadata.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(r for r in rows if r["split"] != "val")
    assert main(["fit-lone-readers", "--checkpoint", str(folder), "--data", str(train_only), "--quiet"]) == 2
    assert "val split" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()} == before


def test_an_attribute_the_val_split_cannot_score_keeps_the_heads_reading():
    from mmdemo.data.loaders import Sample
    from mmdemo.schema import NAMES
    from mmdemo.training import lone_readers, readers

    net = _net(lone_readers=list(MODALITIES))
    g = torch.Generator().manual_seed(0)
    age, emotion = NAMES.index("age_group"), NAMES.index("emotion")

    def rows(n: int, ages_known: int) -> tuple[readers.ReaderRows, list[Sample]]:
        mu = torch.randn(n, net.config.latent_dim, generator=g)
        targets = torch.full((n, len(ATTRIBUTES)), -1)
        targets[:, emotion] = (mu[:, 0] > 0).long()  # the latent tells the emotion: a correction helps
        targets[:ages_known, age] = (mu[:ages_known, 1] > 0).long()
        people = [Sample(str(i), "x", str(i), None, None, None, {}) for i in range(n)]
        offsets = torch.zeros(n, sum(ATTRIBUTE_SIZES))
        tokens = {lone_readers.key_of("voice"): (mu, torch.ones(n, dtype=torch.bool))}
        return readers.ReaderRows(tokens, offsets, targets, sample=torch.arange(n), mu=mu), people

    (train, train_people), (val, val_people) = rows(400, 400), rows(200, 10)
    (w, b), entry = lone_readers._fit_one(
        net, "voice", {"train": train, "val": val}, {"train": train_people, "val": val_people}
    )
    slices = dict(zip(NAMES, torch.arange(sum(ATTRIBUTE_SIZES)).split(ATTRIBUTE_SIZES)))
    assert entry["l2"]["emotion"] is not None and w[slices["emotion"]].abs().sum() > 0
    assert entry["l2"]["age_group"] is None and "age_group" not in entry["val_balanced_accuracy_before"]
    assert not w[slices["age_group"]].any() and not b[slices["age_group"]].any()


def test_the_model_card_shows_how_each_input_alone_is_read(tmp_path):
    from mmdemo.serving.model_card import model_card

    entry = {"val_balanced_accuracy_before": {"emotion": 0.912}, "val_balanced_accuracy": {"emotion": 0.953}}
    record = {"lone_readers": ["voice"], "modalities": {"voice": entry, "text": {"skipped": "no val sample"}}}
    (tmp_path / LONE_READERS_FILE).write_text(json.dumps(record))
    card = model_card(tmp_path, {}, 10, reads_real=False)
    assert "One input alone" in card and "| a voice | emotion | 0.912 | 0.953 |" in card
    assert "One input alone" not in model_card(tmp_path / "none", {}, 10, reads_real=False)


def test_a_checkpoint_with_lone_readers_fine_tunes_and_comes_out_with_them_refitted(
    tiny_checkpoint, tiny_data, tmp_path
):
    from mmdemo import checkpoint as ckpt

    start = tmp_path / "start"
    shutil.copytree(tiny_checkpoint, start, ignore=shutil.ignore_patterns("resume", "gallery"))
    net = load_network(start, torch.device("cpu"))
    with_readers = FusionAutoencoder(replace(net.config, lone_readers=list(MODALITIES)))
    with_readers.load_state_dict(net.state_dict(), strict=False)
    for layer in with_readers.lone_readers.values():
        torch.nn.init.normal_(layer.weight)
    ckpt.rewrite_network(start, with_readers, config=True)
    out = tmp_path / "tuned"
    args = ["train", "--data", str(tiny_data), "--init", str(start), "--out", str(out), "--steps", "2"]
    assert main([*args, "--quiet", "--device", "cpu"]) == 0
    record = json.loads((out / LONE_READERS_FILE).read_text())
    assert json.loads((out / "config.json").read_text())["model"]["lone_readers"] == record["lone_readers"]
    assert set(record["modalities"]) == set(MODALITIES)
