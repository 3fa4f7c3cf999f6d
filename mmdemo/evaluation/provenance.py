"""Where a checkpoint's evaluator comes from, and how far its judgements can be trusted.

The evaluator (see judges.py) is trained once, on the training split of the data the model learned
from, and stored in CKPT/evaluator/. Its config.json records that data (folder, fingerprint, split,
rows) and the judges' accuracy on the same data's held-out test split: real faces and voices, per
attribute and mean. That accuracy is the ceiling of every coherence figure they judge; a model's
generated face cannot be judged more right than a real one. For generated voices, which speak a
neutral phrase, the judges are also measured on the test people's true voice settings speaking that
phrase.

Training the evaluator on other data than the model's is refused unless asked for, because it
changes what the coherence figures mean.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from mmdemo import checkpoint as ckpt
from mmdemo.data.loaders import Sample, load_audio, load_image, open_samples
from mmdemo.evaluation.judges import Evaluator, judge_accuracy, train_evaluator
from mmdemo.schema import ATTRIBUTES, BY_NAME, VOICE_ATTRIBUTES, to_indices

log = logging.getLogger(__name__)

EVALUATOR_SAMPLES = (
    6000  # enough for the synthetic attributes; keeps the first evaluation to minutes on a CPU
)
TRAIN_ON_DATA_FLAG = "--train-evaluator-on-data"
VOICE_SETTINGS = ("voice_variant", "voice_pitch", "voice_rate", "voice_range", "voice_volume")


def data_fingerprint(folder: str | Path) -> str:
    """sha256 of metadata.csv's lines in byte order, as `LC_ALL=C sort metadata.csv | sha256sum`
    prints it: row order does not matter, any changed row does. A folder without one (photos, CelebA)
    is fingerprinted by its files' sorted names and sizes."""
    folder = Path(folder)
    meta = folder / "metadata.csv"
    if meta.is_file():
        lines = sorted(meta.read_bytes().splitlines())
    else:
        files = sorted(p for p in folder.rglob("*") if p.is_file())
        lines = [f"{p.relative_to(folder).as_posix()}\t{p.stat().st_size}".encode() for p in files]
    return "sha256:" + hashlib.sha256(b"".join(line + b"\n" for line in lines)).hexdigest()


def judged_samples(samples: Sequence[Sample]) -> tuple[list[Sample], list[Sample]]:
    """The samples the face judge learns from (with a face) and the voice judge (with a voice and
    every voice attribute labelled)."""
    with_image = [s for s in samples if s.image]
    with_voice = [s for s in samples if s.audio and all(n in s.attrs for n in VOICE_ATTRIBUTES)]
    return with_image, with_voice


def _voice_labels(samples: Sequence[Sample]) -> np.ndarray:
    rows = [[BY_NAME[n].index(s.attrs[n]) for n in VOICE_ATTRIBUTES] for s in samples]
    return np.array(rows, dtype=np.int64).reshape(-1, len(VOICE_ATTRIBUTES))


def judge_arrays(samples: Sequence[Sample]) -> tuple[np.ndarray, np.ndarray, list[np.ndarray], np.ndarray]:
    """(faces, their class ids, voices, their class ids for VOICE_ATTRIBUTES) of the judged samples."""
    with_image, with_voice = judged_samples(samples)
    images = (
        np.stack([load_image(s) for s in with_image]) if with_image else np.zeros((0, 64, 64, 3), np.uint8)
    )
    image_labels = np.array([to_indices(s.attrs) for s in with_image]).reshape(-1, len(ATTRIBUTES))
    return images, image_labels, [load_audio(s) for s in with_voice], _voice_labels(with_voice)


def neutral_phrase_accuracy(evaluator: Evaluator, samples: Sequence[Sample]) -> dict | None:
    """The voice judge on the samples' true voice settings speaking the phrase generated voices speak
    (no emotional punctuation): the ceiling of a voice decoder that got every setting right. None when
    the samples carry no voice settings (photos, CelebA)."""
    from mmdemo.inference.model import VOICE_PHRASE
    from mmdemo.synth.voices import VoiceParams, synthesize

    voiced = [s for s in judged_samples(samples)[1] if all(s.voice.get(k) for k in VOICE_SETTINGS)]
    if not voiced:
        return None
    waves = [synthesize(VOICE_PHRASE, VoiceParams.from_dict(s.voice)) for s in voiced]
    no_faces, no_labels = np.zeros((0, 64, 64, 3), np.uint8), np.zeros((0, len(ATTRIBUTES)), np.int64)
    return judge_accuracy(evaluator, no_faces, no_labels, waves, _voice_labels(voiced))["voice"]


