"""The real-data manifest and its rebuild, against a fake mirror made here (no real photo or voice):
source layouts parsed into schema labels, held-out and duplicate files dropped, files copied from a
bare git mirror or downloaded at the pinned commit, SHA-256 and held-out checks refusing bad files,
and the result read back by the project's loaders. Also checks the committed manifest's rules."""

import csv
import importlib.util
import io
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
import soundfile as sf

from mmdemo.data import real, real_sources
from mmdemo.data.loaders import load_audio, load_image, open_samples

REPO = Path(__file__).resolve().parents[1]
FACES = "tester/faces"
HEADER = ["Male", "Eyeglasses", "No_Beard", "Wearing_Hat", "Young", "Black_Hair", "Blond_Hair", "Gray_Hair"]


def _jpg(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    return cv2.imencode(".jpg", rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))[1].tobytes()


def _wav(path: Path, seed: int) -> None:
    t = np.arange(8000) / 16000
    sf.write(path, 0.3 * np.sin(2 * np.pi * (180 + seed) * t), 16000, subtype="PCM_16")


def _wav_bytes(seed: int, seconds: float = 0.6) -> bytes:
    buf = io.BytesIO()
    t = np.arange(int(16000 * seconds)) / 16000
    sf.write(buf, 0.3 * np.sin(2 * np.pi * (150 + 10 * seed) * t), 16000, subtype="PCM_16", format="WAV")
    return buf.getvalue()


def _mp3_bytes(seed: int, seconds: float = 0.8) -> bytes:
    buf = io.BytesIO()
    t = np.arange(int(16000 * seconds)) / 16000
    sf.write(buf, (0.3 * np.sin(2 * np.pi * (120 + 15 * seed) * t)).astype(np.float32), 16000, format="MP3")
    return buf.getvalue()


CV_HEADER = "client_id\tpath\tsentence\tup_votes\tdown_votes\tage\tgender\taccent\tlocale\tsegment\n"


