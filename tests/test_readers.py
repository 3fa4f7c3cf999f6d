"""Fitting the attribute readers to convergence (mmdemo.training.readers)."""

import json

import pytest
import torch
from tiny_nets import reader_net

from mmdemo.extractors import face
from mmdemo.model.network import FusionAutoencoder, ModelConfig
from mmdemo.schema import ATTRIBUTE_SIZES, ATTRIBUTES, NAMES
from mmdemo.training import readers


def _model() -> FusionAutoencoder:
    return reader_net()


def _rows(n: int, *, seed: int, key: str = "face_features", offsets=None) -> readers.ReaderRows:
    """Feature tokens whose first coordinate tells gender and whose second tells glasses, with
    9 of 10 people women without glasses, as in the real sets' skew."""
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randn(n, 32, generator=g)
    targets = torch.full((n, len(ATTRIBUTES)), -1, dtype=torch.long)
    male = (torch.rand(n, generator=g) < 0.1).long()
    glasses = (torch.rand(n, generator=g) < 0.1).long()
    tokens[:, 0] += 2.5 * (2 * male - 1)
    tokens[:, 1] += 2.5 * (2 * glasses - 1)
    targets[:, NAMES.index("Male")] = male
    targets[:, NAMES.index("Eyeglasses")] = glasses
    offsets = torch.zeros(n, sum(ATTRIBUTE_SIZES)) if offsets is None else offsets
    return readers.ReaderRows({key: (tokens, torch.ones(n, dtype=torch.bool))}, offsets, targets)


def test_fitted_readers_read_skewed_classes_in_balance():
    model = _model()
    weights = readers.fit(model, _rows(2000, seed=0), l2=1e-3)
    scores = readers.balanced_accuracies(model, weights, _rows(1000, seed=1))
    assert scores["Male"] > 0.95 and scores["Eyeglasses"] > 0.95
    untrained = readers.balanced_accuracies(model, readers.current_weights(model), _rows(1000, seed=1))
    assert untrained["Male"] < 0.8  # the fit, not the offsets or the initial weights, reads them


def test_a_voice_reader_learns_nothing_about_glasses():
    model = _model()
    weights = readers.fit(model, _rows(2000, seed=0, key="speaker_features"), l2=1e-3)
    w, b = weights["speaker_features"]
    slices = dict(zip(NAMES, torch.arange(sum(ATTRIBUTE_SIZES)).split(ATTRIBUTE_SIZES)))
    assert w[slices["Male"]].abs().max() > 0.1
    assert w[slices["Eyeglasses"]].abs().max() == 0 and b[slices["Eyeglasses"]].abs().max() == 0
    scores = readers.balanced_accuracies(model, weights, _rows(1000, seed=1, key="speaker_features"))
    assert scores["Male"] > 0.95 and scores["Eyeglasses"] == pytest.approx(0.5)


def test_readers_stay_quiet_where_the_latent_already_reads_right():
    model = _model()
    rows = _rows(2000, seed=0)
    confident = torch.zeros(len(rows), sum(ATTRIBUTE_SIZES))
    start = 0
    for i, size in enumerate(ATTRIBUTE_SIZES):
        known = rows.targets[:, i] >= 0
        confident[known, start + rows.targets[known, i]] = 12.0
        start += size
    strong = readers.fit(model, rows, l2=1e-2)
    quiet = readers.fit(model, _rows(2000, seed=0, offsets=confident), l2=1e-2)
    norm = lambda w: w["face_features"][0].norm()  # noqa: E731
    assert norm(quiet) < 0.25 * norm(strong)  # no double counting of what the latent knows


def test_install_puts_the_fit_into_the_network():
    model = _model()
    weights = readers.fit(model, _rows(500, seed=0), l2=1e-3)
    readers.install(model, weights)
    layer = model.attribute_readers["face_features"]
    assert torch.equal(layer.weight, weights["face_features"][0])
    assert torch.equal(layer.bias, weights["face_features"][1])


def test_refitting_a_network_without_readers_is_refused_clearly():
    torch.manual_seed(0)
    plain = FusionAutoencoder(ModelConfig(dim=32, depth=1, heads=2, latent_dim=8))
    with pytest.raises(ValueError, match="--real-features"):
        readers.fit_readers(plain, [])


