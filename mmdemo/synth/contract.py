"""The contract a generated dataset folder meets (the "Dataset folder" of DESIGN.md), as code.

`check_dataset(folder)` returns the problems it finds, one sentence each naming the row or file
and what is wrong; an empty list means the folder holds. It checks:

* metadata.csv: the required columns, every attribute a schema value, unique ids, a known
  split, a description that states exactly its `text_mentions` with the row's values, and
  voice parameters eSpeak accepts;
* the splits: none empty, no person in two of them, and every schema value generated once a
  dataset is large enough for that to be expected;
* the files: every image and clip exists and decodes, images are 128x128 RGB, clips 16 kHz
  mono, and women's voices are clearly higher than men's (median F0 by autocorrelation).

`median_f0` is the pitch measure the last check (and the voice tests) use.
"""

from __future__ import annotations

import csv
import math
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import soundfile as sf
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image

from mmdemo.schema import ATTRIBUTES, BY_NAME, NAMES, SPLITS
from mmdemo.synth.descriptions import parse_description

# Every dataset folder's columns; a synthetic one adds the voice settings it was spoken with.
CORE_COLUMNS: tuple[str, ...] = (
    "id",
    "split",
    "person_id",
    "image",
    "text",
    "audio",
    *NAMES,
    "text_mentions",
)
REQUIRED_COLUMNS: tuple[str, ...] = (*CORE_COLUMNS, "voice_variant", "voice_pitch", "voice_rate")
IMAGE_SIDE = 128
SAMPLE_RATE = 16000  # the rate mmdemo.audio writes and reads; the contract names it on its own
# From this many rows on, a value that never occurs means the sampler is broken, not unlucky: the
# rarest values (a beard, gray hair) have a share of about 1/5, so 200 rows miss one at odds ~1e-19.
ALL_VALUES_FROM_ROWS = 200
PITCH_CLIPS = 120  # clips measured for the gender pitch gap: a stable mean in a second or two
MIN_PITCH_GAP_HZ = 30.0  # the tiny preset measures ~215 Hz for women, ~100 Hz for men
MAX_PROBLEMS = 50  # a folder broken throughout would otherwise list every row


def check_dataset(folder: str | Path, pitch_clips: int = PITCH_CLIPS) -> list[str]:
    """Problems with the dataset folder at `folder`; [] when it meets the contract."""
    root = Path(folder)
    rows, problems = _read_rows(root)
    if rows:
        problems = [
            *_row_problems(rows),
            *_split_problems(rows),
            *_file_problems(root, rows),
            *_pitch_problems(root, rows, pitch_clips),
        ]
    if len(problems) > MAX_PROBLEMS:
        problems = [*problems[:MAX_PROBLEMS], f"... and {len(problems) - MAX_PROBLEMS} more problems"]
    return problems


def _where(row: dict[str, str], line: int) -> str:
    return f"metadata.csv line {line} (id {row.get('id')!r})"


def _read_rows(root: Path) -> tuple[list[dict[str, str]], list[str]]:
    """The rows of metadata.csv, or the one problem that stops every other check."""
    path = root / "metadata.csv"
    if not path.is_file():
        return [], [f"{root} has no metadata.csv"]
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
            rows = list(reader)
    except (csv.Error, UnicodeDecodeError) as e:
        return [], [f"{path}: malformed CSV ({e})"]
    if missing:
        return [], [f"metadata.csv lacks the columns {', '.join(missing)}"]
    if not rows:
        return [], ["metadata.csv has no rows"]
    ragged = [line for line, r in _numbered(rows) if None in r or None in r.values()]
    if ragged:
        return [], [f"metadata.csv lines {ragged[:10]} have the wrong number of fields"]
    return rows, []


def _numbered(rows: list[dict[str, str]]) -> Iterable[tuple[int, dict[str, str]]]:
    return enumerate(rows, start=2)  # line 1 is the header


