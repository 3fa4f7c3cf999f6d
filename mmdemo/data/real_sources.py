"""How each public source's layout becomes schema labels: one scan per source.

A scan takes the file paths of a mirrored repository at a pinned commit (`list_tree`) and proposes
`Candidate`s (path, modality, labels in schema terms, the person they show). No file is read here;
`mmdemo.data.real.make_manifest` reads and hashes them and drops held-out and duplicate files.
"""

from __future__ import annotations

import csv
import io
import re
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from mmdemo.schema import AGE_RANGES


@dataclass(frozen=True)
class Candidate:
    """A file a source scan proposes, before hashing: where it is and what it shows."""

    source: str
    repo: str
    commit: str
    path: str
    modality: str
    labels: dict[str, str]
    person_id: str
    group: str = ""


def list_tree(git_dir: str | Path, commit: str) -> list[str]:
    """Paths of every file at `commit` in a bare git directory."""
    out = subprocess.run(
        ["git", f"--git-dir={git_dir}", "ls-tree", "-r", "-z", "--name-only", commit],
        check=True,
        capture_output=True,
    ).stdout
    return [p.decode("utf-8", "surrogateescape") for p in out.split(b"\0") if p]


def age_group(age: int) -> str | None:
    """Schema age group of an age in years; None under the youngest group's lower bound."""
    for group, (low, high) in AGE_RANGES.items():
        if low <= age <= high or (group == "senior" and age > high):
            return group
    return None


UTK_RACES = {"0": "white", "1": "black", "2": "asian", "3": "indian", "4": "others"}
_UTK_NAME = re.compile(r"^(\d+)_([01])_([0-4])_\d+")


def scan_utkface(paths: Iterable[str], repo: str, commit: str, prefix: str) -> Iterator[Candidate]:
    """UTKFace: AGE_GENDER_RACE_DATE.jpg(.chip.jpg), gender 0 = male. Ages under 18 are skipped (the
    schema's groups start at 18); race is kept as `group` for per-group accuracy, never as a label."""
    for path in paths:
        match = _UTK_NAME.match(path.rsplit("/", 1)[-1]) if path.startswith(prefix) else None
        if not match:
            continue
        age, gender, race = match.groups()
        group = age_group(int(age))
        if group is None:
            continue
        labels = {"Male": "1" if gender == "0" else "0", "age_group": group}
        stem = path.rsplit("/", 1)[-1].split(".")[0]
        yield Candidate("UTKFace", repo, commit, path, "image", labels, f"utkface:{stem}", UTK_RACES[race])


FER_EMOTIONS = {
    "angry": "angry",
    "happy": "happy",
    "neutral": "neutral",
    "sad": "sad",
    "surprise": "surprised",
}


def scan_fer(paths: Iterable[str], repo: str, commit: str, prefix: str) -> Iterator[Candidate]:
    """FER2013 as PREFIX<split>/<emotion>/<Usage>_<n>.jpg. Disgust and fear have no schema value and
    are dropped, and so is every PrivateTest image (reserved for the independent check)."""
    for path in paths:
        if not path.startswith(prefix):
            continue
        parts = path[len(prefix) :].split("/")
        if len(parts) != 3 or parts[1] not in FER_EMOTIONS or "privatetest" in parts[2].lower():
            continue
        stem = parts[2].rsplit(".", 1)[0]
        labels = {"emotion": FER_EMOTIONS[parts[1]]}
        yield Candidate("FER2013", repo, commit, path, "image", labels, f"fer2013:{stem}")


_CELEBA_HAIR = {"Black_Hair": "black", "Brown_Hair": "brown", "Blond_Hair": "blond", "Gray_Hair": "gray"}


def celeba_labels(flags: dict[str, int]) -> dict[str, str]:
    """What CelebA's flags say for certain in schema terms. `Young` = -1 only says "not young", which
    spans adult and senior, so age is left unknown then; hair colour only when exactly one colour is
    marked; Smiling is not used as an emotion (a face that does not smile need not be neutral)."""
    on = {k for k, v in flags.items() if v == 1}
    labels = {
        "Male": "1" if "Male" in on else "0",
        "Eyeglasses": "1" if "Eyeglasses" in on else "0",
        "Beard": "0" if "No_Beard" in on else "1",
        "Wearing_Hat": "1" if "Wearing_Hat" in on else "0",
    }
    if "Young" in on:
        labels["age_group"] = "young"
    hair = [colour for key, colour in _CELEBA_HAIR.items() if key in on]
    if len(hair) == 1:
        labels["hair_color"] = hair[0]
    return labels