def test_a_refit_adds_its_real_sources_to_what_the_model_card_lists(tmp_path):
    """The network's own record stays; the refit's real sources (new ones, newer counts) join the
    sources the card lists, and the refit's record is kept beside it."""
    from mmdemo.data.real import TRAINING_DATA_FILE
    from mmdemo.training.refit import record_reader_data

    ckpt_dir, real_dir = tmp_path / "ckpt", tmp_path / "real"
    ckpt_dir.mkdir()
    real_dir.mkdir()
    old = {
        "folders": [{"path": "data/real", "kind": "real", "sources": ["CelebA"]}],
        "sources": {
            "CelebA": {"files": 9, "licence": ["non-commercial"]},
            "URDU": {"files": 4, "licence": ["r"]},
        },
    }
    (ckpt_dir / TRAINING_DATA_FILE).write_text(json.dumps(old))
    summary = {
        "sources": {
            "CelebA": {"files": 26, "licence": ["non-commercial"]},
            "CommonVoice": {"files": 5, "licence": ["CC0-1.0"]},
        }
    }
    (real_dir / "summary.json").write_text(json.dumps(summary))
    record_reader_data(ckpt_dir, [real_dir])
    now = json.loads((ckpt_dir / TRAINING_DATA_FILE).read_text())
    assert now["folders"] == old["folders"]
    assert {k: v["files"] for k, v in now["sources"].items()} == {"CelebA": 26, "URDU": 4, "CommonVoice": 5}
    assert now["readers"]["folders"] == [
        {"path": str(real_dir), "kind": "real", "sources": ["CelebA", "CommonVoice"]}
    ]


def _two_modality_rows(n: int, *, seed: int) -> readers.ReaderRows:
    """Rows read with a face and a voice: the face token tells gender, the voice token age (which
    a voice reader may read; the face token here says nothing of it)."""
    g = torch.Generator().manual_seed(seed)
    targets = torch.full((n, len(ATTRIBUTES)), -1, dtype=torch.long)
    male, older = (torch.rand(n, generator=g) < 0.3).long(), (torch.rand(n, generator=g) < 0.3).long()
    targets[:, NAMES.index("Male")], targets[:, NAMES.index("age_group")] = male, older
    face_tokens, voice_tokens = torch.randn(n, 32, generator=g), torch.randn(n, 32, generator=g)
    face_tokens[:, 0] += 2.5 * (2 * male - 1)
    voice_tokens[:, 1] += 2.5 * (2 * older - 1)
    present = torch.ones(n, dtype=torch.bool)
    tokens = {"face_features": (face_tokens, present), "speaker_features": (voice_tokens, present)}
    return readers.ReaderRows(tokens, torch.zeros(n, sum(ATTRIBUTE_SIZES)), targets)


def test_a_voice_only_refit_keeps_the_face_reader_and_fits_against_it(monkeypatch):
    """`modalities=("voice",)`: the face reader's weights stay as they were, and its logits are part
    of what the voice reader is fitted against, so the voice reader learns age (which the face token
    does not tell) and leaves gender (which it does) to the face."""
    model = _model()
    train, val = _two_modality_rows(2000, seed=0), _two_modality_rows(800, seed=1)
    face_part = readers.ReaderRows(
        {"face_features": train.tokens["face_features"]}, train.offsets, train.targets
    )
    readers.install(model, {"face_features": readers.fit(model, face_part, l2=1e-3)["face_features"]})
    face_before = model.attribute_readers["face_features"].weight.clone()
    read = {"train": train, "val": val}
    monkeypatch.setattr(readers, "open_samples", lambda folder, split: [split])
    monkeypatch.setattr(readers, "_has_any", lambda sample, modalities: True)
    monkeypatch.setattr(readers, "read_with_progress", lambda net, samples, split, progress: read[samples[0]])
    record = readers.fit_readers(model, ["folder"], l2=1e-3, modalities=("voice",))
    assert record["readers"] == ["speaker_features"]
    assert torch.equal(model.attribute_readers["face_features"].weight, face_before)
    w = model.attribute_readers["speaker_features"].weight.detach()
    slices = dict(zip(NAMES, torch.arange(sum(ATTRIBUTE_SIZES)).split(ATTRIBUTE_SIZES)))
    assert w[slices["age_group"], 1].abs().max() > 0.1
    assert w[slices["Male"], 0].abs().max() < 0.1 * face_before[slices["Male"], 0].abs().max()
    # the scores are those of both readers together: gender still read (by the face), age now too
    scores, before = record["val_balanced_accuracy"], record["val_balanced_accuracy_before"]
    assert scores["Male"] > 0.95 and before["Male"] > 0.95
    assert scores["age_group"] > 0.9 > 0.6 > before["age_group"]


