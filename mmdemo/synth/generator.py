"""Generates the bundled synthetic dataset: procedural faces, templated
descriptions and eSpeak NG voices that share one set of ground-truth
attributes, written in the dataset-folder format of DESIGN.md (which
`contract.check_dataset` checks).

Every person is generated from its own seed (derived from the run seed and the
person's index), so the output is byte-identical for a seed whatever the
number of worker processes. The folder is written under a temporary name next
to the destination and renamed into place only when complete.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from mmdemo.schema import ATTRIBUTES, NAMES
from mmdemo.synth.contract import REQUIRED_COLUMNS, SPLITS, staged_folder, write_metadata
from mmdemo.synth.descriptions import describe

log = logging.getLogger(__name__)

PRESETS: dict[str, int] = {"tiny": 300, "default": 20_000}
SPLIT_SHARES = tuple(zip(SPLITS, (0.8, 0.1, 0.1)))
SAMPLES_PER_PERSON = (1, 3)  # inclusive range
VOICE_COLUMNS = ("voice_variant", "voice_pitch", "voice_rate", "voice_range", "voice_volume")
# what the contract requires, then the rest of the voice settings and the words spoken
COLUMNS = (*REQUIRED_COLUMNS, "voice_range", "voice_volume", "voice_text")
LANGS = ("en", "zh", "both")

# Marginal attribute distribution of the synthetic population.
_P = {
    "Male": {"0": 0.5, "1": 0.5},
    "age_group": {"young": 0.4, "adult": 0.35, "senior": 0.25},
    "emotion": {e: 0.2 for e in ("neutral", "happy", "sad", "angry", "surprised")},
    "Eyeglasses": {"0": 0.7, "1": 0.3},
    "Wearing_Hat": {"0": 0.75, "1": 0.25},
    "skin_tone": {"light": 1 / 3, "medium": 1 / 3, "dark": 1 / 3},
}
_HAIR_BY_AGE = {  # gray hair is rare in the young and common in seniors, as in life
    "young": {"black": 0.27, "brown": 0.27, "blond": 0.22, "red": 0.2, "gray": 0.04},
    "adult": {"black": 0.24, "brown": 0.25, "blond": 0.2, "red": 0.18, "gray": 0.13},
    "senior": {"black": 0.12, "brown": 0.12, "blond": 0.12, "red": 0.1, "gray": 0.54},
}
_BEARD_SHARE_OF_MEN = 0.4


def _draw(rng: np.random.Generator, dist: Mapping[str, float]) -> str:
    keys = list(dist)
    p = np.array([dist[k] for k in keys], dtype=float)
    return keys[int(rng.choice(len(keys), p=p / p.sum()))]


def sample_attributes(rng: np.random.Generator) -> dict[str, str]:
    """One person's ground-truth attributes (schema strings)."""
    a = {name: _draw(rng, dist) for name, dist in _P.items()}
    a["hair_color"] = _draw(rng, _HAIR_BY_AGE[a["age_group"]])
    a["Beard"] = "1" if a["Male"] == "1" and rng.random() < _BEARD_SHARE_OF_MEN else "0"
    return {name: a[name] for name in NAMES}


@dataclass(frozen=True)
class _PersonJob:
    index: int
    first_sample: int  # global index of this person's first sample
    n_samples: int
    split: str
    seed: int
    root: str
    lang: str = "en"  # "en", "zh" or "both" (each sample's language drawn from its own stream)


def _plan(count: int, seed: int, root: Path, lang: str = "en") -> list[_PersonJob]:
    """People with 1-3 samples each until `count` samples, split 80/10/10 by person."""
    rng = np.random.default_rng([seed, 0])
    sizes: list[int] = []
    while sum(sizes) < count:
        sizes.append(
            min(int(rng.integers(SAMPLES_PER_PERSON[0], SAMPLES_PER_PERSON[1] + 1)), count - sum(sizes))
        )
    order = rng.permutation(len(sizes))
    splits = np.empty(len(sizes), dtype=object)
    start = 0
    for i, (name, share) in enumerate(SPLIT_SHARES):
        stop = len(sizes) if i == len(SPLIT_SHARES) - 1 else start + max(1, round(share * len(sizes)))
        splits[order[start:stop]] = name
        start = stop
    firsts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    return [
        _PersonJob(i, int(firsts[i]), sizes[i], str(splits[i]), seed, str(root), lang)
        for i in range(len(sizes))
    ]


