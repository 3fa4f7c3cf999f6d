"""Rebuilds the real face/voice dataset from data_manifests/real.csv, or re-makes that manifest.

python scripts/build_real_set.py build --out data/real [--mirrors DIR] [--no-download]
python scripts/build_real_set.py manifest --mirrors DIR

`build` takes every file from a bare git mirror under --mirrors when one holds it and otherwise
downloads it from the public repository at the manifest's commit; each file is checked against
its SHA-256 and the held-out list. `manifest` scans the mirrors of the sources below and rewrites
data_manifests/real.csv and data_manifests/real-summary.json (it never downloads).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing

import argparse
import io
import json
import zipfile
from collections import Counter
from collections.abc import Iterator

import cv2
import numpy as np
import soundfile as sf

from mmdemo.data import real, real_sources

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "data_manifests" / "real.csv"
SUMMARY = ROOT / "data_manifests" / "real-summary.json"
DROPPED = ROOT / "data_manifests" / "real-dropped.json"

# Short licence tags (spelled out in data_manifests/README.md); the manifest repeats them per row.
LICENCES = {
    "UTKFace": "UTKFace terms: non-commercial research",
    "FER2013": "unknown (FER2013: none published)",
    "CelebA": "CelebA terms: non-commercial research",
    "URDU": "URDU dataset terms: research use only",
    "EMOVO": "unknown (EMOVO: none published; research use)",
    "CommonVoice": "CC0-1.0 (Mozilla Common Voice)",
    "SpeechAccentArchive": "CC BY-NC-SA 4.0 (Speech Accent Archive)",
}

# Each source: the mirror to read, the pinned commit, where its files sit and how many to keep
# at most per label value (None = all). Commits are fixed so the manifest stays reproducible.
SOURCES = (
    {
        # the commit before an image optimiser re-encoded every file: these are UTKFace's own
        # bytes, so the held-out hash list can recognise them
        "kind": "utkface",
        "repo": "Mohanish-5744/Major_Ensemble_Gender",
        "commit": "1c2f5ccb74a3a8c2c3317ba781aef846a32ba9ae",
        "prefix": "crop_part1/",
        "cap": None,
    },
    {
        # a later commit renamed the files and mixed in every split; this one keeps FER2013's own
        # Training_/PublicTest_/PrivateTest_ names, so PrivateTest can be left out
        "kind": "fer",
        "repo": "darkbit404/FaceExp",
        "commit": "855892cf1e2b10d7d518a8c27318da65c9dde650",
        "prefix": "data/",
        "cap": 1500,
    },
    {
        # 400 clips cut from Urdu talk shows: 38 speakers (27 men, 11 women), 4 emotions
        "kind": "urdu",
        "repo": "siddiquelatif/URDU-Dataset",
        "commit": "4b546d4e0fa36d1c86c53a281631b2ab7ce2fdec",
        "prefix": "",
        "cap": None,
    },
    {
        # EMOVO, the Italian acted-emotion corpus: 6 actors (3 women, 3 men), 14 sentences each
        "kind": "emovo",
        "repo": "fp1acm8/SER",
        "commit": "c13834136874dbf9404f077fd977890605ac90bd",
        "prefix": "data/EMOVO/",
        "cap": None,
    },
    {
        # CelebA aligned faces shrunk to 64x64: a 30,000-image sample across the whole numbering,
        # with a five-bit label file (Bangs, Eyeglasses, beard, Smiling, ...). Glasses and beard come
        # from those bits (they equal the official flags on every image the attribute file below
        # covers); every other label comes from the official attribute file;
        # identities come from CelebA's identity file, so one celebrity's photos share a split
        "kind": "celeba",
        "repo": "fulvio9999/diffusion-face-generator",
        "commit": "72695d9dc74bb7939abbd35b07645870c4d53f82",
        "prefix": "dataset/",
        "cap": 3000,
        "tables": {
            "bits": (
                "fulvio9999/diffusion-face-generator",
                "72695d9dc74bb7939abbd35b07645870c4d53f82",
                "dataset/train_full.txt",
            ),
            # the official list_attr_celeba.txt, all 202,599 rows (zipped in that repository; it
            # equals, row for row, the 20,000-row copy this manifest first used)
            "attributes": (
                "BOOLMANOR/CELEBA_PGGAN",
                "2e9c46dfc9ed301784d7ff7d1ff298f1962e3153",
                "list_attr_celeba.txt.zip",
                "list_attr_celeba.txt",
            ),
            "identities": (
                "sdulloor/DCGAN-tensorflow",
                "bbf5938d37de2860d76fb93a1ebf0650dc3d45c7",
                "identity_CelebA.txt",
            ),
        },
    },
    {
        # Mozilla Common Voice 6.1: a random sample of ~100 validated clips per language (58 have
        # labelled clips), with each speaker's self-reported age decade and gender
        "kind": "common_voice",
        "repo": "omnilingo/rsample-100-cv-corpus-6.1-2020-12-11",
        "commit": "6785f863fec9770151abfe50a5e3e3787fd20ba2",
        "prefix": "",
        "tables": ("validated.tsv",),
        "cap": None,
    },
    {
        # Common Voice 13.0's English delta: clips of ~100 speakers who gave an age (validated
        # clips and the release's test table; invalidated clips are left out)
        "kind": "common_voice",
        "repo": "korliu/whisper",
        "commit": "d03c14561ed7e5e354d76259a7606df7b6e68b0c",
        "prefix": "dataset/",
        "tables": ("validated.tsv", "testing_data.tsv"),
        "cap": None,
    },
    {
        # the Speech Accent Archive: one speaker a recording (~30 s of the same English paragraph),
        # each with an age in years and sex in speakers_all.csv
        "kind": "accent_archive",
        "repo": "gabillogical/whisper_project",
        "commit": "74f7269ae1261a3a7920f0b122951f58cd23c3b8",
        "prefix": "",
        "tables": ("speakers_all.csv",),
        "cap": None,
    },
)
SCANS = {
    "utkface": real_sources.scan_utkface,
    "fer": real_sources.scan_fer,
    "urdu": real_sources.scan_urdu,
    "emovo": real_sources.scan_emovo,
}
MIN_SECONDS = 0.5  # shorter clips carry too little voice to label


def _candidates(source: dict, mirrors: Path) -> Iterator[real_sources.Candidate]:
    git_dir = real.find_git_dir(mirrors, source["repo"])
    if git_dir is None:
        raise SystemExit(f"no mirror of {source['repo']} under {mirrors}")
    paths = sorted(real_sources.list_tree(git_dir, source["commit"]))
    if source["kind"] == "common_voice":
        tables: dict[str, dict] = {}
        for path in paths:
            folder, _, name = path.rpartition("/")
            if path.startswith(source["prefix"]) and name in source["tables"]:
                text = _read_text(mirrors, source["repo"], source["commit"], path)
                tables.setdefault(f"{folder}/clips".lstrip("/"), {}).update(
                    real_sources.parse_common_voice(text)
                )
        found = real_sources.scan_common_voice(
            paths, source["repo"], source["commit"], source["prefix"], tables
        )
    elif source["kind"] == "accent_archive":
        table = f"{source['prefix']}{source['tables'][0]}"
        speakers = real_sources.parse_accent_archive(
            _read_text(mirrors, source["repo"], source["commit"], table)
        )
        found = real_sources.scan_accent_archive(
            paths, source["repo"], source["commit"], source["prefix"], speakers
        )
    elif source["kind"] == "celeba":
        tables = {key: _read_text(mirrors, *where) for key, where in source["tables"].items()}
        attributes = real_sources.merge_celeba_labels(
            real_sources.parse_celeba_bits(tables["bits"]),
            real_sources.parse_celeba_attributes(tables["attributes"]),
        )
        identities = real_sources.parse_celeba_identities(tables["identities"])
        found = real_sources.scan_celeba(
            paths, source["repo"], source["commit"], source["prefix"], attributes, identities
        )
    else:
        found = SCANS[source["kind"]](paths, source["repo"], source["commit"], source["prefix"])
    if source["cap"] is None:
        yield from found
        return
    kept: Counter = Counter()
    for c in found:  # paths are sorted, so the capped subset is the same on every run
        key = real.format_labels(c.labels)
        if kept[key] < source["cap"]:
            kept[key] += 1
            yield c


def _read_text(mirrors: Path, repo: str, commit: str, path: str, member: str | None = None) -> str:
    """A label file from a local mirror at its pinned commit; `member`: the file inside that zip."""
    with real.FileSource(mirrors, allow_download=False) as files:
        data = files.read(repo, commit, path)[0]
    if member is not None:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            data = archive.read(member)
    return data.decode("utf-8")


def _decodes(candidate: real_sources.Candidate, data: bytes) -> bool:
    """Whether the file opens as the loaders will open it (tiny, short or broken files, and Git LFS
    pointers in place of audio, are left out)."""
    if candidate.modality == "voice":
        try:
            info = sf.info(io.BytesIO(data))
        except (RuntimeError, OSError, TypeError):  # LibsndfileError is a RuntimeError
            return False
        return info.frames >= MIN_SECONDS * info.samplerate
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    return image is not None and min(image.shape[:2]) >= 32


def make(args: argparse.Namespace) -> None:
    heldout = real.load_heldout(args.heldout)
    if not heldout:
        raise SystemExit(
            "no held-out hash list found; pass --heldout PATH (making a manifest without it is unsafe)"
        )
    rows: list[dict[str, str]] = []
    dropped: Counter = Counter()
    for source in SOURCES:
        found, lost = real.make_manifest(
            _candidates(source, args.mirrors),
            args.mirrors,
            lambda c: LICENCES[c.source],
            heldout=heldout,
            check=_decodes,
        )
        rows += found
        dropped += lost
        print(f"{source['repo']}: {len(found)} files kept, dropped {dict(lost)}")
    real.write_manifest(args.manifest, rows)
    _write_json(args.summary, real.summarise(rows))
    _write_json(DROPPED, {f"{s}: {why}": n for (s, why), n in sorted(dropped.items())})
    print(f"wrote {args.manifest} ({len(rows)} rows), {args.summary} and {DROPPED}")


def build(args: argparse.Namespace) -> None:
    def progress(done: int, total: int) -> None:
        if done % 1000 == 0 or done == total:
            print(f"  {done}/{total}", flush=True)

    out = real.build_real_set(
        args.manifest,
        args.out,
        args.mirrors,
        heldout=args.heldout,
        allow_download=not args.no_download,
        overwrite=args.overwrite,
        progress=progress,
    )
    summary = real.summarise(real.read_manifest(args.manifest))
    if args.summary:
        _write_json(args.summary, summary)
    print(f"wrote {out}: {summary['files']} files ({summary['modality']}), splits {summary['split']}")


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="rebuild the dataset folder from the manifest")
    b.add_argument("--out", type=Path, required=True, help="dataset folder to write (kept outside git)")
    b.add_argument("--no-download", action="store_true", help="use local mirrors only")
    b.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    b.add_argument("--summary", type=Path, default=None, help="also write the counts JSON here")
    b.set_defaults(func=build)
    m = sub.add_parser("manifest", help="re-make the manifest from local mirrors of the sources")
    m.add_argument("--summary", type=Path, default=SUMMARY)
    m.set_defaults(func=make)
    for p in (b, m):
        p.add_argument("--manifest", type=Path, default=MANIFEST)
        p.add_argument("--mirrors", type=Path, default=None, help="folder of bare git mirrors (owner+name/)")
        p.add_argument(
            "--heldout", type=Path, default=None, help="held-out SHA-256 list (default: shared/heldout)"
        )
    args = parser.parse_args()
    if args.command == "manifest" and args.mirrors is None:
        parser.error("manifest needs --mirrors")
    args.func(args)


if __name__ == "__main__":
    main()
