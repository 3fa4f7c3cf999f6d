"""Independent judges of generated faces and voices.

Small attribute classifiers trained on the training split only, with no
weights shared with the fusion model, so "the face generated from this
description shows a smiling woman" is decided by a model that never saw the
generator. Faces: a small CNN over all schema attributes, trained with blur
so it judges the decoder's softer images fairly. Voices: an MLP over log-mel
statistics for the voice-observable attributes. Stored as safetensors + JSON
(config.json also records what they were trained on and `judge_accuracy` on
held-out real data: the ceiling of every figure they judge; see provenance.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mmdemo import checkpoint as ckpt
from mmdemo.audio import log_mel
from mmdemo.schema import ATTRIBUTES, BY_NAME, UNKNOWN, VOICE_ATTRIBUTES

VOICE_FEATURES = 2 * 64 + 1


class FaceClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        layers, c_in = [], 3
        for c in (32, 64, 96, 128):
            layers += [nn.Conv2d(c_in, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(), nn.MaxPool2d(2)]
            c_in = c
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(128, sum(len(a.values) for a in ATTRIBUTES))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return list(self.head(self.features(x * 2 - 1)).split([len(a.values) for a in ATTRIBUTES], -1))


class VoiceClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.zeros(VOICE_FEATURES))
        self.register_buffer("std", torch.ones(VOICE_FEATURES))
        self.net = nn.Sequential(
            nn.Linear(VOICE_FEATURES, 256),
            nn.ReLU(),
            nn.Dropout(0.1),
            nn.Linear(256, sum(len(BY_NAME[n].values) for n in VOICE_ATTRIBUTES)),
        )

    def forward(self, feats: torch.Tensor) -> list[torch.Tensor]:
        out = self.net((feats - self.mean) / self.std)
        return list(out.split([len(BY_NAME[n].values) for n in VOICE_ATTRIBUTES], -1))


def voice_features(waves: Sequence[np.ndarray]) -> torch.Tensor:
    """(B, 129): mean and std of each log-mel bin over the clip's frames, and its duration in s."""
    rows = []
    for w in waves:
        mel = log_mel(np.asarray(w, np.float32))
        rows.append(torch.cat([mel.mean(0), mel.std(0), torch.tensor([len(w) / 16000.0])]))
    return torch.stack(rows)