def _files() -> dict[str, bytes]:
    """One repository holding each source's layout, including files the scans must skip."""
    files = {
        "crop_part1/25_0_0_20170116174525125.jpg.chip.jpg": _jpg(1),  # man, young, white
        "crop_part1/47_1_1_20170116174525126.jpg.chip.jpg": _jpg(2),  # woman, adult, black
        "crop_part1/70_0_2_20170116174525127.jpg.chip.jpg": _jpg(3),  # man, senior, asian
        "crop_part1/9_1_0_20170116174525128.jpg.chip.jpg": _jpg(4),  # a child: skipped
        "crop_part1/30_0_3_20170116174525129.jpg.chip.jpg": _jpg(1),  # same bytes as the first
        "fer/train/happy/Training_1.jpg": _jpg(5),
        "fer/train/surprise/Training_2.jpg": _jpg(6),
        "fer/train/disgust/Training_3.jpg": _jpg(7),  # no schema value: skipped
        "fer/test/sad/PublicTest_4.jpg": _jpg(8),
        "fer/test/sad/PrivateTest_5.jpg": _jpg(9),  # reserved: skipped
        "celeba/000005.jpg": _jpg(10),  # 000001-010000 reserved: skipped
        "celeba/010001.jpg": _jpg(11),
        "celeba/010002.jpg": _jpg(12),
        "celeba/030001.jpg": _jpg(13),  # past the attribute file: glasses and beard from the bits
        "celeba/030002.jpg": _jpg(14),  # in no label table: skipped
        "urdu/Angry/SM1_F1_A01.wav": _wav_bytes(1),  # man 1, angry
        "urdu/Sad/SF2_F3_S05.wav": _wav_bytes(2),  # woman 2, sad
        "urdu/Happy/SM1_F2_N01.wav": _wav_bytes(3),  # name says neutral, folder happy: skipped
        "urdu/Fear/SM3_F1_F01.wav": _wav_bytes(4),  # no such folder: skipped
        "emovo/f1/gio-f1-b1.wav": _wav_bytes(5),  # woman, joy -> happy
        "emovo/m2/sor-m2-n3.wav": _wav_bytes(6),  # man, surprise -> surprised
        "emovo/m2/pau-m2-b1.wav": _wav_bytes(7),  # fear: skipped
        "emovo/f1/dis-f1-l2.wav": _wav_bytes(8),  # disgust: skipped
        "emovo/f1/neu-m1-b1.wav": _wav_bytes(9),  # actor differs from its folder: skipped
    }
    # Common Voice: clips/ beside the tables that label them (two releases' gender spellings)
    files.update(
        {
            "cv/en/clips/common_voice_en_1.mp3": _mp3_bytes(1),  # twenties, female -> young woman
            "cv/en/clips/common_voice_en_2.mp3": _mp3_bytes(2),  # same speaker, sixties in another table
            "cv/en/clips/common_voice_en_3.mp3": _mp3_bytes(3),  # fifties straddles 55: gender only
            "cv/en/clips/common_voice_en_4.mp3": _mp3_bytes(4),  # teens, no gender: skipped
            "cv/en/clips/common_voice_en_5.mp3": _mp3_bytes(5),  # in no table: skipped
            "cv/de/clips/common_voice_de_1.mp3": _mp3_bytes(6),  # fourties, male_masculine -> adult man
            "cv/en/validated.tsv": (
                CV_HEADER + "aaa\tcommon_voice_en_1.mp3\tHi.\t2\t0\ttwenties\tfemale\t\ten\t\n"
                "bbb\tcommon_voice_en_3.mp3\tHi.\t2\t0\tfifties\tmale\t\ten\t\n"
                "ccc\tcommon_voice_en_4.mp3\tHi.\t2\t0\tteens\t\t\ten\t\n"
            ).encode(),
            "cv/en/other.tsv": (
                CV_HEADER + "aaa\tcommon_voice_en_2.mp3\tHi.\t0\t0\tsixties\tfemale\t\ten\t\n"
            ).encode(),
            "cv/de/validated.tsv": (
                CV_HEADER + "ddd\tcommon_voice_de_1.mp3\tHallo.\t2\t0\tfourties\tmale_masculine\t\tde\t\n"
            ).encode(),
            # the Speech Accent Archive: one recording a speaker, ages in years
            "saa/english1.mp3": _mp3_bytes(7),  # 62, male -> senior man
            "saa/more/spanish3.mp3": _mp3_bytes(8),  # 24, female -> young woman
            "saa/mandarin2.mp3": _mp3_bytes(9),  # 15: gender only
            "saa/arabic9.mp3": _mp3_bytes(10),  # marked missing: skipped
            "saa/speakers_all.csv": (
                b"age,age_onset,birthplace,filename,native_language,sex,speakerid,country,file_missing?,,,\n"
                b'62,0,"ohio, usa",english1,english,male,11,usa,FALSE,,,\n'
                b'24,7,"madrid, spain",spanish3,spanish,female,12,spain,FALSE,,,\n'
                b'15,3,"beijing, china",mandarin2,mandarin,female,13,china,FALSE,,,\n'
                b'40,3,"cairo, egypt",arabic9,arabic,male,14,egypt,TRUE,,,\n'
            ),
        }
    )
    flags = {"000005.jpg": [1] * 8, "010001.jpg": [1, 1, -1, -1, 1, 1, -1, -1], "010002.jpg": [-1] * 8}
    lines = [str(len(flags)), " ".join(HEADER)] + [f"{k} " + " ".join(map(str, v)) for k, v in flags.items()]
    files["list_attr_celeba.txt"] = "\n".join(lines).encode()
    # five-bit labels (Bangs, Eyeglasses, beard, Smiling, ...); 010001's disagree with the official
    # flags above on purpose: the official attribute file wins where it covers an image
    files["celeba/train_full.txt"] = b"030001.jpg;01100\n010001.jpg;00000\n000005.jpg;11111\n"
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:  # label tables are often zipped
        z.writestr("list_attr_celeba.txt", files["list_attr_celeba.txt"])
    files["tables/list_attr_celeba.txt.zip"] = archive.getvalue()
    files["identity_CelebA.txt"] = b"000005.jpg 7\n010001.jpg 7\n010002.jpg 7\n030001.jpg 12\n"
    return files


