"""Speech from an engine other than eSpeak NG: Festival's voices, as a dataset folder.

The model's synthetic voices are all eSpeak NG's, whose voices share one synthesiser's formants and
pitch contours. Taught sex from those and from real speech, the voice readers still misread a voice
made another way (a low female diphone voice came out male). A few hundred clips of Festival's
voices, each labelled with its speaker's sex, show the readers and their latent gates that a
synthesiser unlike eSpeak is not eSpeak.

Festival's `kal` and `slt` voices, and flite (the same speakers), are reserved for the project's
independent held-out check: `installed_voices` never lists them and `build_festival_set` refuses
them. Every other voice Debian packages is fair to train on (`apt-get install festival` and the
`festvox-*` packages named in `FESTIVAL_PACKAGES`).

Each voice reads `PHRASES` (the synthetic voices' neutral sentences, none of the sentences
`scripts/check_other_engine.py` measures with) at several speaking rates. A clip is labelled with
its speaker's sex only: the packages state no age, and read text carries no acted emotion.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from mmdemo.data.real import METADATA_COLUMNS, format_labels, summarise
from mmdemo.schema import NAMES
from mmdemo.synth.contract import staged_folder, write_metadata
from mmdemo.synth.generator import check_destination
from mmdemo.synth.voices import PHRASES

VOICES_ROOT = Path("/usr/share/festival/voices")
# voice -> its speaker's sex as its Debian package describes it (1 = male)
FESTIVAL_VOICES: dict[str, int] = {
    "upc_ca_ona_hts": 0,
    "czech_dita": 0,
    "lp_diphone": 0,
    "suo_fi_lj_diphone": 0,
    "czech_machac": 1,
    "czech_ph": 1,
    "ked_diphone": 1,
    "pc_diphone": 1,
    "hy_fi_mv_diphone": 1,
    "msu_ru_nsh_clunits": 1,
}
FESTIVAL_PACKAGES = (
    "festival festvox-italp16k festvox-itapc16k festvox-czech-dita festvox-czech-machac "
    "festvox-czech-ph festvox-ca-ona-hts festvox-suopuhe-lj festvox-suopuhe-mv festvox-kdlpc16k festvox-ru"
)
RESERVED = ("kal", "slt")  # the held-out check's speakers: never synthesised here
# Festival's Duration_Stretch: slower and faster reading of each sentence, so that a voice is
# learnt from more than one rhythm of its speaker
STRETCHES: tuple[float, ...] = (0.85, 1.0, 1.2)
SOURCE = "Festival"
LICENCE = "synthesised with Festival; voices under free licences (GPL, LGPL, BSD-like)"

Synthesiser = Callable[[str, str, Path, float], None]


def is_reserved(voice: str) -> bool:
    return any(name in voice for name in RESERVED)


def installed_voices(root: Path | None = None) -> list[str]:
    """The voices of `FESTIVAL_VOICES` installed under `root` (default `VOICES_ROOT`), reserved ones
    never listed."""
    root = VOICES_ROOT if root is None else root
    found = {p.name for p in root.glob("*/*") if p.is_dir()} if root.is_dir() else set()
    return [v for v in FESTIVAL_VOICES if v in found and not is_reserved(v)]


def synthesise(voice: str, sentence: str, out: Path, stretch: float = 1.0) -> None:
    """`sentence` read by Festival's `voice` into the WAV file `out` (its own sample rate)."""
    if is_reserved(voice):
        raise ValueError(f"{voice} is reserved for the held-out check")
    text = out.with_suffix(".txt")
    text.write_text(sentence + "\n", encoding="utf-8")
    try:
        settings = ["-eval", f"(voice_{voice})", "-eval", f"(Parameter.set 'Duration_Stretch {stretch})"]
        cmd = ["text2wave", *settings, str(text), "-o", str(out)]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    finally:
        text.unlink(missing_ok=True)


def build_festival_set(
    out: str | Path,
    *,
    voices: Sequence[str] | None = None,
    leave_out: Iterable[str] = (),
    phrases: Sequence[str] = PHRASES,
    stretches: Sequence[float] = STRETCHES,
    synthesiser: Synthesiser = synthesise,
    provenance: Callable[[str], tuple[str, str]] | None = None,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """A dataset folder at `out` (metadata.csv, audio/, summary.json): each voice of `voices` (default:
    the installed ones) but `leave_out` reads each of `phrases` at each of `stretches`. Every row is
    in the train split, one person per voice, labelled with the speaker's sex. The folder is written
    under a temporary name and renamed into place when complete."""
    voices = installed_voices() if voices is None else list(voices)
    left_out = set(leave_out)
    reserved = [v for v in voices if is_reserved(v)]
    if reserved:
        raise ValueError(f"{', '.join(reserved)} reserved for the held-out check")
    unknown = sorted((set(voices) | left_out) - set(FESTIVAL_VOICES))
    if unknown:
        known = ", ".join(FESTIVAL_VOICES)
        raise ValueError(f"unknown Festival voice(s) {', '.join(unknown)}: known are {known}")
    voices = [v for v in voices if v not in left_out]
    if not voices:
        raise ValueError(f"no Festival voice to read: install them with apt-get install {FESTIVAL_PACKAGES}")
    origins = {voice: (provenance or debian_package)(voice) for voice in voices}
    out = Path(out)
    check_destination(out, overwrite)
    with staged_folder(out) as tmp:
        (tmp / "audio").mkdir()
        jobs = [(v, k, i) for v in voices for k in range(len(stretches)) for i in range(len(phrases))]
        rows = []
        for done, (voice, k, i) in enumerate(jobs, start=1):
            rel = f"audio/{voice}-{k}-{i:02d}.wav"
            synthesiser(voice, phrases[i], tmp / rel, stretches[k])
            rows.append(_row(voice, k, i, rel, origins[voice]))
            if progress:
                progress(done, len(jobs))
        write_metadata(tmp / "metadata.csv", METADATA_COLUMNS, rows)
        (tmp / "summary.json").write_text(json.dumps(summarise(rows), indent=2) + "\n", encoding="utf-8")
    return out


def debian_package(voice: str) -> tuple[str, str]:
    """(package, version) of the Debian package that installed `voice`, or ("festival", VOICE) where
    dpkg cannot say (another distribution, or a voice installed by hand)."""
    unknown = ("festival", voice)
    try:
        folder = next(VOICES_ROOT.glob(f"*/{voice}"))
        owner = subprocess.run(["dpkg-query", "-S", str(folder)], capture_output=True, text=True, timeout=30)
        package = owner.stdout.split(":", 1)[0].strip()
        version = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True, timeout=30
        ).stdout.strip()
    except (StopIteration, OSError, subprocess.SubprocessError):
        return unknown
    return (package, version) if package and version else unknown


def _row(
    voice: str, stretch_index: int, phrase_index: int, rel: str, package: tuple[str, str]
) -> dict[str, str]:
    """One clip's metadata.csv row, with the manifest's columns (`real.MANIFEST_COLUMNS`) that
    `real.summarise` counts: the voice's package stands where a real file's repository and commit do."""
    row = {name: "" for name in NAMES}
    labels = {"Male": str(FESTIVAL_VOICES[voice])}
    row.update(
        labels,
        id=f"festival-{voice}-{stretch_index}-{phrase_index:02d}",
        split="train",
        person_id=f"festival:{voice}",
        image="",
        text="",
        audio=rel,
        text_mentions="",
        source=SOURCE,
        licence=LICENCE,
        group="",
        origin="@".join(package),
        repo=package[0],
        commit=package[1],
        modality="voice",
        labels=format_labels(labels),
    )
    return row
