"""The pixel reader: a CNN on the face whose logits join the attribute readers' evidence, and its fit."""

import csv
import json
import shutil

import cv2
import numpy as np
import pytest
import torch

from mmdemo.data.loaders import load_image, open_samples
from mmdemo.model.network import PIXEL_EVIDENCE, FusionAutoencoder, ModelConfig
from mmdemo.schema import ATTRIBUTE_SIZES, ATTRIBUTES, NAMES
from mmdemo.synth.contract import REQUIRED_COLUMNS
from mmdemo.training import readers
from mmdemo.training.refit import with_pixel_reader


def _net(**fields) -> FusionAutoencoder:
    torch.manual_seed(0)
    cfg = ModelConfig(dim=32, depth=1, heads=2, latent_dim=8, decoder_channels=16, text_hidden=16, **fields)
    return FusionAutoencoder(cfg).eval()


def _image_and_text(b: int = 3) -> dict:
    return {
        "image": torch.rand(b, 3, 64, 64),
        "text_states": torch.randn(b, 5, 384),
        "text_mask": torch.ones(b, 5, dtype=torch.bool),
    }


def test_an_added_pixel_reader_changes_nothing_until_it_is_trained():
    net = _net(attribute_readers=True, face_feature_dim=8)
    inputs = {**_image_and_text(), "face_features": torch.randn(3, 8)}
    before = net.encode(inputs)
    wider = with_pixel_reader(net).eval()
    after = wider.encode(inputs)
    assert wider.config.pixel_reader and not net.config.pixel_reader
    assert torch.equal(before.mu, after.mu)
    assert torch.allclose(before.evidence, after.evidence)


def test_pixel_evidence_goes_with_the_face_and_only_for_what_a_face_shows():
    net = _net(pixel_reader=True)
    torch.nn.init.normal_(net.pixel_reader.head[-1].weight)
    inputs = _image_and_text()
    tokens = net.tokens(inputs)
    assert PIXEL_EVIDENCE in tokens
    text_only = net.fuse(net.subset(tokens, ["text"]))
    assert not text_only.evidence_rows.any() and text_only.evidence.abs().max() == 0
    with_face = net.fuse(net.subset(tokens, ["image", "text"]))
    assert with_face.evidence_rows.all()
    for a, part in zip(ATTRIBUTES, with_face.evidence.split(ATTRIBUTE_SIZES, -1)):
        assert (part.abs().max() > 0) == ("image" in a.observable_from), a.name
    # the fused latent does not see the pixel reader: it only reads attributes
    plain = _net()
    plain.load_state_dict({k: v for k, v in net.state_dict().items() if not k.startswith("pixel_reader.")})
    assert torch.allclose(plain.fuse(plain.subset(plain.tokens(inputs), ["image"])).mu,
                          net.fuse(net.subset(tokens, ["image"])).mu)  # fmt: skip


def _glasses_folder(tiny_data, root, n: int = 72):
    """Faces whose glasses label is a dark band across the eyes drawn on half of them; a third of
    the people in val."""
    faces = [s for s in open_samples(tiny_data, "all") if s.image is not None][:n]
    (root / "images").mkdir(parents=True)
    rows = []
    for i, s in enumerate(faces):
        image = load_image(s)
        glasses = i % 2
        if glasses:
            image[22:30, 10:54] = 20
        cv2.imwrite(str(root / "images" / f"f{i}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        split = "val" if i % 3 == 0 else "train"
        rows.append({"id": f"f{i}", "split": split, "person_id": f"f{i}", "image": f"images/f{i}.png",
                     "Eyeglasses": glasses})  # fmt: skip
    with open(root / "metadata.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, REQUIRED_COLUMNS, restval="")
        writer.writeheader()
        writer.writerows(rows)
    return root


def test_fitting_the_pixel_reader_learns_what_the_pixels_show(tiny_data, tmp_path, monkeypatch):
    from mmdemo.training import pixel_fit

    folder = _glasses_folder(tiny_data, tmp_path / "glasses")
    # the app's framing is covered by test_cached_crops_are_the_apps_crops; here, no detectors
    monkeypatch.setattr(
        pixel_fit, "cached_face_crops", lambda samples, size: np.stack([load_image(s) for s in samples])
    )
    net = _net(pixel_reader=True)
    record = pixel_fit.fit_pixel_reader(net, [folder], epochs=10, batch_size=8, lr=3e-3)
    assert record["train_faces"] == 48 and record["val_rows"] == 24
    assert record["val_balanced_accuracy_without"]["Eyeglasses"] == pytest.approx(0.5, abs=0.1)
    assert record["val_balanced_accuracy"]["Eyeglasses"] >= 0.9
    assert len(record["history"]) == 10 and 1 <= record["best_epoch"] <= 10
    json.dumps(record)  # stored in readers.json as it is
    # installed: the network now reads glasses from the face, and not from a description
    val = [s for s in open_samples(folder, "val")]
    rows = readers.read_rows(net, val)
    logits = rows.offsets.split(ATTRIBUTE_SIZES, -1)[NAMES.index("Eyeglasses")]
    truth = rows.targets[:, NAMES.index("Eyeglasses")]
    assert (logits.argmax(1) == truth).float().mean() >= 0.9


def test_cached_crops_are_the_apps_crops(tiny_data, tmp_path):
    from mmdemo.data.features import FeatureTable, cached_face_crops
    from mmdemo.data.preprocess import prepare_image

    copy = tmp_path / "data"
    shutil.copytree(tiny_data, copy)
    mine = [s for s in open_samples(copy, "all") if s.image is not None][:4]
    FeatureTable(copy, "face").update(mine)
    assert len(FeatureTable(copy, "face").framing) == 4  # kept beside the features
    app = np.stack(
        [prepare_image(cv2.cvtColor(cv2.imread(str(s.image)), cv2.COLOR_BGR2RGB)).crop for s in mine]
    )
    assert np.array_equal(cached_face_crops(mine, 64), app)
    cv2.imwrite(str(mine[0].image), np.zeros((64, 64, 3), np.uint8))  # a changed file is framed again
    assert np.array_equal(cached_face_crops(mine, 64)[0], prepare_image(np.zeros((64, 64, 3), np.uint8)).crop)