@pytest.fixture
def mirror(tmp_path):
    """(mirrors folder, commit) of a bare repository `tester/faces` laid out as fetched mirrors are."""
    work = tmp_path / "work"
    for rel, data in _files().items():
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        (work / rel).write_bytes(data)
    (work / "voices").mkdir()
    for i in range(3):
        _wav(work / "voices" / f"spk{i}_take.wav", i * 40)
    git_dir = tmp_path / "mirrors" / FACES.replace("/", "+") / "repo"
    git = ["git", f"--git-dir={git_dir}", f"--work-tree={work}", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "--bare", "-q", str(git_dir)], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "fixture"], check=True)
    commit = subprocess.run(
        [*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()
    return tmp_path / "mirrors", commit, work


def _candidates(mirrors: Path, commit: str) -> list[real.Candidate]:
    paths = real_sources.list_tree(real.find_git_dir(mirrors, FACES), commit)
    attrs = real_sources.merge_celeba_labels(
        real_sources.parse_celeba_bits(_files()["celeba/train_full.txt"].decode()),
        real_sources.parse_celeba_attributes(_files()["list_attr_celeba.txt"].decode()),
    )
    identities = real_sources.parse_celeba_identities(_files()["identity_CelebA.txt"].decode())
    voices = [
        real.Candidate("TestVoices", FACES, commit, p, "voice", {"Male": "1", "emotion": "angry"}, p[7:11])
        for p in paths
        if p.startswith("voices/")
    ]
    cv_tables = {
        f"cv/{lang}/clips": {
            name: found
            for table in tables
            for name, found in real_sources.parse_common_voice(
                _files()[f"cv/{lang}/{table}"].decode()
            ).items()
        }
        for lang, tables in (("en", ("validated.tsv", "other.tsv")), ("de", ("validated.tsv",)))
    }
    speakers = real_sources.parse_accent_archive(_files()["saa/speakers_all.csv"].decode())
    return [
        *real_sources.scan_common_voice(paths, FACES, commit, "cv/", cv_tables),
        *real_sources.scan_accent_archive(paths, FACES, commit, "saa/", speakers),
        *real_sources.scan_utkface(paths, FACES, commit, "crop_part1/"),
        *real_sources.scan_fer(paths, FACES, commit, "fer/"),
        *real_sources.scan_celeba(paths, FACES, commit, "celeba/", attrs, identities),
        *real_sources.scan_urdu(paths, FACES, commit, "urdu/"),
        *real_sources.scan_emovo(paths, FACES, commit, "emovo/"),
        *voices,
    ]


def _manifest(tmp_path: Path, mirrors: Path, commit: str, heldout=frozenset()) -> tuple[Path, list[dict]]:
    rows, dropped = real.make_manifest(
        _candidates(mirrors, commit), mirrors, lambda c: "test", heldout=heldout
    )
    path = tmp_path / "real.csv"
    real.write_manifest(path, rows)
    return path, rows


def test_scans_map_each_source_onto_the_schema(mirror):
    mirrors, commit, _ = mirror
    by_path = {c.path: c for c in _candidates(mirrors, commit)}
    utk = by_path["crop_part1/25_0_0_20170116174525125.jpg.chip.jpg"]
    assert utk.labels == {"Male": "1", "age_group": "young"} and utk.group == "white"
    assert by_path["crop_part1/47_1_1_20170116174525126.jpg.chip.jpg"].labels == {
        "Male": "0",
        "age_group": "adult",
    }
    assert by_path["crop_part1/70_0_2_20170116174525127.jpg.chip.jpg"].labels["age_group"] == "senior"
    assert by_path["fer/train/surprise/Training_2.jpg"].labels == {"emotion": "surprised"}
    assert by_path["celeba/010001.jpg"].labels == {
        "Male": "1",
        "Eyeglasses": "1",
        "Beard": "1",
        "Wearing_Hat": "0",
        "age_group": "young",
        "hair_color": "black",
    }
    # not young says nothing certain about age; no hair colour marked says nothing about hair
    assert "age_group" not in by_path["celeba/010002.jpg"].labels
    assert "hair_color" not in by_path["celeba/010002.jpg"].labels
    skipped = ("9_1_0", "disgust", "PrivateTest", "000005")
    assert not [p for p in by_path if any(s in p for s in skipped)]


def test_celeba_labels_from_bits_and_people_from_identities(mirror):
    mirrors, commit, _ = mirror
    celeba = {c.path: c for c in _candidates(mirrors, commit) if c.source == "CelebA"}
    assert set(celeba) == {"celeba/010001.jpg", "celeba/010002.jpg", "celeba/030001.jpg"}
    assert celeba["celeba/030001.jpg"].labels == {"Eyeglasses": "1", "Beard": "1"}
    assert celeba["celeba/010001.jpg"].labels["Eyeglasses"] == "1"  # the official flag, not the bit
    # one celebrity's photos are one person, so they share a split
    assert celeba["celeba/010001.jpg"].person_id == celeba["celeba/010002.jpg"].person_id == "celeba:id7"
    assert celeba["celeba/030001.jpg"].person_id == "celeba:id12"
    # without the identity file each image is its own person
    attrs = real_sources.parse_celeba_bits(_files()["celeba/train_full.txt"].decode())
    alone = list(real_sources.scan_celeba(["c/030001.jpg", "c/000005.jpg"], FACES, commit, "c/", attrs))
    assert [c.person_id for c in alone] == ["celeba:030001"]


def test_speech_scans_map_gender_emotion_and_speaker(mirror):
    mirrors, commit, _ = mirror
    by_path = {c.path: c for c in _candidates(mirrors, commit) if c.source in ("URDU", "EMOVO")}
    assert set(by_path) == {
        "urdu/Angry/SM1_F1_A01.wav",
        "urdu/Sad/SF2_F3_S05.wav",
        "emovo/f1/gio-f1-b1.wav",
        "emovo/m2/sor-m2-n3.wav",
    }
    urdu_man, urdu_woman = by_path["urdu/Angry/SM1_F1_A01.wav"], by_path["urdu/Sad/SF2_F3_S05.wav"]
    assert urdu_man.labels == {"Male": "1", "emotion": "angry"} and urdu_man.person_id == "urdu:SM1"
    assert urdu_woman.labels == {"Male": "0", "emotion": "sad"} and urdu_woman.person_id == "urdu:SF2"
    assert by_path["emovo/f1/gio-f1-b1.wav"].labels == {"Male": "0", "emotion": "happy"}
    emovo_man = by_path["emovo/m2/sor-m2-n3.wav"]
    assert emovo_man.labels == {"Male": "1", "emotion": "surprised"} and emovo_man.person_id == "emovo:m2"
    assert all(c.modality == "voice" for c in by_path.values())


def test_common_voice_and_accent_archive_give_voices_an_age(mirror):
    """Self-reported ages map onto the schema's groups; decades across a group boundary, under-18s
    and recordings marked missing carry no age; a speaker is one person across tables."""
    mirrors, commit, _ = mirror
    found = {
        c.path: c for c in _candidates(mirrors, commit) if c.source in ("CommonVoice", "SpeechAccentArchive")
    }
    labels = {path.split("/", 1)[1]: c.labels for path, c in found.items()}
    assert labels == {
        "en/clips/common_voice_en_1.mp3": {"age_group": "young", "Male": "0"},
        "en/clips/common_voice_en_2.mp3": {"age_group": "senior", "Male": "0"},
        "en/clips/common_voice_en_3.mp3": {"Male": "1"},
        "de/clips/common_voice_de_1.mp3": {"age_group": "adult", "Male": "1"},
        "english1.mp3": {"Male": "1", "age_group": "senior"},
        "more/spanish3.mp3": {"Male": "0", "age_group": "young"},
        "mandarin2.mp3": {"Male": "0"},
    }
    assert all(c.modality == "voice" for c in found.values())
    assert (
        found["cv/en/clips/common_voice_en_1.mp3"].person_id
        == found["cv/en/clips/common_voice_en_2.mp3"].person_id
    )
    assert found["saa/english1.mp3"].person_id == "saa:11"


def test_a_speakers_clips_share_one_split(mirror):
    """Every clip of one speaker carries the speaker as person_id, so the split keeps them together."""
    mirrors, commit, _ = mirror
    rows, _ = real.make_manifest(_candidates(mirrors, commit), mirrors, lambda c: "test", heldout=frozenset())
    speakers = {r["person_id"] for r in rows if r["source"] in ("URDU", "EMOVO")}
    assert speakers == {"urdu:SM1", "urdu:SF2", "emovo:f1", "emovo:m2"}
    for r in rows:
        assert r["split"] == real.assign_split(r["person_id"])


def test_manifest_drops_held_out_and_duplicate_files(mirror, tmp_path):
    mirrors, commit, work = mirror
    banned = real.sha256_of((work / "fer/train/happy/Training_1.jpg").read_bytes())
    rows, dropped = real.make_manifest(
        _candidates(mirrors, commit), mirrors, lambda c: "test", heldout=frozenset({banned})
    )
    paths = {r["path"] for r in rows}
    assert "fer/train/happy/Training_1.jpg" not in paths
    assert "crop_part1/30_0_3_20170116174525129.jpg.chip.jpg" not in paths  # duplicate bytes
    assert dropped[("FER2013", "held-out")] == 1 and dropped[("UTKFace", "duplicate")] == 1
    assert all(r["sha256"] != banned for r in rows)


def test_build_copies_verifies_and_loads(mirror, tmp_path):
    mirrors, commit, work = mirror
    manifest, rows = _manifest(tmp_path, mirrors, commit)
    out = real.build_real_set(manifest, tmp_path / "out", mirrors, heldout=[])
    with open(out / "metadata.csv", newline="") as f:
        meta = {m["origin"].split(":", 1)[1]: m for m in csv.DictReader(f)}
    for row in rows:  # every file byte-identical to the mirror's, in the right folder
        m = meta[row["path"]]
        rel = m["image"] or m["audio"]
        assert (out / rel).read_bytes() == (work / row["path"]).read_bytes()
        assert m["source"] == row["source"] and m["licence"] == "test" and m["group"] == row["group"]
    samples = {s.id: s for s in open_samples(out)}
    assert len(samples) == len(rows) and {s.split for s in samples.values()} <= {"train", "val"}
    faces = [s for s in samples.values() if s.image]
    voices = [s for s in samples.values() if s.audio]
    assert all(s.audio is None and s.text is None for s in faces)
    assert len(voices) == 14 and all(s.image is None for s in voices)
    acted = [s for s in voices if not s.id.startswith(("commonvoice-", "speechaccentarchive-"))]
    assert len(acted) == 7 and all(s.attrs.get("emotion") for s in acted)
    aged = [s for s in voices if s.audio.suffix == ".mp3"]  # Common Voice and the archive ship mp3
    assert len(aged) == 7 and all(load_audio(s).shape[0] > 8000 for s in aged)
    assert sorted(s.attrs.get("age_group", "") for s in aged) == [
        "",
        "",
        "adult",
        "senior",
        "senior",
        "young",
        "young",
    ]
    assert all(s.attrs["emotion"] == "angry" for s in voices if s.id.startswith("testvoices-"))
    emovo = [s for s in voices if s.id.startswith("emovo-")]
    assert {s.attrs["emotion"] for s in emovo} == {"happy", "surprised"}
    assert load_image(faces[0]).shape == (64, 64, 3) and load_audio(voices[0]).ndim == 1
    utk = next(s for s in faces if s.attrs.get("age_group") == "senior")
    assert utk.attrs == {"Male": "1", "age_group": "senior"}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]  # no partial folder left


def test_a_changed_file_is_refused_and_nothing_is_written(mirror, tmp_path):
    mirrors, commit, _ = mirror
    manifest, rows = _manifest(tmp_path, mirrors, commit)
    rows[1]["sha256"] = "0" * 64
    real.write_manifest(manifest, rows)
    with pytest.raises(real.RealDataError, match="does not match"):
        real.build_real_set(manifest, tmp_path / "out", mirrors, heldout=[])
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]


