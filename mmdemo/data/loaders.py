"""Reading datasets into model-ready tensors.

Three layouts are understood, all turned into the same `Sample` records:
  * the dataset folder of DESIGN.md (`metadata.csv` + images/ + audio/),
  * CelebA (`list_attr_celeba.txt` + `img_align_celeba/`), attributes mapped
    onto the schema where CelebA has them, descriptions written from those,
  * a plain folder of images (any depth) with optional same-name `.txt`
    descriptions and `.wav` voices; attributes are read from what a
    description states, faces are found and cropped as the app crops them,
  * (see `open_samples`) whichever of these a folder holds.
`MultimodalDataset` turns samples into tensors (augmenting when asked) and
`collate` batches them with presence masks, so a missing modality is simply
absent from the batch.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from mmdemo.schema import ATTRIBUTES, BY_NAME, NAMES, SPLITS, to_indices
from mmdemo.synth.descriptions import applicable_attributes, describe

REQUIRED_COLUMNS = ("id", "split", "image", "text", "audio", *NAMES)
IMAGE_SIZE = 64


@dataclass
class Sample:
    """One person-sample; a modality is None when the sample lacks it."""

    id: str
    split: str
    person_id: str
    image: Path | None
    text: str | None
    audio: Path | None
    attrs: dict[str, str]  # schema strings; unknown attributes absent
    mentions: tuple[str, ...] = ()  # attributes the text states
    voice: dict[str, str] = field(default_factory=dict)  # voice_* columns, when known
    crop: str = "full"  # how to crop the image: full frame, centre square or detected face
    source: str = ""  # the dataset it comes from (metadata.csv's optional `source` column); readers
    # weigh sources equally within each attribute value

    def has(self, modality: str) -> bool:
        """Whether the sample has `modality` ("image", "text" or "voice", whose file is `audio`)."""
        return getattr(self, "audio" if modality == "voice" else modality) is not None


class DatasetError(ValueError):
    """A dataset row or file that cannot be used; the message names the row and the problem."""


# ------------------------------------------------------------------ layouts
def read_folder(root: str | Path) -> list[Sample]:
    """Samples of a dataset folder (metadata.csv format); validates every row."""
    root = Path(root)
    path = root / "metadata.csv"
    if not path.is_file():
        raise DatasetError(f"{root} has no metadata.csv; make one with `python -m mmdemo data --out {root}`")
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise DatasetError(f"{path}: missing columns {', '.join(missing)}")
            return [_row_to_sample(root, line, row) for line, row in enumerate(reader, start=2)]
    except (csv.Error, UnicodeDecodeError) as e:
        raise DatasetError(f"{path}: malformed CSV ({e})") from None


def _row_to_sample(root: Path, line: int, row: dict) -> Sample:
    where = f"metadata.csv line {line} (id {row.get('id')!r})"
    if None in row or any(v is None for v in row.values()):
        raise DatasetError(f"{where}: wrong number of fields")
    if row["split"] not in SPLITS:
        raise DatasetError(f"{where}: split {row['split']!r} is not one of {', '.join(SPLITS)}")
    attrs = {}
    for a in ATTRIBUTES:
        value = row[a.name].strip()
        if value:
            try:
                a.index(value)
            except ValueError as e:
                raise DatasetError(f"{where}: {e}") from None
            attrs[a.name] = value
    files = {}
    for col in ("image", "audio"):
        rel = row[col].strip()
        files[col] = (root / rel) if rel else None
        if files[col] is not None and not files[col].is_file():
            raise DatasetError(f"{where}: {col} file {rel!r} does not exist")
    mentions = tuple(m for m in row.get("text_mentions", "").split(";") if m)
    unknown = [m for m in mentions if m not in BY_NAME]
    if unknown:
        raise DatasetError(f"{where}: text_mentions names unknown attributes {unknown}")
    text = row["text"].strip() or None
    return Sample(
        id=row["id"],
        split=row["split"],
        person_id=row.get("person_id") or row["id"],
        image=files["image"],
        text=text,
        audio=files["audio"],
        attrs=attrs,
        mentions=mentions if text else (),
        voice={k: v for k, v in row.items() if k.startswith("voice_") and v},
        source=(row.get("source") or "").strip(),
    )


CELEBA_ATTR_FILE = "list_attr_celeba.txt"
CELEBA_IMAGES = "img_align_celeba"
CELEBA_PARTITION_FILE = "list_eval_partition.txt"
_CELEBA_HAIR = {"Black_Hair": "black", "Brown_Hair": "brown", "Blond_Hair": "blond", "Gray_Hair": "gray"}


def celeba_attributes(flags: dict[str, int]) -> dict[str, str]:
    """CelebA's +1/-1 flags -> the schema attributes CelebA can tell."""
    on = {k for k, v in flags.items() if v == 1}
    a = {
        "Male": "1" if "Male" in on else "0",
        "age_group": "young" if "Young" in on else "adult",
        "emotion": "happy" if "Smiling" in on else "neutral",
        "Eyeglasses": "1" if "Eyeglasses" in on else "0",
        "Beard": "0" if "No_Beard" in on else "1",
        "Wearing_Hat": "1" if "Wearing_Hat" in on else "0",
    }
    hair = [colour for key, colour in _CELEBA_HAIR.items() if key in on]
    if len(hair) == 1:  # CelebA leaves hair colour unmarked or marks two in many rows
        a["hair_color"] = hair[0]
    if "Pale_Skin" in on:
        a["skin_tone"] = "light"
    return a