def _generate_person(job: _PersonJob) -> list[dict[str, str]]:
    """Renders and writes every sample of one person; returns their metadata rows."""
    from mmdemo.audio import write_wav
    from mmdemo.synth.faces import FaceIdentity, FaceNuisance, render_face
    from mmdemo.synth.voices import PHRASES, emotion_text, sample_person_voice, synthesize, voice_params

    rng = np.random.default_rng([job.seed, 1, job.index])
    attrs = sample_attributes(rng)
    identity = FaceIdentity.sample(attrs, rng)
    person_voice = sample_person_voice(attrs, rng)
    rows = []
    for k in range(job.n_samples):
        sid = f"{job.first_sample + k:06d}"
        face = render_face(attrs, identity, FaceNuisance.sample(rng))
        image_rel, audio_rel = f"images/{sid}.png", f"audio/{sid}.wav"
        if not cv2.imwrite(os.path.join(job.root, image_rel), cv2.cvtColor(face, cv2.COLOR_RGB2BGR)):
            raise OSError(f"could not write {image_rel} under {job.root}")
        params = voice_params(attrs, person_voice, rng)
        phrase = emotion_text(PHRASES[int(rng.integers(len(PHRASES)))], attrs["emotion"])
        write_wav(os.path.join(job.root, audio_rel), synthesize(phrase, params))
        # The English description is always written from the person's stream, so every other draw (and
        # every English row) is the same whatever the language; Chinese comes from a stream of its own.
        text, mentions = describe(attrs, rng)
        own = np.random.default_rng([job.seed, 2, job.index, k])
        lang = ("en", "zh")[int(own.integers(2))] if job.lang == "both" else job.lang
        if lang == "zh":
            text = describe(attrs, own, mentions=mentions, lang="zh")[0]
        voice = params.to_dict()
        rows.append(
            {
                "id": sid,
                "split": job.split,
                "person_id": f"p{job.index:06d}",
                "image": image_rel,
                "text": text,
                "audio": audio_rel,
                **attrs,
                "text_mentions": ";".join(mentions),
                **{col: str(voice[col]) for col in VOICE_COLUMNS},
                "voice_text": phrase,
                **({"lang": lang} if job.lang != "en" else {}),
            }
        )
    return rows


def resolve_count(preset: str, count: int | None) -> int:
    """The number of samples to write; refuses an unknown preset or a non-positive count."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    count = PRESETS[preset] if count is None else int(count)
    if count <= 0:
        raise ValueError(f"--count must be a positive number of samples, got {count}")
    return count


def check_destination(out: Path, overwrite: bool) -> None:
    """Refuses, before any work, a destination that would lose data or cannot be written."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} exists and is a file; choose a folder path for --out")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise ValueError(
            f"{out} exists and is not empty; pass --overwrite to replace it or choose another --out"
        )
    probe = out.resolve().parent
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise ValueError(f"cannot write under {probe}: it is a file, not a folder; choose another --out")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ValueError(f"cannot write to {probe}: permission denied; choose a writable --out")


def generate_dataset(
    out: str | Path,
    *,
    preset: str = "tiny",
    count: int | None = None,
    seed: int = 0,
    overwrite: bool = False,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    lang: str = "en",
) -> Path:
    """Writes a complete dataset folder at `out` and returns its path.

    `count` overrides the preset's sample count. `lang`: the descriptions' language, "en", "zh" or
    "both" (each sample's drawn at random; a `lang` column says which). Raises ValueError for bad
    arguments before anything is written."""
    count = resolve_count(preset, count)
    if lang not in LANGS:
        raise ValueError(f"--lang must be one of {', '.join(LANGS)}, not {lang!r}")
    out = Path(out)
    check_destination(out, overwrite)
    with staged_folder(out) as tmp:
        (tmp / "images").mkdir()
        (tmp / "audio").mkdir()
        jobs = _plan(count, seed, tmp, lang)
        rows = _run_jobs(jobs, workers or os.cpu_count() or 1, count, progress)
        write_metadata(tmp / "metadata.csv", COLUMNS if lang == "en" else (*COLUMNS, "lang"), rows)
    return out


def _run_jobs(
    jobs: list[_PersonJob], workers: int, count: int, progress: Callable[[int, int], None] | None
) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    done = 0

    def collect(results: Iterable[list[dict[str, str]]]) -> None:
        nonlocal done
        for person_rows in results:
            rows.extend(person_rows)
            done += len(person_rows)
            if progress:
                progress(done, count)

    if workers <= 1:
        collect(map(_generate_person, jobs))
    else:
        # spawn: eSpeak NG keeps process-global state that must not be inherited through fork
        with mp.get_context("spawn").Pool(workers) as pool:
            collect(pool.imap(_generate_person, jobs, chunksize=16))
    return rows


def attribute_balance(rows: list[Mapping[str, str]]) -> dict[str, dict[str, float]]:
    """Share of each attribute value among rows, for reports."""
    out = {}
    for a in ATTRIBUTES:
        values = [r[a.name] for r in rows]
        out[a.name] = {v: values.count(v) / max(1, len(values)) for v in a.values}
    return out