def test_a_held_out_file_is_refused(mirror, tmp_path):
    mirrors, commit, _ = mirror
    manifest, rows = _manifest(tmp_path, mirrors, commit)
    listing = tmp_path / "sha256.txt"
    listing.write_text(f"{rows[0]['sha256']}  some/file.jpg\n")
    with pytest.raises(real.RealDataError, match="held-out"):
        real.build_real_set(manifest, tmp_path / "out", mirrors, heldout=listing)
    assert not (tmp_path / "out").exists()


def test_without_a_mirror_files_are_downloaded_at_the_commit(mirror, tmp_path, monkeypatch):
    mirrors, commit, work = mirror
    manifest, rows = _manifest(tmp_path, mirrors, commit)
    served = tmp_path / "served" / FACES / commit  # stands in for the repository's raw view
    shutil.copytree(work, served)
    monkeypatch.setenv("MMDEMO_RAW_URL", (tmp_path / "served").as_uri() + "/{repo}/{commit}/{path}")
    out = real.build_real_set(manifest, tmp_path / "out", mirrors=None, heldout=[])
    assert len(open_samples(out)) == len(rows)
    with pytest.raises(real.RealDataError, match="downloads are off"):
        real.build_real_set(manifest, tmp_path / "out2", mirrors=None, heldout=[], allow_download=False)