def read_celeba(root: str | Path) -> list[Sample]:
    """Samples of a CelebA folder: list_attr_celeba.txt + img_align_celeba/ (+ list_eval_partition.txt)."""
    root = Path(root)
    attr_path = root / CELEBA_ATTR_FILE
    lines = attr_path.read_text(encoding="utf-8").splitlines()
    if len(lines) < 3:
        raise DatasetError(f"{attr_path}: expected a count line, a header line and rows")
    header = lines[1].split()
    partition = _celeba_partition(root)
    samples = []
    for line_no, line in enumerate(lines[2:], start=3):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != len(header) + 1 or any(p not in ("1", "-1") for p in parts[1:]):
            raise DatasetError(
                f"{attr_path} line {line_no}: expected a file name and {len(header)} flags of 1/-1"
            )
        name = parts[0]
        image = root / CELEBA_IMAGES / name
        if not image.is_file():
            raise DatasetError(f"{attr_path} line {line_no}: image {CELEBA_IMAGES}/{name} does not exist")
        attrs = celeba_attributes(dict(zip(header, map(int, parts[1:]))))
        text, mentions = describe(attrs, _stable_rng(name), mentions=list(attrs))
        split = partition.get(name) or _hash_split(name)
        samples.append(
            Sample(
                id=Path(name).stem,
                split=split,
                person_id=Path(name).stem,
                image=image,
                text=text,
                audio=None,
                attrs=attrs,
                mentions=mentions,
                crop="centre",
            )
        )
    return samples


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")


def read_plain_folder(root: str | Path) -> list[Sample]:
    """Samples of a plain folder: `NAME.png|jpg|...` with optional `NAME.txt` and `NAME.wav|flac|...` beside
    it (a description or voice alone is a sample too). The split is a stable hash of the name."""
    from mmdemo.synth.descriptions import parse_description

    root = Path(root)
    stems: dict[Path, dict[str, Path]] = {}
    for f in sorted(root.rglob("*")):
        kind = (
            "image"
            if f.suffix.lower() in IMAGE_SUFFIXES
            else "text"
            if f.suffix.lower() == ".txt"
            else "audio"
            if f.suffix.lower() in AUDIO_SUFFIXES
            else None
        )
        if kind and f.is_file() and not any(part.startswith(".") for part in f.relative_to(root).parts):
            stems.setdefault(f.with_suffix(""), {}).setdefault(kind, f)
    samples = []
    for stem, files in stems.items():
        key = stem.relative_to(root).as_posix()
        text = files["text"].read_text(encoding="utf-8", errors="replace").strip() if "text" in files else ""
        attrs = parse_description(text) if text else {}
        samples.append(
            Sample(
                id=key.replace("/", "__"),
                split=_hash_split(key),
                person_id=key,
                image=files.get("image"),
                text=text or None,
                audio=files.get("audio"),
                attrs=attrs,
                mentions=tuple(attrs),
                crop="face",
            )
        )
    return [s for s in samples if s.image or s.text or s.audio]