def _blur(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = images.copy()
    for i in range(len(out)):
        sigma = rng.uniform(0, 1.6)
        if sigma > 0.3:
            out[i] = cv2.GaussianBlur(out[i], (0, 0), sigma)
    return out


class Evaluator:
    """The two judges, and `info`: what they were trained on and how well they judge real data."""

    def __init__(
        self, face: FaceClassifier, voice: VoiceClassifier, device: torch.device, info: dict | None = None
    ):
        self.face, self.voice, self.device = face.eval().to(device), voice.eval().to(device), device
        self.info = dict(info or {})

    @torch.no_grad()
    def face_attributes(self, images: np.ndarray, batch_size: int = 256) -> list[dict[str, str]]:
        out = []
        for i in range(0, len(images), batch_size):
            x = (
                torch.as_tensor(images[i : i + batch_size], device=self.device).permute(0, 3, 1, 2).float()
                / 255
            )
            logits = self.face(x)
            for row in range(x.shape[0]):
                out.append({a.name: a.values[int(lg[row].argmax())] for a, lg in zip(ATTRIBUTES, logits)})
        return out

    @torch.no_grad()
    def voice_attributes(self, waves: Sequence[np.ndarray]) -> list[dict[str, str]]:
        logits = self.voice(voice_features(waves).to(self.device))
        return [
            {n: BY_NAME[n].values[int(lg[row].argmax())] for n, lg in zip(VOICE_ATTRIBUTES, logits)}
            for row in range(len(waves))
        ]

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        ckpt.atomic_save_tensors(folder / "face.safetensors", self.face.state_dict())
        ckpt.atomic_save_tensors(folder / "voice.safetensors", self.voice.state_dict())
        self.write_config(folder)

    def write_config(self, folder: Path) -> None:
        """config.json: the attributes judged and `info` (provenance and ceiling)."""
        ckpt.atomic_write_json(
            folder / "config.json",
            {
                **self.info,
                "format": 1,
                "face_attributes": [a.name for a in ATTRIBUTES],
                "voice_attributes": list(VOICE_ATTRIBUTES),
            },
        )

    @classmethod
    def load(cls, folder: Path, device: torch.device) -> Evaluator:
        ckpt.refuse_pickles(folder)
        config = ckpt.read_json(folder / "config.json")
        face, voice = FaceClassifier(), VoiceClassifier()
        ckpt.load_state_into(
            face, ckpt.read_tensors(folder / "face.safetensors"), folder / "face.safetensors"
        )
        ckpt.load_state_into(
            voice, ckpt.read_tensors(folder / "voice.safetensors"), folder / "voice.safetensors"
        )
        info = {k: v for k, v in config.items() if k not in ("format", "face_attributes", "voice_attributes")}
        return cls(face, voice, device, info)


def _per_attribute(pred: list[dict[str, str]], labels: np.ndarray, names: Sequence[str]) -> dict:
    """Share of correct judgements per attribute over the rows that label it, their mean, and the rows."""
    out: dict[str, float | int] = {}
    for j, name in enumerate(names):
        known = labels[:, j] != UNKNOWN
        if known.any():
            said = np.array([BY_NAME[name].values.index(p[name]) for p in pred])
            out[name] = float(np.mean(said[known] == labels[known, j]))
    out["mean"] = float(np.mean(list(out.values()))) if out else float("nan")
    out["rows"] = len(labels)
    return out


def judge_accuracy(
    evaluator: Evaluator,
    images: np.ndarray,
    image_labels: np.ndarray,
    waves: Sequence[np.ndarray],
    voice_labels: np.ndarray,
) -> dict:
    """How often the judges name the labelled attributes of real faces and voices: the ceiling of every
    figure they judge. Labels as in `train_evaluator` (class ids, UNKNOWN where unlabelled)."""
    out = {}
    if len(images):
        out["image"] = _per_attribute(
            evaluator.face_attributes(images), image_labels, [a.name for a in ATTRIBUTES]
        )
    if len(waves):
        out["voice"] = _per_attribute(evaluator.voice_attributes(waves), voice_labels, VOICE_ATTRIBUTES)
    return out


def _fit(
    model: nn.Module,
    inputs: torch.Tensor,
    labels: torch.Tensor,
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int,
    transform=None,
) -> None:
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * max(1, len(inputs) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(inputs), generator=gen)
        for i in range(0, len(inputs) - batch_size + 1, batch_size):
            idx = perm[i : i + batch_size]
            x = transform(inputs[idx]) if transform else inputs[idx]
            loss = sum(
                F.cross_entropy(lg, labels[idx, j], ignore_index=UNKNOWN) for j, lg in enumerate(model(x))
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    model.eval()


def train_evaluator(
    images: np.ndarray,
    image_labels: np.ndarray,
    waves: Sequence[np.ndarray],
    voice_labels: np.ndarray,
    *,
    epochs: int = 5,
    seed: int = 0,
) -> Evaluator:
    """images (N, 64, 64, 3) uint8 with (N, 8) class ids; waves with (M, 3) ids for VOICE_ATTRIBUTES."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    face = FaceClassifier()
    if len(images):

        def face_batch(idx_images: torch.Tensor) -> torch.Tensor:
            arr = _blur(idx_images.numpy(), rng)
            if rng.random() < 0.5:
                arr = arr[:, :, ::-1]
            return torch.from_numpy(np.ascontiguousarray(arr)).permute(0, 3, 1, 2).float() / 255

        _fit(
            face,
            torch.from_numpy(images),
            torch.from_numpy(image_labels).long(),
            epochs=epochs,
            lr=3e-3,
            batch_size=128,
            seed=seed,
            transform=face_batch,
        )
    voice = VoiceClassifier()
    if len(waves):
        feats = voice_features(waves)
        voice.mean.copy_(feats.mean(0))
        voice.std.copy_(feats.std(0).clamp_min(1e-3))
        _fit(
            voice,
            feats,
            torch.from_numpy(voice_labels).long(),
            epochs=epochs * 8,
            lr=3e-3,
            batch_size=64,
            seed=seed,
        )
    return Evaluator(face, voice, torch.device("cpu"))