def test_bad_manifest_rows_are_named(tmp_path, mirror):
    mirrors, commit, _ = mirror
    manifest, rows = _manifest(tmp_path, mirrors, commit)
    rows[0]["labels"] = "emotion=bored"
    real.write_manifest(manifest, rows)
    with pytest.raises(real.RealDataError, match=r"real.csv line \d+: emotion=.bored"):
        real.read_manifest(manifest)


def test_people_never_straddle_splits():
    ids = [f"p{i}" for i in range(2000)]
    splits = [real.assign_split(p) for p in ids]
    assert splits == [real.assign_split(p) for p in ids]  # stable
    assert 0.07 < splits.count("val") / len(ids) < 0.13


def test_the_committed_manifest_keeps_the_rules():
    """The committed manifest validates, never names held-out material, keeps each person in one
    split and carries no duplicate files."""
    rows = real.read_manifest(REPO / "data_manifests" / "real.csv")
    assert rows
    heldout = real.load_heldout(None)
    assert not [r for r in rows if r["sha256"] in heldout]
    banned_repos = {
        "bagashvilit/facial_recognition_bias",
        "Nikhil4902/CelebA_Dataset",
        "andrew-valentin/HumanFaceImageGenerator",
        "RecepTahirGunlu/Duygu-Tanima",
        "svengit1/GREENSTEM-celeb",
        "Rahul5430/Speech-Emotion-Recognition-System",
        "sylaschacko/voice-emotion-analysis",
        "yl4579/StarGANv2-VC",
        "yasaman999/SR",
        "pryyyynz/audio-for-Twi-TTS",
        "asnarana/ASRModels",
        "resemble-ai/Resemblyzer",
    }
    assert not [r for r in rows if r["repo"] in banned_repos]
    assert not [r for r in rows if "privatetest" in r["path"].lower()]
    # RAVDESS and EmoDB are reserved whole, from any repository (RAVDESS names: 03-01-05-01-02-01-12.wav)
    reserved = re.compile(
        r"ravdess|emodb|emo-db|actor_\d\d|(^|/)\d\d-\d\d-\d\d-\d\d-\d\d-\d\d-\d\d\.wav$", re.I
    )
    assert not [r for r in rows if reserved.search(r["path"])]
    assert all(r["person_id"] for r in rows if r["modality"] == "voice")
    celeba = [r for r in rows if r["source"] == "CelebA"]
    assert all(int(Path(r["path"]).stem) > 10_000 for r in celeba)
    split_of: dict[str, set] = {}
    for r in rows:
        split_of.setdefault(r["person_id"], set()).add(r["split"])
    assert all(len(s) == 1 for s in split_of.values())
    assert len({r["sha256"] for r in rows}) == len(rows)


def test_a_label_table_is_read_from_inside_a_zip_in_the_mirror(mirror):
    """The manifest step reads a zipped label table (the full CelebA attribute file is only public
    zipped) from the mirror at the pinned commit."""
    mirrors, commit, _ = mirror
    spec = importlib.util.spec_from_file_location("build_real_set", REPO / "scripts" / "build_real_set.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    text = script._read_text(
        mirrors, FACES, commit, "tables/list_attr_celeba.txt.zip", "list_attr_celeba.txt"
    )
    assert text == _files()["list_attr_celeba.txt"].decode()
    assert real_sources.parse_celeba_attributes(text)["010001.jpg"]["Wearing_Hat"] == "0"