def test_refitting_readers_a_checkpoint_does_not_have_is_refused_clearly():
    torch.manual_seed(0)
    config = ModelConfig(
        dim=32, depth=1, heads=2, latent_dim=8, face_feature_dim=face.FEATURE_DIM, attribute_readers=True
    )
    with pytest.raises(ValueError, match="voice; this checkpoint has readers for: image"):
        readers.fit_readers(FusionAutoencoder(config), [], modalities=("voice",))


def test_each_attribute_keeps_the_penalty_that_reads_it_best():
    """Gender is read from plenty of clean rows against a latent that reads it confidently at
    random, which only large weights overrule; age from few rows in many noisy dimensions, where a
    weak penalty overfits. Each attribute's reader rows come from its own best fit, and the combined readers
    score each attribute's best."""
    model = _model()
    g = torch.Generator().manual_seed(0)

    def rows(n: int, n_aged: int) -> readers.ReaderRows:
        tokens = torch.randn(n, 32, generator=g)
        targets = torch.full((n, len(ATTRIBUTES)), -1, dtype=torch.long)
        male = (torch.rand(n, generator=g) < 0.5).long()
        older = (torch.rand(n, generator=g) < 0.5).long()
        tokens[:, 0] += 2.5 * (2 * male - 1)
        tokens[:, 1] += 0.4 * (2 * older - 1)
        targets[:, NAMES.index("Male")] = male
        targets[:n_aged, NAMES.index("age_group")] = older[:n_aged]
        offsets = torch.zeros(n, sum(ATTRIBUTE_SIZES))
        # a latent that reads gender confidently and at random: only large weights overrule it
        offsets[:, sum(ATTRIBUTE_SIZES[: NAMES.index("Male")]) + 1] = 4 * torch.randn(n, generator=g)
        present = torch.ones(n, dtype=torch.bool)
        return readers.ReaderRows({"face_features": (tokens, present)}, offsets, targets)

    train, val = rows(2000, 40), rows(2000, 2000)
    fits = []
    for penalty in (1e-6, 1.0):
        weights = readers.fit(model, train, l2=penalty)
        fits.append((penalty, weights, readers.balanced_accuracies(model, weights, val)))
    weak, strong = fits[0][2], fits[1][2]
    assert strong["age_group"] > weak["age_group"] and weak["Male"] >= strong["Male"]

    weights, penalties = readers.best_per_attribute(fits)
    assert penalties["age_group"] == 1.0 and penalties["Male"] == 1e-6
    combined = readers.balanced_accuracies(model, weights, val)
    assert combined["age_group"] == strong["age_group"] and combined["Male"] == weak["Male"]


def test_each_value_weighs_the_same_and_within_it_each_source_does():
    age = NAMES.index("age_group")
    targets = torch.full((10, len(ATTRIBUTES)), -1, dtype=torch.long)
    # a big source that tells two values, a small one that tells three, one row unknown
    targets[:, age] = torch.tensor([0, 0, 0, 0, 1, 1, 1, 0, 2, -1])
    sources = ["big"] * 7 + ["small"] * 3
    weights = readers.row_weights(targets, sources)[:, age]
    known = targets[:, age] >= 0
    assert weights[~known].eq(0).all() and float(weights[known].mean()) == pytest.approx(1.0)
    totals = [float(weights[targets[:, age] == v].sum()) for v in range(3)]
    assert totals == pytest.approx([3.0, 3.0, 3.0])  # 9 known rows, 3 values
    young = targets[:, age] == 0
    big = torch.tensor([s == "big" for s in sources])
    assert float(weights[young & big].sum()) == pytest.approx(float(weights[young & ~big].sum()))
    # without sources: plain inverse value frequency, as before sources were known
    alone = readers.row_weights(targets)[:, age]
    assert alone[young].tolist() == pytest.approx([9 / (3 * 5)] * 5)
    with pytest.raises(ValueError, match="sources"):
        readers.row_weights(targets, sources[:3])


def test_a_source_column_reaches_the_samples(tmp_path):
    from mmdemo.data.loaders import read_folder

    (tmp_path / "metadata.csv").write_text(
        "id,split,person_id,image,text,audio,Male,age_group,emotion,hair_color,Eyeglasses,Beard,"
        "Wearing_Hat,skin_tone,text_mentions,source\n"
        "a,train,a,,a woman,,0,,,,,,,,Male,UTKFace\n"
        "b,train,b,,a man,,1,,,,,,,,Male,\n"
    )
    assert [s.source for s in read_folder(tmp_path)] == ["UTKFace", ""]