def _row_problems(rows: list[dict[str, str]]) -> Iterable[str]:
    """Each row on its own: values, split, description and voice parameters."""
    seen_ids: set[str] = set()
    for line, row in _numbered(rows):
        where = _where(row, line)
        for a in ATTRIBUTES:
            if row[a.name] not in a.values:
                yield f"{where}: {a.name}={row[a.name]!r} is not one of {', '.join(a.values)}"
        if row["id"] in seen_ids:
            yield f"{where}: id {row['id']!r} is used by an earlier row"
        seen_ids.add(row["id"])
        if row["split"] not in SPLITS:
            yield f"{where}: split {row['split']!r} is not one of {', '.join(SPLITS)}"
        yield from (f"{where}: {p}" for p in _text_problems(row))
        if row["audio"]:
            try:
                _voice_params(row)
            except ValueError as e:
                yield f"{where}: {e}"


def _voice_params(row: dict[str, str]) -> None:
    """Raises ValueError naming the voice column eSpeak would refuse. Imported here, not at the
    top: `voices` loads the audio stack, and the generator imports this module for the format."""
    from mmdemo.synth.voices import VoiceParams

    VoiceParams.from_dict(row)


def _text_problems(row: dict[str, str]) -> Iterable[str]:
    """The generator always writes a description, and it states exactly `text_mentions`: the
    evaluation scores generated text against that list with the same parser."""
    if not row["text"].strip():
        yield "empty description"
        return
    mentions = [m for m in row["text_mentions"].split(";") if m]
    unknown = [m for m in mentions if m not in BY_NAME]
    if unknown:
        yield f"text_mentions names unknown attributes {unknown}"
        return
    stated = parse_description(row["text"])
    listed = {m: row[m] for m in mentions}
    wrong = [n for n in NAMES if stated.get(n) != listed.get(n)]
    if wrong:
        yield f"the description {row['text']!r} " + "; ".join(_mismatch(n, stated, listed) for n in wrong)


def _mismatch(name: str, stated: dict[str, str], listed: dict[str, str]) -> str:
    if name not in stated:
        return f"does not state {name}, which text_mentions lists"
    if name not in listed:
        return f"states {name}={stated[name]}, which text_mentions does not list"
    return f"states {name}={stated[name]} but the row has {name}={listed[name]}"


def _split_problems(rows: list[dict[str, str]]) -> Iterable[str]:
    """People stay in one split, no split is empty, and a large dataset uses every value."""
    splits_of: dict[str, set[str]] = {}
    for row in rows:
        splits_of.setdefault(row["person_id"], set()).add(row["split"])
    crossing = sorted(p for p, s in splits_of.items() if len(s) > 1)
    if crossing:
        who = "1 person appears" if len(crossing) == 1 else f"{len(crossing)} people appear"
        yield f"{who} in more than one split (e.g. {', '.join(crossing[:3])})"
    sizes = {s: sum(r["split"] == s for r in rows) for s in SPLITS}
    empty = [s for s, n in sizes.items() if n == 0]
    if empty:
        yield f"the {' and '.join(empty)} split{'s are' if len(empty) > 1 else ' is'} empty ({sizes})"
    if len(rows) >= ALL_VALUES_FROM_ROWS:
        for a in ATTRIBUTES:
            never = [v for v in a.values if all(r[a.name] != v for r in rows)]
            if never:
                yield f"{a.name}: {', '.join(never)} never generated in {len(rows)} rows"


def _file_problems(root: Path, rows: list[dict[str, str]]) -> Iterable[str]:
    """Every named file exists and decodes as the format the loaders expect."""
    for row in rows:
        if row["image"]:
            yield from _image_problems(root, row["image"])
        if row["audio"]:
            yield from _audio_problems(root, row["audio"])


def _image_problems(root: Path, rel: str) -> Iterable[str]:
    if not (root / rel).is_file():
        yield f"{rel}: no such file"
        return
    try:
        with Image.open(root / rel) as im:
            im.load()
            size, mode = im.size, im.mode
    except (OSError, SyntaxError, ValueError) as e:
        yield f"{rel}: not a readable image ({e})"
        return
    if size != (IMAGE_SIDE, IMAGE_SIDE) or mode != "RGB":
        yield f"{rel}: {size[0]}x{size[1]} {mode}; want {IMAGE_SIDE}x{IMAGE_SIDE} RGB"


