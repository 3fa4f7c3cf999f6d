"""Training the pixel reader (`mmdemo.model.pixel_reader`) on a network that is otherwise finished.

The reader learns what the rest of the network misses, as the linear readers do: its logits are
added to the latent's and the linear readers' (held fixed: they are the reader's offsets), under
the subsets the app meets (the face alone, and everything a sample has), with classes weighted
inversely to their frequency per attribute (real hats are rare). It sees each training face in the
app's framing (`prepare_image`, cut again from the feature cache's framing) and in the training
loader's (the whole picture), augmented, so a face reads the same whether a user uploads it or the
evaluation loads it. The epoch kept is the one whose validation split reads best; the held-out
real check is never looked at.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from mmdemo.data.augment import augment_image
from mmdemo.data.features import cached_face_crops
from mmdemo.data.loaders import Sample, load_image, open_samples
from mmdemo.model.network import FusionAutoencoder
from mmdemo.model.pixel_reader import PixelReader
from mmdemo.schema import ATTRIBUTE_SIZES
from mmdemo.training import readers

log = logging.getLogger(__name__)

GREY_P = 0.2  # share of training faces shown in grey: webcams in poor light, grey photos


class _Faces:
    """The faces rows are read from: per sample, its crops in each framing, uint8 (N, 64, 64, 3)."""

    def __init__(self, samples: Sequence[Sample], size: int, both_framings: bool):
        self.framings = [cached_face_crops(samples, size)]
        if both_framings:
            self.framings.append(np.stack([load_image(s, size) for s in samples]))

    def batch(self, index: np.ndarray, rng: np.random.Generator | None) -> torch.Tensor:
        """(B, 3, size, size) floats in [0, 1]; augmented (random framing too) when `rng` is given."""
        if rng is None:
            faces = self.framings[0][index]
        else:
            faces = np.stack([self._augmented(i, rng) for i in index])
        return torch.from_numpy(np.ascontiguousarray(faces)).permute(0, 3, 1, 2).float() / 255

    def _augmented(self, i: int, rng: np.random.Generator) -> np.ndarray:
        face = augment_image(self.framings[int(rng.integers(len(self.framings)))][i], rng)
        if rng.random() < GREY_P:
            face = np.repeat(face.mean(2, keepdims=True), 3, 2).astype(np.uint8)
        return face


def _rows_with_faces(net: FusionAutoencoder, samples: list[Sample], progress: bool, split: str):
    """Reader rows of `samples` read with their face: the sample each row is, the offsets the pixel
    reader adds to (latent + linear readers), the targets."""
    rows = readers.read_with_progress(net, samples, split, progress)
    rest = readers.linear_logits(net, readers.current_weights(net), rows) - rows.pixel
    keep = rows.with_image
    return rows.sample[keep].numpy(), rest[keep], rows.targets[keep]


def _balanced(net, logits: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
    rows = readers.ReaderRows({}, logits, targets)
    return readers.balanced_accuracies(net, {}, rows)


def fit_pixel_reader(
    net: FusionAutoencoder,
    data: Sequence[str | Path],
    *,
    epochs: int = 6,
    batch_size: int = 64,
    lr: float = 2e-3,
    seed: int = 0,
    progress: bool = False,
) -> dict:
    """Trains a fresh pixel reader for `net` on the train split of `data`, keeps the epoch that reads
    the val split best (mean balanced accuracy over attributes) and installs it. Returns a record."""
    if net.pixel_reader is None:
        raise ValueError("this network has no pixel reader (ModelConfig.pixel_reader)")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    folders = [Path(d) for d in data]
    train = [s for f in folders for s in open_samples(f, "train") if s.image is not None]
    val = [s for f in folders for s in open_samples(f, "val") if s.image is not None]
    if not train:
        raise ValueError("no training sample has a face")
    size = net.config.image_size
    tr_sample, tr_rest, tr_targets = _rows_with_faces(net, train, progress, "train")
    tr_faces = _Faces(train, size, both_framings=True)
    if val:
        va_sample, va_rest, va_targets = _rows_with_faces(net, val, progress, "val")
        va_faces = _Faces(val, size, both_framings=False)
    observes = net._face_features_observes.cpu()
    weights = readers.row_weights(tr_targets, readers.row_sources(train, tr_sample.tolist()))
    device = next(net.parameters()).device

    def read(model: PixelReader, faces: _Faces, sample: np.ndarray, rest: torch.Tensor) -> torch.Tensor:
        model.eval()
        with torch.no_grad():
            out = [
                model(faces.batch(sample[i : i + 256], None).to(device)).float().cpu()
                for i in range(0, len(sample), 256)
            ]
        return rest + torch.cat(out) * observes

    def score(model: PixelReader) -> tuple[float, dict]:
        if not val:
            return 0.0, {}
        acc = _balanced(net, read(model, va_faces, va_sample, va_rest), va_targets)
        return float(np.mean(list(acc.values()))), acc

    before = _balanced(net, va_rest, va_targets) if val else {}
    model = PixelReader(sum(ATTRIBUTE_SIZES)).to(device)
    steps_per_epoch = max(1, len(tr_sample) // batch_size)
    opt = torch.optim.AdamW(model.parameters(), lr, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=epochs * steps_per_epoch)
    best = (-1.0, None, {}, -1)
    history = []
    for epoch in range(epochs):
        model.train()
        order = rng.permutation(len(tr_sample))
        for step in range(steps_per_epoch):
            rows = order[step * batch_size : (step + 1) * batch_size]
            faces = tr_faces.batch(tr_sample[rows], rng).to(device)
            logits = tr_rest[rows].to(device) + model(faces) * observes.to(device)
            loss = readers.weighted_loss(logits, tr_targets[rows].to(device), weights[rows].to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        mean, acc = score(model)
        history.append({"epoch": epoch + 1, "loss": round(loss.item(), 4), "val_mean": round(mean, 4)})
        log.info("pixel reader epoch %d: loss %.3f, val balanced accuracy %s", epoch + 1, loss.item(), acc)
        if mean >= best[0] or not val:
            best = (mean, copy.deepcopy(model.state_dict()), acc, epoch + 1)
    net.pixel_reader.load_state_dict(best[1])
    return {
        "data": [str(f) for f in folders],
        "train_faces": len(train),
        "train_rows": len(tr_sample),
        "val_rows": len(va_sample) if val else 0,
        "epochs": epochs,
        "best_epoch": best[3],
        "history": history,
        "val_balanced_accuracy_without": before,
        "val_balanced_accuracy": best[2],
    }
