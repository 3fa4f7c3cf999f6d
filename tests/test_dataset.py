import csv
import shutil

import pytest
import torch
from celeba_fixture import write_celeba

from mmdemo.data.loaders import (
    DatasetError,
    MultimodalDataset,
    add_log_mel,
    collate,
    open_samples,
    read_celeba,
)
from mmdemo.schema import NAMES, UNKNOWN
from mmdemo.synth.descriptions import parse_description


def test_folder_samples_and_tensors(tiny_data):
    samples = open_samples(tiny_data)
    assert len(samples) >= 290
    assert {s.split for s in samples} == {"train", "val", "test"}
    ds = MultimodalDataset(open_samples(tiny_data, "train")[:8])
    item = ds[0]
    assert item["image"].shape == (3, 64, 64) and 0 <= item["image"].min() and item["image"].max() <= 1
    assert item["wave"].ndim == 1 and 0 < len(item["wave"]) <= 64000
    assert isinstance(item["text"], str) and (item["attrs"] >= 0).all()
    batch = add_log_mel(collate([ds[i] for i in range(8)]))
    assert batch["image"].shape == (8, 3, 64, 64) and batch["has_voice"].all()
    assert batch["mel"].shape[:1] == (8,) and batch["mel"].shape[2] == 64
    assert batch["mel_len"].max() == batch["mel"].shape[1]


def test_augmented_items_are_reproducible_and_differ_by_epoch(tiny_data):
    samples = open_samples(tiny_data, "train")[:4]
    a, b = MultimodalDataset(samples, augment=True, seed=1), MultimodalDataset(samples, augment=True, seed=1)
    assert torch.equal(a[0]["image"], b[0]["image"]) and torch.equal(a[0]["wave"], b[0]["wave"])
    b.epoch = 1
    assert not torch.equal(a[0]["image"], b[0]["image"])


def test_collate_with_missing_modalities(tiny_data):
    samples = open_samples(tiny_data, "train")[:3]
    samples[0].image = None
    samples[1].audio = None
    samples[2].text = None
    batch = add_log_mel(collate([MultimodalDataset(samples)[i] for i in range(3)]))
    assert batch["has_image"].tolist() == [False, True, True]
    assert batch["has_voice"].tolist() == [True, False, True]
    assert batch["has_text"].tolist() == [True, True, False] and batch["text"][2] is None
    assert batch["image"][0].abs().sum() == 0 and batch["mel_len"][1] == 0


def test_celeba_adapter(tmp_path):
    root = write_celeba(tmp_path / "celeba", n=12)
    samples = open_samples(root)
    assert len(samples) == 12 and samples[0].audio is None
    assert [s.split for s in samples].count("train") == 8 and [s.split for s in samples].count("test") == 2
    s = samples[3]  # 000004.jpg: female, young, smiling, no glasses, no hat, hair index 0 -> black
    assert s.attrs["Male"] == "0" and s.attrs["age_group"] == "young" and s.attrs["emotion"] == "happy"
    assert s.attrs["hair_color"] == "black" and "skin_tone" not in s.attrs
    assert parse_description(s.text) == {k: s.attrs[k] for k in s.mentions}
    item = MultimodalDataset(samples)[3]
    assert item["image"].shape == (3, 64, 64) and "wave" not in item
    assert item["attrs"][NAMES.index("skin_tone")] == UNKNOWN
    # without the partition file the split is a stable hash of the file name
    plain = write_celeba(tmp_path / "plain", n=12, partition=False)
    assert [s.split for s in read_celeba(plain)] == [s.split for s in read_celeba(plain)]


def _rewrite(root, edit):
    path = root / "metadata.csv"
    rows = list(csv.DictReader(open(path, newline="")))
    fields = list(rows[0])
    edit(rows, fields)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


@pytest.mark.parametrize(
    "edit, message",
    [
        (
            lambda rows, f: rows[4].update(image="images/missing.png"),
            r"line 6 .*image file 'images/missing.png' does not exist",
        ),
        (lambda rows, f: rows[2].update(emotion="bored"), r"line 4 .*emotion='bored' is not a known value"),
        (lambda rows, f: rows[1].update(split="holdout"), r"line 3 .*split 'holdout'"),
        (lambda rows, f: f.remove("emotion"), r"missing columns emotion"),
    ],
)
def test_loader_names_the_row_and_the_problem(tiny_data, tmp_path, edit, message):
    root = tmp_path / "copy"
    shutil.copytree(tiny_data, root)
    _rewrite(root, edit)
    with pytest.raises(DatasetError, match=message):
        open_samples(root)


def test_unreadable_files_are_named(tiny_data, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(tiny_data, root)
    samples = open_samples(root)
    samples[0].image.write_bytes(b"not a png")
    samples[0].audio.write_bytes(b"RIFF....garbage")
    ds = MultimodalDataset(samples)
    with pytest.raises(DatasetError, match=f"sample {samples[0].id}: cannot read image"):
        ds[0]
    samples[0].image = None
    with pytest.raises(DatasetError, match=f"sample {samples[0].id}"):
        ds[0]


def test_malformed_csv(tmp_path):
    (tmp_path / "metadata.csv").write_bytes(b"id,split\n\xff\xfe\x00garbage")
    with pytest.raises(DatasetError, match="malformed CSV|missing columns"):
        open_samples(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="holds no metadata.csv, no list_attr_celeba.txt and no images"):
        open_samples(tmp_path / "empty")
    with pytest.raises(DatasetError, match="not a folder"):
        open_samples(tmp_path / "nope")
