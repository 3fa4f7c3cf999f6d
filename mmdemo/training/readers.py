"""Fitting the attribute readers to convergence on a model that is otherwise finished.

Each reader is a linear head on its modality's frozen-feature token whose logits are added to the
latent's attribute logits (`FusionAutoencoder.attribute_readers`). The training loop teaches them
the same thing by SGD, `CE(latent head's logits (detached) + reader logits)`, but a fine-tune's few
hundred steps at a low learning rate leave them far from the optimum: the latent then reads a real
face's age or expression worse than a logistic regression on the same features does.

Here the rest of the network is frozen, so that objective is a convex problem: a multinomial
logistic regression per attribute with the latent's logits as a fixed offset, over the training
rows' feature tokens. It is solved full-batch with L-BFGS, with two changes that matter for real
people:
- classes are weighted inversely to their frequency (per attribute), so a reader does not learn
  that nearly everyone is an adult without glasses; the real sets are that skewed;
- an L2 penalty on the weights, whose strength is chosen per attribute on a validation split: the
  objective is a sum of independent problems, one per attribute, so each attribute may keep the fit
  whose penalty reads it best (a voice's age, from few seniors, wants a far stronger penalty than
  its gender).
Rows are read under the subsets the app meets: the feature-carrying modality alone and everything
the sample has together, so the readers also behave when a description or voice joins the face.

A network with latent gates (`ModelConfig.latent_gates`) also fits, per reader, how far the latent's
logits are trusted when that modality is the only input: logits = trust * latent + reader, with
trust = 2 * sigmoid(gate(token)). This is no longer convex, but it starts at trust 1 (the convex
problem above) and L-BFGS takes it from there. A real voice needs it: the latent, taught ages from
eSpeak voices only, reads a real speaker's age with confident wrong logits that the reader's penalised
weights cannot outvote (on the real val split, a reader over a fixed latent reads a voice's age at
0.53, the same reader without the latent at 0.68, and synthetic voices need the latent).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from mmdemo.data.features import cached_face_crops, cached_or_computed
from mmdemo.data.loaders import Sample, load_audio, open_samples
from mmdemo.model.inputs import network_inputs
from mmdemo.model.network import FEATURE_TOKENS, PIXEL_EVIDENCE, FusionAutoencoder
from mmdemo.model.text import shared_encoder
from mmdemo.schema import ATTRIBUTE_SIZES, ATTRIBUTES, MODALITIES, NAMES, to_indices

log = logging.getLogger(__name__)

READERS_FILE = "readers.json"  # beside the weights: how the readers were fitted and how they scored
L2_CHOICES = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2)  # penalty per squared weight; the loss is a sum over attributes
DEFAULT_L2 = 1e-5
# per feature key: the reader's (logits, dim) weight and (logits,) bias; under `gate_key(key)` the
# latent gate's, for a network that has them
Weights = dict[str, tuple[torch.Tensor, torch.Tensor]]
GATE = "/gate"


def gate_key(key: str) -> str:
    return key + GATE


def reader_of(key: str) -> str:
    """The feature key a weights key belongs to (a gate's or a reader's own)."""
    return key.removesuffix(GATE)


@dataclass
class ReaderRows:
    """Rows to fit or score the readers on: per feature key, (N, dim) tokens and (N,) presence; the
    (N, logits) offsets (the latent's logits plus the pixel reader's, which a linear reader's fit
    holds fixed) and (N, attributes) value indices (-1 unknown). `pixel`: the pixel reader's part of
    the offsets; `sample`: each row's index in the samples read; `with_image`: rows read with the face;
    `latent`: the latent's part of the offsets and `alone`: rows read from one modality (what the
    latent gates scale); `mu`: the fused latents themselves (what the lone readers read)."""

    tokens: dict[str, tuple[torch.Tensor, torch.Tensor]]
    offsets: torch.Tensor
    targets: torch.Tensor
    pixel: torch.Tensor | None = None
    sample: torch.Tensor | None = None
    with_image: torch.Tensor | None = None
    latent: torch.Tensor | None = None
    alone: torch.Tensor | None = None
    mu: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.targets)

    @classmethod
    def joined(cls, parts: Sequence[ReaderRows]) -> ReaderRows:
        keys = {k for p in parts for k in p.tokens}
        tokens = {}
        for key in keys:
            width = next(p.tokens[key][0].shape[1] for p in parts if key in p.tokens)
            values = [p.tokens[key][0] if key in p.tokens else torch.zeros(len(p), width) for p in parts]
            present = [
                p.tokens[key][1] if key in p.tokens else torch.zeros(len(p), dtype=torch.bool) for p in parts
            ]
            tokens[key] = (torch.cat(values), torch.cat(present))
        cat = lambda name: torch.cat([getattr(p, name) for p in parts])  # noqa: E731
        optional = ("pixel", "sample", "with_image", "latent", "alone", "mu")
        extra = {n: cat(n) for n in optional if all(getattr(p, n) is not None for p in parts)}
        return cls(tokens, cat("offsets"), cat("targets"), **extra)


def _targets(samples: Sequence[Sample]) -> torch.Tensor:
    return torch.tensor([to_indices(s.attrs) for s in samples], dtype=torch.long).reshape(
        len(samples), len(ATTRIBUTES)
    )


def _subsets(available: tuple[str, ...]) -> list[tuple[str, ...]]:
    """The subsets a sample is read under: each feature-carrying modality alone, and all it has."""
    singles = [(m,) for m in available if m in FEATURE_TOKENS]
    return list(dict.fromkeys([*singles, available])) if singles else []


@torch.no_grad()
def read_rows(
    net: FusionAutoencoder,
    samples: Sequence[Sample],
    *,
    batch_size: int = 128,
    progress: Callable[[int], None] | None = None,
    subsets: Callable[[tuple[str, ...]], list[tuple[str, ...]]] | None = None,
) -> ReaderRows:
    """The reader rows of `samples` (features from each folder's cache where it has them), read by
    the network in eval mode as the app reads people. subsets: the subsets a sample with the given
    modalities is read under (default: each feature-carrying modality alone, and all it has)."""
    subsets_of = _subsets if subsets is None else subsets
    device = next(net.parameters()).device
    text_encoder = shared_encoder(device)
    # the frozen features the network reads (a face's dlib features cost a detection each)
    reads_face, reads_voice = net.config.face_feature_dim > 0, net.config.speaker_feature_dim > 0
    was_training = net.training
    net.eval()
    groups: dict[tuple[str, ...], list[int]] = {}
    for i, s in enumerate(samples):
        available = tuple(m for m in MODALITIES if s.has(m))
        groups.setdefault(available, []).append(i)
    parts, done = [], 0
    for available, members in groups.items():
        chosen_subsets = subsets_of(available)
        needed = {m for subset in chosen_subsets for m in subset}  # only what some subset reads is loaded
        if not chosen_subsets:
            done += len(members)
            continue
        for start in range(0, len(members), batch_size):
            index = torch.tensor(members[start : start + batch_size])
            chunk = [samples[i] for i in index]
            waves = [load_audio(s) for s in chunk] if "voice" in needed else None
            face_features = cached_or_computed(chunk, "face") if "image" in needed and reads_face else None
            voice_features = (
                cached_or_computed(chunk, "speaker", waves=waves) if waves and reads_voice else None
            )
            given = network_inputs(
                net.config,
                text_encoder,
                device,
                cached_face_crops(chunk, net.config.image_size) if "image" in needed else None,
                [s.text for s in chunk] if "text" in needed else None,
                waves,
                face_features=face_features,
                speaker_features=voice_features,
            )
            tokens = net.tokens(given.tensors)
            targets = _targets(chunk)
            for subset in chosen_subsets:
                chosen = net.subset(tokens, subset)
                fused = net.fuse(chosen)
                feature_tokens = {
                    FEATURE_TOKENS[m]: (tokens[m][0][:, -1].float().cpu(), tokens[m][1][:, -1].cpu())
                    for m in subset
                    if FEATURE_TOKENS.get(m) in net.attribute_readers
                }
                latent = net.attribute_head(fused.mu).float().cpu()
                pixel = torch.zeros_like(latent)
                if PIXEL_EVIDENCE in chosen:
                    pixel = chosen[PIXEL_EVIDENCE][0].float().cpu()
                with_image = torch.full((len(chunk),), "image" in subset)
                alone = torch.full((len(chunk),), len(subset) == 1)
                mu = fused.mu.float().cpu()
                rows = ReaderRows(
                    feature_tokens, latent + pixel, targets, pixel, index, with_image, latent, alone, mu
                )
                parts.append(rows)
            done += len(chunk)
            if progress is not None:
                progress(done)
    net.train(was_training)
    if not parts:
        raise ValueError("none of the samples has a face or voice whose features a reader could read")
    return ReaderRows.joined(parts)


def linear_logits(net: FusionAutoencoder, weights: Weights, rows: ReaderRows) -> torch.Tensor:
    """The corrected attribute logits of `rows` with readers `weights`; each reader only adds to the
    attributes its modality carries (the network's `_<key>_observes` masks), and a latent gate only
    scales the latent's logits of rows read from its modality alone (`FusionAutoencoder.latent_trust`)."""
    logits = rows.offsets.clone()
    for key, (w, b) in weights.items():
        base = reader_of(key)
        if base not in rows.tokens:
            continue
        x, present = rows.tokens[base]
        observes = getattr(net, f"_{base}_observes").cpu()
        if key == base:
            logits = logits + (x @ w.T + b) * observes * present[:, None]
        elif rows.latent is not None and rows.alone is not None:
            trust = (2 * torch.sigmoid(x @ w.T + b) - 1) * observes
            logits = logits + trust * rows.latent * (present & rows.alone)[:, None]
    return logits


def row_weights(targets: torch.Tensor, sources: Sequence[str] | None = None) -> torch.Tensor:
    """(N, attributes) weight of each row in its attribute's loss, 0 where the value is unknown, mean 1
    over the rows that know it. Every value an attribute takes gets the same total weight (the
    balanced accuracy the readers are chosen by counts values equally), and within a value every
    source (`sources`: each row's dataset, e.g. metadata.csv's `source` column) gets the same share.
    Without the second rule the largest source decides what a value looks like: CelebA's 20,000
    young / not-young photos taught "adult" from its not-young, seniors among them, and the
    readers lost UTKFace's seniors."""
    if sources is None:
        sources = [""] * len(targets)
    if len(sources) != len(targets):
        raise ValueError(f"{len(sources)} sources for {len(targets)} rows")
    codes = torch.from_numpy(np.unique(np.array(sources, dtype=str), return_inverse=True)[1].reshape(-1))
    out = torch.zeros(targets.shape, dtype=torch.float32)
    for i in range(targets.shape[1]):
        t = targets[:, i]
        n_known = int((t >= 0).sum())
        values = t[t >= 0].unique()
        for value in values:
            of_value = t == value
            in_sources = codes[of_value].unique()
            for src in in_sources:
                cell = of_value & (codes == src)
                out[cell, i] = n_known / (len(values) * len(in_sources) * int(cell.sum()))
    return out


def row_sources(samples: Sequence[Sample], index: Sequence[int]) -> list[str]:
    """The dataset of each row, the rows being `samples[index]` (`ReaderRows.sample`)."""
    return [samples[i].source for i in index]


def weighted_loss(logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Sum over attributes of the weighted mean cross-entropy of the rows that know it; `weights`
    are `row_weights` of those rows."""
    total = logits.new_zeros(())
    for i, lg in enumerate(logits.split(ATTRIBUTE_SIZES, -1)):
        t = targets[:, i]
        known = t >= 0
        if known.any():
            w = weights[known, i].to(lg.dtype)
            ce = F.cross_entropy(lg[known], t[known], reduction="none")
            total = total + (w * ce).sum() / w.sum().clamp_min(1e-12)
    return total


def fit(
    net: FusionAutoencoder,
    rows: ReaderRows,
    *,
    l2: float = DEFAULT_L2,
    max_iter: int = 300,
    sources: Sequence[str] | None = None,
    keys: Sequence[str] | None = None,
) -> Weights:
    """The readers' weights and biases, (logits, dim) and (logits,) per feature key (and the latent
    gates' where `net` has them and `rows` know which rows were read alone), minimising the weighted
    offset cross-entropy (`row_weights`, with each row's source) plus `l2` times the squared weights.
    Does not change `net`. keys: the readers to fit, each a key of `rows.tokens` whose network buffer
    `_<key>_observes` says what it may correct (default: `net`'s feature readers, and their gates)."""
    explicit = keys is not None
    keys = [key for key in (keys if explicit else net.attribute_readers) if _read_by_some_row(rows, key)]
    if not explicit and rows.latent is not None and rows.alone is not None:
        keys += [gate_key(key) for key in keys if key in net.latent_gates]
    weights = {
        key: (
            torch.zeros(sum(ATTRIBUTE_SIZES), rows.tokens[reader_of(key)][0].shape[1], requires_grad=True),
            torch.zeros(sum(ATTRIBUTE_SIZES), requires_grad=True),
        )
        for key in keys
    }
    params = [p for pair in weights.values() for p in pair]
    if not params:
        raise ValueError("no row has a feature token to fit a reader on")
    weights_of_rows = row_weights(rows.targets, sources)
    opt = torch.optim.LBFGS(params, lr=1, max_iter=max_iter, history_size=20, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = weighted_loss(linear_logits(net, weights, rows), rows.targets, weights_of_rows)
        loss = loss + l2 * sum((w**2).sum() for w, _ in weights.values())
        loss.backward()
        return loss

    opt.step(closure)
    return {key: (w.detach(), b.detach()) for key, (w, b) in weights.items()}


def _read_by_some_row(rows: ReaderRows, key: str) -> bool:
    return key in rows.tokens and bool(rows.tokens[key][1].any())


def install(net: FusionAutoencoder, weights: Weights) -> None:
    """Writes fitted weights into the model's readers (keys not fitted keep their weights)."""
    for key, (w, b) in weights.items():
        base = reader_of(key)
        layer = net.attribute_readers[key] if key == base else net.latent_gates[base]
        layer.weight.data.copy_(w.to(layer.weight))
        layer.bias.data.copy_(b.to(layer.bias))


def balanced_accuracies(
    net: FusionAutoencoder, weights: Weights, rows: ReaderRows, sources: Sequence[str] | None = None
) -> dict[str, float]:
    """Per attribute, the balanced accuracy of the corrected reading over the rows that know it; with
    each row's `sources`, the mean over the sources (of at least 20 such rows) of each one's balanced
    accuracy, so that a large synthetic set does not decide alone how a real voice is read."""
    logits = linear_logits(net, weights, rows).split(ATTRIBUTE_SIZES, -1)
    codes = np.unique(
        np.array(sources if sources is not None else [""] * len(rows), dtype=str), return_inverse=True
    )[1]
    codes = torch.from_numpy(codes.reshape(-1))
    out = {}
    for i, a in enumerate(ATTRIBUTES):
        t = rows.targets[:, i]
        scores = []
        for code in codes.unique():
            known = (t >= 0) & (codes == code)
            if known.sum() < 20:
                continue
            pred = logits[i][known].argmax(1)
            truth = t[known]
            scores.append(
                torch.stack([(pred[truth == c] == c).float().mean() for c in truth.unique()]).mean()
            )
        if scores:
            out[a.name] = round(float(torch.stack(scores).mean()), 4)
    return out


def fit_readers(
    net: FusionAutoencoder,
    data: Sequence[str | Path],
    *,
    l2: float | None = None,
    progress: bool = False,
    modalities: Sequence[str] | None = None,
    balance_sources: bool = True,
) -> dict:
    """Fits the readers of `net` on the train split of `data` and installs them. With `l2=None`
    the penalty is chosen among L2_CHOICES per attribute, by that attribute's balanced accuracy on the
    folders' val split (when they have one). `modalities` (for example `("voice",)`) refits only those
    modalities' readers: the others keep their weights and their logits join the fixed offsets, and
    only samples that have one of those modalities are read (new voice data costs no face
    detection). `balance_sources=False` weighs rows by their value only, not by their dataset within it
    (`row_weights`). Returns a record of what was fitted and how it scored."""
    if not net.attribute_readers:
        raise ValueError("this checkpoint has no attribute readers (train it with --real-features)")
    refitted = reader_keys(net, modalities)
    folders = [Path(d) for d in data]
    train = [s for f in folders for s in open_samples(f, "train") if _has_any(s, modalities)]
    val = [s for f in folders for s in open_samples(f, "val") if _has_any(s, modalities)]
    train_rows = fixed_except(net, read_with_progress(net, train, "train", progress), refitted)
    val_rows = fixed_except(net, read_with_progress(net, val, "val", progress), refitted) if val else None
    candidates = [DEFAULT_L2] if l2 is None and val_rows is None else list(L2_CHOICES) if l2 is None else [l2]
    scored = val_rows is not None
    val_sources = (
        row_sources(val, val_rows.sample.tolist()) if scored and val_rows.sample is not None else None
    )
    before = balanced_accuracies(net, _current(net, refitted), val_rows) if scored else {}
    before_by_source = (
        balanced_accuracies(net, _current(net, refitted), val_rows, val_sources) if scored else {}
    )
    fits = []
    # each row's dataset, so that no source outweighs the others within a value (rows built without
    # their sample indices count as one source); each attribute's penalty is chosen by the mean over
    # the val split's sources for the same reason
    balanced = balance_sources and train_rows.sample is not None
    sources = row_sources(train, train_rows.sample.tolist()) if balanced else None
    for penalty in candidates:
        weights = fit(net, train_rows, l2=penalty, sources=sources)
        scores = balanced_accuracies(net, weights, val_rows, val_sources) if scored else {}
        log.info("readers with l2=%g: val balanced accuracy (mean over sources) %s", penalty, scores)
        fits.append((penalty, weights, scores))
    weights, penalties = best_per_attribute(fits)
    install(net, weights)
    return {
        "data": [str(f) for f in folders],
        "readers": sorted(refitted),
        "sources_balanced": balanced,
        "train_rows": len(train_rows),
        "val_rows": len(val_rows) if scored else 0,
        "l2": penalties,
        "val_balanced_accuracy_before": before,
        "val_balanced_accuracy": balanced_accuracies(net, weights, val_rows) if scored else {},
        "val_source_mean_accuracy_before": before_by_source,
        "val_source_mean_accuracy": balanced_accuracies(net, weights, val_rows, val_sources)
        if scored
        else {},
    }


def best_per_attribute(fits: Sequence[tuple[float, Weights, dict[str, float]]]) -> tuple[Weights, dict]:
    """From fits of the same rows under different penalties, (penalty, weights, val balanced accuracy
    per attribute): the weights whose rows for each attribute come from the fit that read that
    attribute best, and the penalty each attribute got. The objective is separable by attribute (each
    attribute's logits and loss involve only its own rows of every reader), so this is the per-attribute
    choice, not a blend. An attribute without a score takes the fit with the best mean score; ties go
    to the earlier (weaker) penalty."""
    mean = lambda scores: float(np.mean(list(scores.values()))) if scores else 0.0  # noqa: E731
    overall = max(range(len(fits)), key=lambda i: (mean(fits[i][2]), -i))
    chosen = {}
    for a in ATTRIBUTES:
        scored = [i for i, (_, _, scores) in enumerate(fits) if a.name in scores]
        chosen[a.name] = max(scored, key=lambda i: (fits[i][2][a.name], -i)) if scored else overall
    slices = dict(zip(NAMES, torch.arange(sum(ATTRIBUTE_SIZES)).split(ATTRIBUTE_SIZES)))
    weights = {}
    for key, (w, b) in fits[overall][1].items():
        w, b = w.clone(), b.clone()
        for name, i in chosen.items():
            w[slices[name]], b[slices[name]] = (
                fits[i][1][key][0][slices[name]],
                fits[i][1][key][1][slices[name]],
            )
        weights[key] = (w, b)
    return weights, {name: fits[i][0] for name, i in chosen.items()}


def current_weights(net: FusionAutoencoder) -> Weights:
    layers = {**net.attribute_readers, **{gate_key(k): g for k, g in net.latent_gates.items()}}
    return {
        key: (layer.weight.detach().float().cpu(), layer.bias.detach().float().cpu())
        for key, layer in layers.items()
    }


def read_with_progress(net: FusionAutoencoder, samples: list[Sample], split: str, progress: bool):
    from tqdm import tqdm

    with tqdm(total=len(samples), desc=f"reader rows ({split})", disable=not progress, unit="sample") as bar:
        return read_rows(net, samples, progress=lambda n: bar.update(n - bar.n))


def reader_keys(net: FusionAutoencoder, modalities: Sequence[str] | None) -> set[str]:
    """The feature keys of the readers to refit: all of `net`'s, or those of `modalities`."""
    if modalities is None:
        return set(net.attribute_readers)
    unknown = [m for m in modalities if FEATURE_TOKENS.get(m) not in net.attribute_readers]
    if unknown or not modalities:
        readable = ", ".join(m for m, key in FEATURE_TOKENS.items() if key in net.attribute_readers)
        asked = ", ".join(unknown) or "nothing"
        raise ValueError(f"no reader to refit for {asked}; this checkpoint has readers for: {readable}")
    return {FEATURE_TOKENS[m] for m in modalities}


def _has_any(sample: Sample, modalities: Sequence[str] | None) -> bool:
    return modalities is None or any(sample.has(m) for m in modalities)


def _current(net: FusionAutoencoder, keys: set[str]) -> Weights:
    return {k: w for k, w in current_weights(net).items() if reader_of(k) in keys}


def fixed_except(net: FusionAutoencoder, rows: ReaderRows, keys: set[str]) -> ReaderRows:
    """`rows` with the readers outside `keys` folded into the offsets, as the latent's logits are:
    a partial refit fits the rest against them and leaves their weights as they are."""
    kept = {k: w for k, w in current_weights(net).items() if reader_of(k) not in keys}
    if not kept:
        return rows
    tokens = {k: v for k, v in rows.tokens.items() if k in keys}
    # a gate acts only on rows read from its modality alone, so a kept gate and a refitted one never
    # scale the same row's latent logits
    return replace(rows, tokens=tokens, offsets=linear_logits(net, kept, rows))
