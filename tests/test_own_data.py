"""Your own data: the plain-folder layout, fine-tuning from a checkpoint on every layout (then served),
and embeddings out as Parquet and Embedding Projector files, read back and checked."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from celeba_fixture import write_celeba
from safetensors.torch import load_file

from mmdemo.data.loaders import MultimodalDataset, open_samples
from mmdemo.training.loop import train

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def plain_folder(tiny_data, tmp_path_factory):
    """Photos with same-name descriptions and voices where a user has them: some have only a photo,
    one has only a description, one lives in a subfolder."""
    root = tmp_path_factory.mktemp("plain") / "photos"
    (root / "holiday").mkdir(parents=True)
    samples = [s for s in open_samples(tiny_data) if s.image and s.text and s.audio][:24]
    for i, s in enumerate(samples):
        stem = root / ("holiday" if i == 0 else "") / f"person_{i:02d}"
        shutil.copy(s.image, stem.with_suffix(".jpg" if i % 3 == 0 else ".png"))
        if i % 2 == 0:
            stem.with_suffix(".txt").write_text(s.text)
        if i % 4 == 0:
            shutil.copy(s.audio, stem.with_suffix(".wav"))
    (root / "just_words.txt").write_text("A smiling old man with a gray beard.")
    (root / "notes.md").write_text("not a sample")
    return root


def test_plain_folder_samples(plain_folder):
    samples = {s.id: s for s in open_samples(plain_folder)}
    assert len(samples) == 25 and "holiday__person_00" in samples
    words = samples["just_words"]
    assert words.image is None and words.audio is None
    # read from what the text states ("gray" describes the beard here, not the hair)
    assert words.attrs == {"Male": "1", "age_group": "senior", "emotion": "happy", "Beard": "1"}
    assert set(words.mentions) == set(words.attrs)
    photo_only = samples["person_01"]
    assert photo_only.text is None and photo_only.attrs == {} and photo_only.crop == "face"
    assert {s.split for s in samples.values()} <= {"train", "val", "test"}
    assert [s.split for s in open_samples(plain_folder)] == [s.split for s in open_samples(plain_folder)]
    item = MultimodalDataset([photo_only])[0]
    assert item["image"].shape == (3, 64, 64) and "wave" not in item and "text" not in item


def test_an_empty_folder_is_refused_with_what_to_put_in_it(tmp_path):
    from mmdemo.data.loaders import DatasetError

    (tmp_path / "readme.md").write_text("nothing here")
    with pytest.raises(DatasetError, match="no images, descriptions"):
        open_samples(tmp_path)


def _changed(before: Path, after: Path) -> bool:
    a, b = load_file(before / "model.safetensors"), load_file(after / "model.safetensors")
    assert a.keys() == b.keys()
    return any(not np.allclose(a[k].numpy(), b[k].numpy()) for k in a)


@pytest.mark.parametrize("layout", ["folder", "celeba", "plain"])
def test_fine_tune_on_each_layout_then_serve(layout, tiny_data, tiny_app_checkpoint, plain_folder, tmp_path):
    data = {"folder": tiny_data, "celeba": write_celeba(tmp_path / "celeba", n=40), "plain": plain_folder}[
        layout
    ]
    out = train(
        data,
        tmp_path / "tuned",
        preset="tiny",
        steps=4,
        init=tiny_app_checkpoint,
        device="cpu",
        progress=False,
    )
    config = json.loads((out / "config.json").read_text())
    assert config["init"] == str(tiny_app_checkpoint)
    assert config["model"] == json.loads((tiny_app_checkpoint / "config.json").read_text())["model"]
    assert _changed(tiny_app_checkpoint, out)
    from mmdemo.inference.projection import build_gallery
    from mmdemo.serving.service import DemoService

    build_gallery(out, tiny_data, people=60, device="cpu", layout="pca")
    view = DemoService(out, "cpu").analyze(text="A sad young woman with glasses.")
    assert view.analysis.inputs == ("text",) and np.isfinite(view.coords["fused"]).all()


def test_init_from_a_folder_that_is_not_a_checkpoint_is_refused(tiny_data, tmp_path):
    from mmdemo.checkpoint import CheckpointError

    with pytest.raises(CheckpointError, match="not a checkpoint folder"):
        train(
            tiny_data,
            tmp_path / "x",
            preset="tiny",
            steps=2,
            init=tmp_path / "nope",
            device="cpu",
            progress=False,
        )


def test_embed_writes_parquet_and_projector_files(tiny_app_checkpoint, plain_folder, tmp_path):
    out, proj = tmp_path / "emb.parquet", tmp_path / "projector"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "mmdemo",
            "embed",
            "--checkpoint",
            str(tiny_app_checkpoint),
            "--data",
            str(plain_folder),
            "--out",
            str(out),
            "--projector",
            str(proj),
            "--quiet",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    table = pd.read_parquet(out)
    samples = open_samples(plain_folder)
    expected = sum(2 ** len([m for m in (s.image, s.text, s.audio) if m]) - 1 for s in samples)
    assert len(table) == expected and table["id"].nunique() == len(samples)
    full = table[table["id"] == "holiday__person_00"]  # photo + description + voice: 7 subsets
    assert sorted(full["subset"]) == sorted(
        ["image", "text", "voice", "image+text", "image+voice", "text+voice", "image+text+voice"]
    )
    assert np.stack(table["embedding"].to_numpy()).shape == (expected, 32)
    assert table[["x", "y"]].notna().all().all()
    assert set(table["predicted_emotion"]) <= {"neutral", "happy", "sad", "angry", "surprised"}
    vectors = np.loadtxt(proj / "vectors.tsv", delimiter="\t")
    assert np.allclose(vectors, np.stack(table["embedding"].to_numpy()), atol=1e-5)
    meta = (proj / "metadata.tsv").read_text().splitlines()
    assert len(meta) == expected + 1 and meta[0].split("\t")[:2] == ["id", "subset"]
    assert all(len(line.split("\t")) == len(meta[0].split("\t")) for line in meta)
    config = json.loads((proj / "projector_config.json").read_text())["embeddings"][0]
    tile = config["sprite"]["singleImageDim"][0]
    sprite = cv2.imread(str(proj / config["sprite"]["imagePath"]))
    side = int(np.ceil(np.sqrt(expected)))
    assert sprite.shape[:2] == (side * tile, side * tile) and config["tensorShape"] == [expected, 32]
    assert "tensor_path" in (proj / "projector_config.pbtxt").read_text()


def test_embed_refuses_a_wrong_output_name(tiny_app_checkpoint, tiny_data, tmp_path):
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "mmdemo",
            "embed",
            "--checkpoint",
            str(tiny_app_checkpoint),
            "--data",
            str(tiny_data),
            "--out",
            str(tmp_path / "emb.csv"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2 and "should end in .parquet" in run.stderr and "Traceback" not in run.stderr
