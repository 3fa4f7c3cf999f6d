"""The dataset contract (mmdemo.synth.contract): the generated tiny dataset meets it, and each kind
of broken folder is refused with a message that names the row or file and the problem."""

import csv
import re
import shutil

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from mmdemo.synth.contract import check_dataset, median_f0


def _rows(folder):
    with open(folder / "metadata.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _write_rows(folder, rows, columns=None):
    with open(folder / "metadata.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns or list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows({c: r[c] for c in writer.fieldnames} for r in rows)


@pytest.fixture(scope="module")
def small(tiny_data, tmp_path_factory):
    """The first ten rows of each split of the tiny dataset, with their files: quick to copy and
    to check, and every split-level rule still applies."""
    folder = tmp_path_factory.mktemp("contract") / "small"
    (folder / "images").mkdir(parents=True)
    (folder / "audio").mkdir()
    rows = []
    for split in ("train", "val", "test"):
        rows += [r for r in _rows(tiny_data) if r["split"] == split][:10]
    for r in rows:
        for col in ("image", "audio"):
            shutil.copy(tiny_data / r[col], folder / r[col])
    _write_rows(folder, rows)
    return folder


@pytest.fixture
def broken(small, tmp_path):
    """A fresh copy of the small folder to break."""
    return shutil.copytree(small, tmp_path / "broken")


def test_a_small_sound_folder_passes(small):  # the generated tiny set itself: test_datagen
    rows = _rows(small)
    assert {r["Male"] for r in rows} == {"0", "1"}  # both voices, so the pitch rule applies
    assert check_dataset(small) == []


def _drop_column(folder):
    rows = _rows(folder)
    _write_rows(folder, rows, [c for c in rows[0] if c != "emotion"])


def _set(column, value, row=0):
    def edit(folder):
        rows = _rows(folder)
        rows[row][column] = value
        _write_rows(folder, rows)

    return edit


def _remove_first(column):
    return lambda folder: (folder / _rows(folder)[0][column]).unlink()


def _rewrite_first_clip(rate, channels):
    def edit(folder):
        path = folder / _rows(folder)[0]["audio"]
        x, _ = sf.read(path, dtype="float32")
        sf.write(path, np.stack([x] * channels, axis=1) if channels > 1 else x[::2], rate, subtype="PCM_16")

    return edit


def _shrink_first_image(folder):
    path = folder / _rows(folder)[0]["image"]
    Image.open(path).resize((64, 64)).save(path)


def _truncate_first_image(folder):
    path = folder / _rows(folder)[0]["image"]
    path.write_bytes(path.read_bytes()[:200])


def _move_a_person(folder):
    """Puts one sample of a multi-sample person in another split."""
    rows = _rows(folder)
    first = next(i for i, r in enumerate(rows[1:], 1) if r["person_id"] == rows[i - 1]["person_id"])
    rows[first]["split"] = "val" if rows[first]["split"] != "val" else "train"
    _write_rows(folder, rows)


def _empty_the_test_split(folder):
    _write_rows(folder, [r for r in _rows(folder) if r["split"] != "test"])


def _contradict_the_description(folder):
    rows = _rows(folder)
    i = next(i for i, r in enumerate(rows) if "Male" in r["text_mentions"].split(";"))
    rows[i]["Male"] = "1" if rows[i]["Male"] == "0" else "0"
    _write_rows(folder, rows)


def _men_voices_for_women(folder):
    rows = _rows(folder)
    man = next(r for r in rows if r["Male"] == "1")
    for r in rows:
        if r["Male"] == "0":
            shutil.copy(folder / man["audio"], folder / r["audio"])


BROKEN = [
    ("no metadata", lambda f: (f / "metadata.csv").unlink(), r"has no metadata\.csv"),
    ("missing column", _drop_column, r"metadata\.csv lacks the columns emotion"),
    (
        "bad value",
        _set("emotion", "bored"),
        r"line 2 \(id '\d+'\): emotion='bored' is not one of neutral, happy, sad, angry, surprised",
    ),
    ("bad split", _set("split", "dev"), r"line 2 \(id '\d+'\): split 'dev' is not one of train, val, test"),
    (
        "duplicate id",
        _set("id", "000000", row=1),
        r"line 3 \(id '000000'\): id '000000' is used by an earlier",
    ),
    ("empty text", _set("text", " "), r"line 2 \(id '\d+'\): empty description"),
    (
        "text contradicts labels",
        _contradict_the_description,
        r"the description '.+' states Male=(\d) but the row has Male=(?!\1)\d",
    ),
    ("bad voice", _set("voice_variant", "x9"), r"line 2 \(id '\d+'\): voice variant 'x9' is not one of"),
    ("missing image", _remove_first("image"), r"images/\d+\.png: no such file"),
    ("missing clip", _remove_first("audio"), r"audio/\d+\.wav: no such file"),
    ("small image", _shrink_first_image, r"images/\d+\.png: 64x64 RGB; want 128x128 RGB"),
    ("corrupt image", _truncate_first_image, r"images/\d+\.png: not a readable image"),
    ("8 kHz clip", _rewrite_first_clip(8000, 1), r"audio/\d+\.wav: 8000 Hz mono; want 16000 Hz mono"),
    (
        "stereo clip",
        _rewrite_first_clip(16000, 2),
        r"audio/\d+\.wav: 16000 Hz 2 channels; want 16000 Hz mono",
    ),
    ("person in two splits", _move_a_person, r"1 person appears in more than one split \(e\.g\. p\d+\)"),
    ("empty split", _empty_the_test_split, r"the test split is empty"),
    ("genderless voices", _men_voices_for_women, r"voices do not carry gender: women's median F0 \d+ Hz"),
]


@pytest.mark.parametrize("breakage, pattern", [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN])
def test_a_broken_folder_is_refused_with_a_clear_message(broken, breakage, pattern):
    breakage(broken)
    problems = check_dataset(broken)
    assert any(re.search(pattern, p) for p in problems), problems


def test_a_value_never_generated_in_a_large_dataset(tiny_data, tmp_path):
    """Rows without files are allowed (a sample may lack a modality); 200+ rows with no gray
    hair at all mean the sampler lost a value."""
    rows = [{**r, "image": "", "audio": ""} for r in _rows(tiny_data) if r["hair_color"] != "gray"]
    assert len(rows) >= 200
    _write_rows(tmp_path, rows)
    assert check_dataset(tmp_path) == [f"hair_color: gray never generated in {len(rows)} rows"]


def test_median_f0_of_a_pure_tone_and_of_silence():
    t = np.arange(16000) / 16000
    assert median_f0((0.3 * np.sin(2 * np.pi * 200 * t)).astype(np.float32)) == pytest.approx(200, rel=0.02)
    assert np.isnan(median_f0(np.zeros(16000, np.float32)))
