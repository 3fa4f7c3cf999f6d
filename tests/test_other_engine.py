"""The Festival voice set: its folder, what it leaves out, and that it never reads a reserved voice.

Festival itself is not installed for the tests: a stand-in synthesiser writes a short tone at a
Festival-like sample rate, a lower one for men, where `text2wave` would write the sentence."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from mmdemo.audio import read_audio
from mmdemo.data import other_engine
from mmdemo.data.loaders import open_samples
from mmdemo.data.real import training_data_record

REPO = Path(__file__).resolve().parents[1]
VOICES = ["czech_dita", "suo_fi_lj_diphone", "ked_diphone"]


def _tone(voice: str, sentence: str, out, stretch: float) -> None:
    rate = 22050
    t = np.arange(int(rate * 0.4 * stretch)) / rate
    pitch = 120.0 if other_engine.FESTIVAL_VOICES[voice] else 210.0
    sf.write(out, (0.3 * np.sin(2 * np.pi * pitch * t)).astype(np.float32), rate)


def _build(out, **kw):
    kw.setdefault("voices", VOICES)
    kw.setdefault("phrases", ["One sentence.", "Another one."])
    kw.setdefault("stretches", (0.9, 1.1))
    return other_engine.build_festival_set(
        out, synthesiser=_tone, provenance=lambda v: (f"festvox-{v}", "1.0"), **kw
    )


def test_each_voice_reads_each_phrase_at_each_rate_labelled_with_its_sex(tmp_path):
    folder = _build(tmp_path / "festival")
    samples = open_samples(folder)
    assert len(samples) == 3 * 2 * 2
    by_person = {}
    for s in samples:
        by_person.setdefault(s.person_id, set()).add(s.attrs["Male"])
        assert s.split == "train" and s.image is None and s.text is None
        assert set(s.attrs) == {"Male"}  # no age or emotion is claimed for a read sentence
        rate, wave = read_audio(folder / s.audio)
        assert rate == 22050 and wave.size > 0
    assert by_person == {
        "festival:czech_dita": {"0"},
        "festival:suo_fi_lj_diphone": {"0"},
        "festival:ked_diphone": {"1"},
    }


def test_a_left_out_voice_is_not_in_the_folder(tmp_path):
    folder = _build(tmp_path / "festival", leave_out=["suo_fi_lj_diphone"])
    assert {s.person_id for s in open_samples(folder)} == {"festival:czech_dita", "festival:ked_diphone"}


def test_the_model_card_lists_the_source_with_its_licence_and_packages(tmp_path):
    folder = _build(tmp_path / "festival")
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["sources"]["Festival"]["repos"] == sorted(f"festvox-{v}@1.0" for v in VOICES)
    record = training_data_record([folder])
    assert record["sources"]["Festival"]["files"] == 12
    assert record["sources"]["Festival"]["licence"] == [other_engine.LICENCE]


@pytest.mark.parametrize("voice", ["kal_diphone", "cmu_us_slt_arctic_hts", "kallpc16k"])
def test_the_held_out_check_s_voices_are_refused(tmp_path, voice):
    with pytest.raises(ValueError, match="reserved"):
        _build(tmp_path / "festival", voices=[voice])
    with pytest.raises(ValueError, match="reserved"):
        other_engine.synthesise(voice, "Hello.", tmp_path / "x.wav")
    assert not (tmp_path / "festival").exists() and not (tmp_path / "x.wav").exists()


def test_installed_voices_never_lists_a_reserved_one(tmp_path):
    for folder in ("english/kal_diphone", "english/cmu_us_slt_arctic_hts", "finnish/suo_fi_lj_diphone"):
        (tmp_path / folder).mkdir(parents=True)
    assert other_engine.installed_voices(tmp_path) == ["suo_fi_lj_diphone"]


def test_a_failed_build_leaves_nothing_behind_and_an_old_folder_intact(tmp_path):
    out = tmp_path / "festival"
    _build(out)
    calls = []

    def failing(voice, sentence, path, stretch):
        calls.append(voice)
        if len(calls) == 3:
            raise RuntimeError("text2wave failed")
        _tone(voice, sentence, path, stretch)

    with pytest.raises(RuntimeError):
        other_engine.build_festival_set(
            out,
            voices=VOICES,
            phrases=["One."],
            stretches=(1.0,),
            synthesiser=failing,
            provenance=lambda v: (v, "1"),
            overwrite=True,
        )
    assert len(open_samples(out)) == 12  # the earlier folder, whole
    assert [p.name for p in tmp_path.iterdir()] == ["festival"]


def test_no_voice_to_read_says_what_to_install(tmp_path):
    with pytest.raises(ValueError, match="apt-get install festival"):
        _build(tmp_path / "festival", voices=["czech_dita"], leave_out=["czech_dita"])


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_leave_one_out_fold_is_the_set_without_that_voice(tmp_path):
    """`check_other_engine --leave-one-out` refits on such a fold: every clip but the voice's."""
    full = _build(tmp_path / "festival")
    fold = _script("check_other_engine").without_voice(full, "ked_diphone", tmp_path / "fold")
    kept = open_samples(fold)
    assert {s.person_id for s in kept} == {"festival:czech_dita", "festival:suo_fi_lj_diphone"}
    assert len(kept) == 8 and all((fold / s.audio).is_file() for s in kept)
    assert len(open_samples(full)) == 12  # the full set is untouched


def test_building_with_no_voice_installed_says_what_to_install(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(other_engine, "VOICES_ROOT", tmp_path / "none")
    script = _script("build_other_engine_set")
    assert script.main(["--out", str(tmp_path / "festival")]) == 2
    assert "apt-get install festival" in capsys.readouterr().err
    assert not (tmp_path / "festival").exists()
