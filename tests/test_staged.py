"""Training in stages (`train-staged`): synthetic people first, then a fine-tune on synthetic and
real people with the frozen features, then the readers, the face decoder and the calibration."""

import csv
import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from mmdemo.cli import main
from mmdemo.data.loaders import load_audio, open_samples
from mmdemo.synth.contract import REQUIRED_COLUMNS


def _real_like(tiny_data, root):
    """A real set's layout made of tiny synthetic files: face-only rows of one source, voice-only rows
    of another, each with a train and a val split and only the labels such sources carry."""
    root.mkdir()
    (root / "images").mkdir()
    (root / "audio").mkdir()
    rows = []
    for i, s in enumerate(open_samples(tiny_data, "all")[:120]):
        split = "val" if i % 4 == 0 else "train"
        if i % 2:
            shutil.copy(s.image, root / "images" / f"f{i}.png")
            labels = {"Male": s.attrs["Male"], "age_group": s.attrs["age_group"]}
            rows.append(
                {"id": f"f{i}", "split": split, "image": f"images/f{i}.png", "source": "faces", **labels}
            )
        else:
            shutil.copy(s.audio, root / "audio" / f"v{i}.wav")
            labels = {"Male": s.attrs["Male"]}
            rows.append(
                {"id": f"v{i}", "split": split, "audio": f"audio/v{i}.wav", "source": "voices", **labels}
            )
    with open(root / "metadata.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, [*REQUIRED_COLUMNS, "source"], restval="")
        writer.writeheader()
        for r in rows:
            writer.writerow({"person_id": r["id"], **r})
    return root


@pytest.fixture(scope="module")
def synth(tiny_data, tmp_path_factory):
    """The tiny synthetic set in a folder of its own: the fine-tune fills its feature cache, which the
    shared `tiny_data` must not gain (other tests copy that folder and count what its cache holds)."""
    copy = tmp_path_factory.mktemp("synth") / "tiny"
    shutil.copytree(tiny_data, copy, ignore=shutil.ignore_patterns("features"))
    return copy


@pytest.fixture(scope="module")
def staged(synth, tmp_path_factory):
    from mmdemo.evaluation.calibrate import calibrate_checkpoint
    from mmdemo.training.staged import Stages, train_staged

    root = tmp_path_factory.mktemp("staged")
    real = _real_like(synth, root / "real")
    out = root / "run"
    stages = Stages(steps=12, fine_tune_steps=6, face_decoder_steps=8, pixel_epochs=1)
    calibrate = lambda checkpoint, data: calibrate_checkpoint(checkpoint, data, device="cpu")  # noqa: E731
    options = dict(preset="tiny", stages=stages, calibrate=calibrate, device="cpu", progress=False)
    record = train_staged([synth], [synth, real], out, **options)
    return out, record, real, options


@pytest.mark.slow
def test_a_staged_run_leaves_one_finished_checkpoint_that_reads_real_features(staged, synth):
    from mmdemo.inference.model import load_model

    out, record, _, _ = staged
    assert list(record["seconds"]) == [
        "1 synthetic steps",
        "2 fine-tune steps with the frozen features",
        "3 readers",
        "4 face decoder",
        "5 calibration",
    ]
    assert json.loads((out / "stages.json").read_text()) == record
    assert record["stages"]["steps"] == 12 and record["stages"]["face_decoder_steps"] == 8
    assert not (out / "stage-synthetic").exists()  # the first stage's checkpoint is gone
    for name in ("model.safetensors", "readers.json", "face_decoder.json", "calibration.safetensors"):
        assert (out / name).is_file(), name
    config = json.loads((out / "config.json").read_text())
    assert config["init"] == f"stage 1 of this run: 12 steps on {synth}"  # not the deleted folder
    assert config["train"]["steps"] == 6 and config["train"]["real_features"]
    model = config["model"]
    assert model["face_feature_dim"] and model["speaker_feature_dim"]
    assert model["latent_gates"] and model["pixel_reader"] and model["private_dim"]
    person = open_samples(synth, "test")[0]
    face = np.asarray(Image.open(person.image).convert("RGB"))
    result = load_model(out, device="cpu").analyze(face, person.text, (16000, load_audio(person)))
    assert result.image.shape == (64, 64, 3) and set(result.same_person) == {
        "image-text",
        "image-voice",
        "text-voice",
    }


@pytest.mark.slow
def test_faces_are_read_with_every_dataset_alike_and_voices_by_value_only(staged):
    """The bundled recipe: face readers and pixel reader weigh each dataset alike within a value; the
    voice readers, refitted after them, weigh rows by value only."""
    out, _, real, _ = staged
    readers = json.loads((out / "readers.json").read_text())
    assert readers["readers"] == ["face_features"] and readers["sources_balanced"]
    assert readers["pixel_reader"]["train_faces"] > 0 and readers["pixel_reader"]["epochs"] == 1
    (voices,) = readers["refits"]
    assert voices["readers"] == ["speaker_features"] and not voices["sources_balanced"]
    data = json.loads((out / "training_data.json").read_text())
    assert [f["path"] for f in data["readers"]["folders"]][-1] == str(real)


@pytest.mark.slow
def test_the_fine_tune_moves_the_first_stages_weights(staged, synth, tmp_path):
    """Stage 2 starts from stage 1's network (a fine-tune, not a fresh run): retraining stage 1 alone
    with the same seed gives the weights the fine-tune started from, and they differ from the end."""
    from safetensors.torch import load_file

    from mmdemo.training.loop import train

    out, _, _, _ = staged
    first = train(synth, tmp_path / "first", preset="tiny", steps=12, device="cpu", progress=False)
    start, end = load_file(first / "model.safetensors"), load_file(out / "model.safetensors")
    shared = [k for k in start if k in end and start[k].shape == end[k].shape and k.startswith("blocks.")]
    assert shared
    distance = sum(float((start[k] - end[k]).abs().sum()) for k in shared)
    total = sum(float(start[k].abs().sum()) for k in shared)
    assert 0 < distance < 0.5 * total  # moved, but from there: a fresh network would be everywhere else


def test_staged_training_refuses_a_folder_that_holds_a_checkpoint(tiny_checkpoint, tiny_data, capsys):
    code = main(
        [
            "train-staged",
            "--preset",
            "tiny",
            "--data",
            str(tiny_data),
            "--fine-tune-data",
            str(tiny_data),
            "--out",
            str(tiny_checkpoint),
        ]
    )
    assert code == 2
    assert "is not empty; choose another --out, or pass --resume" in capsys.readouterr().err


@pytest.mark.slow
def test_a_stopped_staged_run_resumes_after_the_stages_it_finished(staged, synth, tmp_path):
    """Stopped in its last stage, a staged run resumed with --resume redoes only that stage, and ends
    where an uninterrupted run of the same recipe ends."""
    from safetensors.torch import load_file

    from mmdemo.training.staged import Stages, train_staged

    out, finished, real, options = staged
    stopped = tmp_path / "run"
    args = ([synth], [synth, real], stopped)

    def stopped_here(*_):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_staged(*args, **{**options, "calibrate": stopped_here})
    before = json.loads((stopped / "stages.json").read_text())["seconds"]
    assert list(before) == list(finished["seconds"])[:4]  # four stages done, the calibration not
    weights = load_file(stopped / "model.safetensors")
    with pytest.raises(ValueError, match="is not empty; choose another --out, or pass --resume"):
        train_staged(*args, **options)
    record = train_staged(*args, resume=True, **options)
    assert {k: record["seconds"][k] for k in before} == before  # not redone
    assert (stopped / "calibration.safetensors").is_file() and not (stopped / "stage-synthetic").exists()
    again = load_file(stopped / "model.safetensors")
    assert all(torch.equal(weights[k], again[k]) for k in weights)  # the calibration moves no weight
    end = load_file(out / "model.safetensors")  # and the run is the uninterrupted one's
    assert set(end) == set(again) and all(torch.allclose(end[k], again[k], atol=1e-5) for k in end)
    other = Stages(steps=13, fine_tune_steps=6, face_decoder_steps=8, pixel_epochs=1)
    with pytest.raises(ValueError, match="other folders or stage lengths"):
        train_staged(*args, **{**options, "stages": other}, resume=True)


@pytest.mark.parametrize("flag", ["--steps", "--pixel-epochs", "--fine-tune-steps", "--face-decoder-steps"])
def test_staged_training_refuses_negative_lengths_before_reading_anything(flag, tiny_data, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(
        [
            "train-staged",
            "--data",
            str(tiny_data),
            "--fine-tune-data",
            str(tiny_data),
            "--out",
            str(out),
            flag,
            "-1",
        ]
    )
    assert code == 2
    assert f"{flag} must be" in capsys.readouterr().err
    assert not out.exists()