def parse_celeba_attributes(text: str) -> dict[str, dict[str, str]]:
    """list_attr_celeba.txt -> {image file name: schema labels}."""
    lines = text.splitlines()
    header = lines[1].split()
    out = {}
    for line in lines[2:]:
        parts = line.split()
        if len(parts) == len(header) + 1:
            out[parts[0]] = celeba_labels(dict(zip(header, map(int, parts[1:]))))
    return out


# Bit positions of the five-bit label strings some CelebA subsets ship ("NNNNNN.jpg;BBBBB"); they are
# the official flags for Bangs, Eyeglasses, not No_Beard, Smiling and one more. Only the two that
# the schema uses are read: position 1 = Eyeglasses, position 2 = has a beard.
_CELEBA_BITS = re.compile(r"^(\d{6}\.jpg);([01]{5})$")


def parse_celeba_bits(text: str) -> dict[str, dict[str, str]]:
    """A `name.jpg;BBBBB` label file -> {image file name: {"Eyeglasses", "Beard"}}."""
    out = {}
    for line in text.splitlines():
        match = _CELEBA_BITS.match(line.strip())
        if match:
            name, bits = match.groups()
            out[name] = {"Eyeglasses": bits[1], "Beard": bits[2]}
    return out


def merge_celeba_labels(*tables: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """Label tables merged per image; a later table's value wins for the same label (pass the
    official attribute list last)."""
    out: dict[str, dict[str, str]] = {}
    for table in tables:
        for name, labels in table.items():
            out[name] = {**out.get(name, {}), **labels}
    return out


def parse_celeba_identities(text: str) -> dict[str, str]:
    """identity_CelebA.txt ("NNNNNN.jpg <identity>" a line) -> {image file name: identity}."""
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            out[parts[0]] = parts[1]
    return out


def scan_celeba(
    paths: Iterable[str],
    repo: str,
    commit: str,
    prefix: str,
    attributes: dict[str, dict[str, str]],
    identities: dict[str, str] | None = None,
) -> Iterator[Candidate]:
    """CelebA aligned images PREFIX<NNNNNN>.jpg with labels from list_attr_celeba.txt (or a table
    derived from it). Images 000001-010000 are reserved for the independent check and never used.
    With CelebA's identity file each image's person is its celebrity (`celeba:id<n>`), so all of
    one celebrity's photos share a split; without it each image counts as its own person."""
    for path in paths:
        name = path[len(prefix) :] if path.startswith(prefix) else ""
        if not re.fullmatch(r"\d{6}\.jpg", name) or int(name[:6]) <= 10_000 or name not in attributes:
            continue
        identity = (identities or {}).get(name)
        person = f"celeba:id{identity}" if identity else f"celeba:{name[:6]}"
        yield Candidate("CelebA", repo, commit, path, "image", attributes[name], person)


# ------------------------------------------------------------------ speech
URDU_EMOTIONS = {"Angry": "angry", "Happy": "happy", "Neutral": "neutral", "Sad": "sad"}
_URDU_NAME = re.compile(r"^S([MF])(\d+)_F\d+_([AHNS])\d+\.wav$")


def scan_urdu(paths: Iterable[str], repo: str, commit: str, prefix: str) -> Iterator[Candidate]:
    """URDU (talk-show speech) as PREFIX<Emotion>/S<G><n>_F<k>_<E><m>.wav: G is the speaker's gender
    (M/F), n the speaker, E the emotion's initial, which must agree with the folder."""
    for path in paths:
        parts = path[len(prefix) :].split("/") if path.startswith(prefix) else []
        match = _URDU_NAME.match(parts[1]) if len(parts) == 2 and parts[0] in URDU_EMOTIONS else None
        if not match or match.group(3) != parts[0][0]:
            continue
        gender, speaker, _ = match.groups()
        labels = {"Male": "1" if gender == "M" else "0", "emotion": URDU_EMOTIONS[parts[0]]}
        yield Candidate("URDU", repo, commit, path, "voice", labels, f"urdu:S{gender}{speaker}")


# EMOVO's Italian codes; disgusto and paura (fear) have no schema value and are left out
EMOVO_EMOTIONS = {"gio": "happy", "neu": "neutral", "rab": "angry", "sor": "surprised", "tri": "sad"}
_EMOVO_NAME = re.compile(r"^([a-z]{3})-([fm][1-3])-[a-z]\d\.wav$")


def scan_emovo(paths: Iterable[str], repo: str, commit: str, prefix: str) -> Iterator[Candidate]:
    """EMOVO (6 actors reading 14 sentences) as PREFIX<actor>/<emotion>-<actor>-<sentence>.wav; the
    actor is f1-f3 (women) or m1-m3 (men) and must match the folder."""
    for path in paths:
        parts = path[len(prefix) :].split("/") if path.startswith(prefix) else []
        match = _EMOVO_NAME.match(parts[1]) if len(parts) == 2 else None
        if not match or match.group(2) != parts[0] or match.group(1) not in EMOVO_EMOTIONS:
            continue
        emotion, actor = match.groups()
        labels = {"Male": "1" if actor[0] == "m" else "0", "emotion": EMOVO_EMOTIONS[emotion]}
        yield Candidate("EMOVO", repo, commit, path, "voice", labels, f"emovo:{actor}")


# Common Voice's self-reported age decades in schema groups. A decade across a schema boundary is
# left out: teens (partly under 18) and fifties (50-55 adult, 56-59 senior); thirties hold one
# "young" year (30) of ten and are read as adult.
COMMON_VOICE_AGES = {
    "twenties": "young",
    "thirties": "adult",
    "fourties": "adult",
    "sixties": "senior",
    "seventies": "senior",
    "eighties": "senior",
    "nineties": "senior",
}
# older releases write male/female, newer ones male_masculine/female_feminine; others are unlabelled
COMMON_VOICE_GENDERS = {"male": "1", "male_masculine": "1", "female": "0", "female_feminine": "0"}


def parse_common_voice(text: str) -> dict[str, tuple[dict[str, str], str]]:
    """A Common Voice table (validated.tsv, ...) -> {clip file name: (schema labels, speaker)}: the
    age and gender each speaker gave, where the schema has them. Clips with neither are left out."""
    out = {}
    for row in csv.DictReader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE):
        labels = {}
        if group := COMMON_VOICE_AGES.get((row.get("age") or "").strip()):
            labels["age_group"] = group
        if male := COMMON_VOICE_GENDERS.get((row.get("gender") or "").strip()):
            labels["Male"] = male
        name, speaker = (row.get("path") or "").strip(), (row.get("client_id") or "").strip()
        if labels and name and speaker:
            out[name] = (labels, speaker)
    return out