def _celeba_partition(root: Path) -> dict[str, str]:
    path = root / CELEBA_PARTITION_FILE
    if not path.is_file():
        return {}
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1] in ("0", "1", "2"):
            out[parts[0]] = SPLITS[int(parts[1])]
    return out


def _stable_rng(key: str) -> np.random.Generator:
    return np.random.default_rng(int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little"))


def _hash_split(key: str) -> str:
    """80/10/10 split that depends only on the key, so it never changes between runs."""
    bucket = int(hashlib.sha256(key.encode()).hexdigest(), 16) % 10
    return "train" if bucket < 8 else ("val" if bucket == 8 else "test")


def open_samples(root: str | Path, split: str | None = None) -> list[Sample]:
    """Samples of whatever dataset layout `root` holds, optionally one split ('all' = every split)."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(
            f"{root} is not a folder; pass a dataset folder (see `python -m mmdemo data --help`)"
        )
    if (root / "metadata.csv").is_file():
        samples = read_folder(root)
    elif (root / CELEBA_ATTR_FILE).is_file():
        samples = read_celeba(root)
    else:
        samples = read_plain_folder(root)
        if not samples:
            raise DatasetError(
                f"{root} holds no metadata.csv, no {CELEBA_ATTR_FILE} and no images, "
                f"descriptions (.txt) or voices (.wav); see README 'Train on your own data'"
            )
    if split in (None, "all"):
        return samples
    if split not in SPLITS:
        raise DatasetError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)} or all")
    return [s for s in samples if s.split == split]


# ------------------------------------------------------------------ loading
def load_image(sample: Sample, size: int = IMAGE_SIZE) -> np.ndarray:
    """The sample's face as uint8 (size, size, 3) RGB."""
    data = cv2.imread(str(sample.image), cv2.IMREAD_COLOR)
    if data is None:
        raise DatasetError(f"sample {sample.id}: cannot read image {sample.image}")
    rgb = cv2.cvtColor(data, cv2.COLOR_BGR2RGB)
    if sample.crop == "face":  # as the app frames a photo: the largest detected face, with margin
        from mmdemo.data.preprocess import prepare_image

        return prepare_image(rgb, size).crop
    if sample.crop == "centre":
        h, w = rgb.shape[:2]
        s = min(h, w)
        rgb = rgb[(h - s) // 2 : (h - s) // 2 + s, (w - s) // 2 : (w - s) // 2 + s]
    return cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA)


def load_audio(sample: Sample) -> np.ndarray:
    """The sample's voice as float32 mono 16 kHz."""
    from mmdemo.audio import read_audio, to_mono_16k

    try:
        return to_mono_16k(*read_audio(sample.audio))
    except ValueError as e:
        raise DatasetError(f"sample {sample.id}: {e}") from None


class MultimodalDataset(Dataset):
    """Samples -> dicts of tensors; `augment` turns on the train-time augmentations."""

    def __init__(
        self,
        samples: Sequence[Sample],
        *,
        image_size: int = IMAGE_SIZE,
        augment: bool = False,
        seed: int = 0,
        text_choices: Sequence[Sequence[str]] | None = None,
    ):
        self.samples = list(samples)
        self.image_size, self.augment, self.seed = image_size, augment, seed
        # Optional fixed wordings per sample to re-sample from (training keeps their
        # text-encoder states cached); without them text is re-worded freely.
        self.text_choices = text_choices
        self.epoch = 0  # mixed into the augmentation seed so each epoch differs, reproducibly

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> dict:
        from mmdemo.audio import MAX_SECONDS, SAMPLE_RATE
        from mmdemo.data import augment as aug

        s = self.samples[i]
        rng = np.random.default_rng([self.seed, self.epoch, i])
        item: dict = {
            "index": i,
            "id": s.id,
            "person_id": s.person_id,
            "attrs": torch.tensor(to_indices(s.attrs), dtype=torch.long),
            "mentions": torch.tensor([n in s.mentions for n in NAMES], dtype=torch.bool),
        }
        if s.image is not None:
            img = load_image(s, self.image_size)
            if self.augment:
                img = aug.augment_image(img, rng)
            item["image"] = torch.from_numpy(img).permute(2, 0, 1).float().div(255.0)
        if s.text is not None:
            text = s.text
            if self.augment and self.text_choices is not None:
                options = self.text_choices[i]
                text = options[int(rng.integers(len(options)))]
            elif self.augment:
                text = aug.augment_text(s.attrs, s.mentions, text, rng)
            item["text"] = text
        if s.text is not None and applicable_attributes(s.attrs):
            # what the text decoder learns to write: every known attribute, wording drawn at random.
            # Only for people who come with a description: a real photo labelled with two attributes
            # would teach the decoder to describe everyone in two words.
            item["target_text"] = describe(s.attrs, rng, mentions=applicable_attributes(s.attrs))[0]
        if "voice_variant" in s.voice:
            item["voice_variant"] = s.voice["voice_variant"]
            item["voice_params"] = torch.tensor(
                [float(s.voice.get(f"voice_{k}", "nan")) for k in ("pitch", "rate", "range", "volume")]
            )
        if s.audio is not None:
            wave = load_audio(s)
            if self.augment:
                wave = aug.augment_audio(wave, rng)
            item["wave"] = torch.from_numpy(np.ascontiguousarray(wave[: int(MAX_SECONDS * SAMPLE_RATE)]))
        return item


def collate(items: list[dict]) -> dict:
    """Batch of dicts -> tensors with presence masks (`has_image`, `has_text`, `has_voice`)."""
    n = len(items)
    batch: dict = {
        "index": torch.tensor([it["index"] for it in items]),
        "id": [it["id"] for it in items],
        "person_id": [it["person_id"] for it in items],
        "attrs": torch.stack([it["attrs"] for it in items]),
        "mentions": torch.stack([it["mentions"] for it in items]),
    }
    batch["has_image"] = torch.tensor(["image" in it for it in items])
    if batch["has_image"].any():
        shape = next(it["image"].shape for it in items if "image" in it)
        batch["image"] = torch.stack([it.get("image", torch.zeros(shape)) for it in items])
    batch["has_text"] = torch.tensor(["text" in it for it in items])
    batch["text"] = [it.get("text") for it in items]
    batch["target_text"] = [it.get("target_text") for it in items]
    batch["voice_variant"] = [it.get("voice_variant") for it in items]
    batch["voice_params"] = torch.stack(
        [it.get("voice_params", torch.full((4,), float("nan"))) for it in items]
    )
    batch["has_voice"] = torch.tensor(["wave" in it for it in items])
    if batch["has_voice"].any():
        lengths = [len(it["wave"]) if "wave" in it else 0 for it in items]
        wave = torch.zeros(n, max(lengths))
        for j, it in enumerate(items):
            if "wave" in it:
                wave[j, : lengths[j]] = it["wave"]
        batch["wave"], batch["wave_len"] = wave, torch.tensor(lengths)
    return batch


def add_log_mel(batch: dict) -> dict:
    """Log-mel features of the batch's waveforms (`mel`, `mel_len`), computed batched on their device.

    Done per batch rather than per item: one batched STFT costs a fraction of many small ones."""
    from mmdemo.audio import HOP_LENGTH, log_mel

    if "wave" in batch:
        batch["mel"] = log_mel(batch["wave"])
        frames = torch.div(batch["wave_len"], HOP_LENGTH, rounding_mode="floor") + 1
        batch["mel_len"] = torch.where(batch["has_voice"].to(frames.device), frames, torch.zeros_like(frames))
    return batch