def measure_judges(evaluator: Evaluator, data: str | Path, split: str = "test") -> dict:
    """The judges' accuracy on the real faces and voices of `data`'s `split`, and where that was."""
    samples = open_samples(data, split)
    out = {
        "data": str(data),
        "fingerprint": data_fingerprint(data),
        "split": split,
        **judge_accuracy(evaluator, *judge_arrays(samples)),
    }
    neutral = neutral_phrase_accuracy(evaluator, samples)
    if neutral is not None:
        out["voice_neutral_phrase"] = neutral
    return out


def training_record(data: str | Path, model_data: str) -> dict:
    """What `ensure_evaluator` trains on when given `data`: the folder, its fingerprint, the split and
    how many faces and voices (the first EVALUATOR_SAMPLES training samples)."""
    with_image, with_voice = judged_samples(open_samples(data, "train")[:EVALUATOR_SAMPLES])
    return {
        "data": str(data),
        "fingerprint": data_fingerprint(data),
        "split": "train",
        "first_samples": EVALUATOR_SAMPLES,
        "rows": {"image": len(with_image), "voice": len(with_voice)},
        "model_data": model_data,
    }


# metrics key -> part of the recorded ceiling
CEILING_KEYS = {
    "evaluator/image_acc": "image",
    "evaluator/voice_acc": "voice",
    "evaluator/voice_acc_neutral_phrase": "voice_neutral_phrase",
}


def evaluator_ceiling(evaluator: Evaluator) -> dict:
    """`evaluator/image_acc`, `evaluator/voice_acc` (real held-out faces and voices) and
    `evaluator/voice_acc_neutral_phrase` from the evaluator's record; a warning when it has none."""
    ceiling = evaluator.info.get("ceiling", {})
    out = {key: float(ceiling[part]["mean"]) for key, part in CEILING_KEYS.items() if part in ceiling}
    if not out:
        log.warning(
            "the evaluator records no accuracy on real held-out data, so its judgements have no ceiling; "
            "record it with mmdemo.evaluation.provenance.record_provenance(CHECKPOINT, DATA)"
        )
    return out


def record_provenance(checkpoint: str | Path, data: str | Path, device: str = "cpu") -> dict:
    """For an evaluator trained before its config.json recorded this: measures it on the test split of
    `data` (which must be the data it was trained on, or a regeneration of it) and records that and
    the training rows. The weights are left as they are. Returns the record."""
    folder = Path(checkpoint) / "evaluator"
    evaluator = Evaluator.load(folder, torch.device(device))
    model_data = str(ckpt.read_json(Path(checkpoint) / "config.json").get("data", ""))
    evaluator.info.update(
        trained_on=training_record(data, model_data), ceiling=measure_judges(evaluator, data, "test")
    )
    evaluator.write_config(folder)
    return evaluator.info


def ensure_evaluator(
    checkpoint: Path, data: str | Path, device: torch.device, *, allow_other_data: bool = False
) -> Evaluator:
    """The checkpoint's evaluator, trained once on the training split the model learned from (named in
    its config.json) and stored in CKPT/evaluator/ with its provenance and ceiling. When that data is
    not here: refused, unless `allow_other_data` (then trained on `data`, and recorded so)."""
    folder = checkpoint / "evaluator"
    if (folder / "config.json").is_file():
        return Evaluator.load(folder, device)
    named = str(ckpt.read_json(checkpoint / "config.json").get("data", ""))
    source = Path(named) if named else None
    if source is None or not source.is_dir():
        if not allow_other_data:
            raise ValueError(
                f"{checkpoint} has no evaluator yet, and the data the model was trained on "
                f"({named or 'not recorded in its config.json'}) is not here to train one on. Put that "
                f"folder back (a synthetic set is regenerated by `python -m mmdemo data` with its preset, "
                f"count and seed), or pass {TRAIN_ON_DATA_FLAG} to train the evaluator on the train split "
                f"of {data} instead (recorded in {folder}/config.json)"
            )
        log.warning("training the evaluator on %s, not on the model's training data (%s)", data, named)
        source = Path(data)
    log.info("training the evaluator on the training split of %s", source)
    images, image_labels, waves, voice_labels = judge_arrays(
        open_samples(source, "train")[:EVALUATOR_SAMPLES]
    )
    evaluator = train_evaluator(images, image_labels, waves, voice_labels)
    evaluator.info = {
        "trained_on": training_record(source, named),
        "ceiling": measure_judges(evaluator, source, "test"),
    }
    evaluator.save(folder)
    return Evaluator.load(folder, device)