def _audio_problems(root: Path, rel: str) -> Iterable[str]:
    if not (root / rel).is_file():
        yield f"{rel}: no such file"
        return
    try:
        info = sf.info(str(root / rel))
    except (RuntimeError, OSError) as e:  # libsndfile's errors are RuntimeErrors
        yield f"{rel}: not a readable audio file ({e})"
        return
    if info.samplerate != SAMPLE_RATE or info.channels != 1:
        layout = "mono" if info.channels == 1 else f"{info.channels} channels"
        yield f"{rel}: {info.samplerate} Hz {layout}; want {SAMPLE_RATE} Hz mono"


def _pitch_problems(root: Path, rows: list[dict[str, str]], clips: int) -> Iterable[str]:
    """Women's voices are clearly higher than men's: mean of per-clip median F0 over the first
    `clips` readable 16 kHz clips. Broken clips are reported by `_file_problems`, not here."""
    pitches: dict[str, list[float]] = {"0": [], "1": []}
    for row in rows:
        if sum(map(len, pitches.values())) >= clips:
            break
        path = root / row["audio"]
        if not row["audio"] or row["Male"] not in pitches or not path.is_file():
            continue
        try:
            samples, rate = sf.read(str(path), dtype="float32", always_2d=False)
        except (RuntimeError, OSError):
            continue
        if rate == SAMPLE_RATE and samples.ndim == 1:
            pitches[row["Male"]].append(median_f0(samples, rate))
    if not any(pitches.values()):
        return  # no voices to compare (a dataset without audio is allowed)
    women, men = (np.array([p for p in pitches[g] if math.isfinite(p)]) for g in ("0", "1"))
    if not len(women) or not len(men):
        who = "women" if not len(women) else "men"
        yield f"voice pitch: no voiced clip of {who} among the first {clips} clips, so no gender gap to check"
    elif not women.mean() > men.mean() + MIN_PITCH_GAP_HZ:
        yield (
            f"voices do not carry gender: women's median F0 {women.mean():.0f} Hz vs men's "
            f"{men.mean():.0f} Hz; want a gap over {MIN_PITCH_GAP_HZ:.0f} Hz"
        )


def median_f0(samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> float:
    """Median pitch (Hz) of the voiced 40 ms frames (half-overlapping) by autocorrelation; NaN
    when none is voiced. A frame is voiced when it is loud enough (RMS >= 0.02) and its
    autocorrelation peak between 60 and 400 Hz holds over 0.3 of its energy."""
    n = int(0.04 * sample_rate)
    lo, hi = int(sample_rate / 400), int(sample_rate / 60)
    if len(samples) <= n:
        return float("nan")
    frames = sliding_window_view(samples, n)[: len(samples) - n : n // 2]
    frames = frames - frames.mean(axis=1, keepdims=True)
    frames = frames[np.sqrt((frames**2).mean(axis=1)) >= 0.02]
    if not len(frames):
        return float("nan")
    # every frame's autocorrelation at once through the FFT (zero-padded to 2n: no wrap-around)
    spectrum = np.fft.rfft(frames, 2 * n, axis=1)
    ac = np.fft.irfft(spectrum * spectrum.conj(), 2 * n, axis=1)[:, :n]
    lag = lo + np.argmax(ac[:, lo:hi], axis=1)
    voiced = ac[np.arange(len(ac)), lag] > 0.3 * ac[:, 0]
    return float(np.median(sample_rate / lag[voiced])) if voiced.any() else float("nan")


def write_metadata(path: Path, columns: tuple[str, ...], rows: list[dict[str, str]]) -> None:
    """metadata.csv with `columns` in order (keys a row has beyond them are left out)."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


@contextmanager
def staged_folder(out: Path) -> Iterator[Path]:
    """A fresh temporary folder beside `out` to build a dataset in. When the block ends it becomes
    `out` (`publish_folder`); if the block raises it is removed, so `out` is never half-written."""
    try:
        out.resolve().parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.resolve().parent))
    except OSError as e:
        raise ValueError(
            f"cannot write to {out.resolve().parent}: {e.strerror}; choose a writable --out"
        ) from None
    try:
        yield tmp
        publish_folder(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def publish_folder(tmp: Path, out: Path) -> None:
    """Renames a finished dataset folder to `out`; an existing `out` is removed only after that succeeds,
    so a reader never meets a half-written dataset and a failed build leaves the old one in place."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}-{time.time_ns()}")
        out.rename(old)
    tmp.rename(out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