def scan_common_voice(
    paths: Iterable[str], repo: str, commit: str, prefix: str, tables: dict[str, dict]
) -> Iterator[Candidate]:
    """Common Voice clips as PREFIX.../clips/<name>.mp3, labelled by the tables beside that clips
    folder (`tables`: folder -> merged `parse_common_voice`). Each speaker is one person (their
    hashed client id, the same in every release), so all of a speaker's clips share a split."""
    for path in paths:
        folder, _, name = path.rpartition("/")
        if not path.startswith(prefix) or not folder.endswith("clips") or not name.endswith(".mp3"):
            continue
        found = tables.get(folder, {}).get(name)
        if found is not None:
            labels, speaker = found
            yield Candidate("CommonVoice", repo, commit, path, "voice", dict(labels), f"cv:{speaker[:32]}")


def parse_accent_archive(text: str) -> dict[str, tuple[dict[str, str], str]]:
    """The Speech Accent Archive's speakers_all.csv -> {recording stem: (schema labels, speaker id)}:
    age in years (under 18 left out) and sex; rows whose recording is marked missing are skipped."""
    out = {}
    for row in csv.DictReader(io.StringIO(text)):
        stem, sex = (row.get("filename") or "").strip(), (row.get("sex") or "").strip().lower()
        if not stem or (row.get("file_missing?") or "").strip().upper() == "TRUE":
            continue
        labels = {"Male": "1"} if sex == "male" else {"Male": "0"} if sex == "female" else {}
        try:
            group = age_group(int(float(row.get("age") or "")))
        except ValueError:
            group = None
        if group:
            labels["age_group"] = group
        if labels:
            out[stem] = (labels, (row.get("speakerid") or stem).strip())
    return out


def scan_accent_archive(
    paths: Iterable[str], repo: str, commit: str, prefix: str, speakers: dict[str, tuple]
) -> Iterator[Candidate]:
    """Speech Accent Archive recordings PREFIX[...]/<stem>.mp3 (one speaker each reading the same
    English paragraph), labelled by `parse_accent_archive`."""
    for path in paths:
        stem = path.rsplit("/", 1)[-1].removesuffix(".mp3")
        if path.startswith(prefix) and path.endswith(".mp3") and stem in speakers:
            labels, speaker = speakers[stem]
            yield Candidate(
                "SpeechAccentArchive", repo, commit, path, "voice", dict(labels), f"saa:{speaker}"
            )
