"""Fitting the lone readers: per modality, a linear correction of the latent's attribute reading when
that modality is the only input (`FusionAutoencoder.lone_evidence`, `ModelConfig.lone_readers`).

One attribute head reads the latent of every subset of inputs. Fused with a face and a description,
the latent knows a person's age and expression; from a voice alone it holds them too, but where the
head, trained on every subset at once, does not draw its lines. On the test split of a checkpoint the
README's command trained, a linear probe of the voice-alone latents read age at 0.94 and expression at
0.97 where the head read 0.88 and 0.89. How each single input is read matters twice in the app: the
attributes shown for it, and the agreement table's "same person?" probability, whose attribute term
compares two single inputs' readings (text-voice ROC AUC 0.974 -> 0.983 with a probe's readings).

The rest of the network is frozen, so the fit is convex: per modality, a multinomial logistic regression
per attribute over the train split's lone latents, with the latent's logits (and the feature readers')
as a fixed offset, solved with L-BFGS like the feature readers (`readers.fit`). Its L2 penalty is chosen
per attribute by balanced accuracy on the val split, where "no correction" competes too (and wins ties),
so an attribute the head already reads well alone keeps the head's reading.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from mmdemo import checkpoint as ckpt
from mmdemo.data.loaders import Sample, open_samples
from mmdemo.model.network import LONE_READERS_FILE, FusionAutoencoder, load_network
from mmdemo.runtime import resolve_device
from mmdemo.schema import ATTRIBUTE_SIZES, ATTRIBUTES, MODALITIES, NAMES, observable
from mmdemo.training import readers
from mmdemo.training.refit import with_layers

log = logging.getLogger(__name__)

PENALTIES = (1e-4, 1e-3, 1e-2)  # per squared weight; the loss is a sum over attributes
# people read per split and modality, a seeded sample: enough for a 64-d linear fit per attribute, and a
# minute or two at the end of a training on 2 cores
MAX_PEOPLE = {"train": 6000, "val": 2000}


def key_of(modality: str) -> str:
    """The name the fit gives a modality's lone reader: the network keeps what it may correct in the
    buffer `_<key>_observes`."""
    return f"lone_{modality}"


def fit_lone_readers(
    net: FusionAutoencoder,
    data: Sequence[str | Path],
    *,
    modalities: Sequence[str] = MODALITIES,
    seed: int = 0,
    progress: bool = False,
) -> tuple[FusionAutoencoder, dict]:
    """(network, record): `net` with a lone reader for each of `modalities` whose reading alone it
    improves on the val split of `data` (the others have none), fitted on their train split; a
    modality not asked for or not in `data` keeps the reader `net` had; every other weight as it was. The
    record holds each modality's penalties and val balanced accuracies."""
    folders = [Path(d) for d in data]
    rng = np.random.default_rng(seed)
    splits = {split: _sample(folders, split, cap, rng) for split, cap in MAX_PEOPLE.items()}
    if not splits["train"] or not splits["val"]:
        raise ValueError(
            f"the lone readers are fitted on the train split and chosen on the val split of "
            f"{', '.join(map(str, folders))}, which have {len(splits['train'])} and "
            f"{len(splits['val'])} people"
        )
    # zero readers for every modality: the network reads as without them, and holds in
    # `_<key_of(m)>_observes` what each may correct
    base = with_layers(net, drop=True, lone_readers=list(MODALITIES))
    fitted, record = {}, {"data": [str(f) for f in folders], "modalities": {}}
    for m in modalities:
        given = {split: [s for s in people if s.has(m)] for split, people in splits.items()}
        if not given["train"] or not given["val"]:
            record["modalities"][m] = {"skipped": "no train or val sample has this input"}
            continue
        rows = {split: _lone_rows(base, people, m, progress) for split, people in given.items()}
        weights, entry = _fit_one(base, m, rows, given)
        record["modalities"][m] = entry
        if any(value is not None for value in entry["l2"].values()):
            fitted[m] = weights
    refitted = {m for m, entry in record["modalities"].items() if "skipped" not in entry}
    for m in set(net.lone_readers) - refitted:  # not asked for, or no data for it: kept as it was
        layer = net.lone_readers[m]
        fitted[m] = (layer.weight.detach().clone(), layer.bias.detach().clone())
    out = with_layers(net, drop=True, lone_readers=[m for m in MODALITIES if m in fitted])
    for m, (w, b) in fitted.items():
        layer = out.lone_readers[m]
        layer.weight.data.copy_(w.to(layer.weight))
        layer.bias.data.copy_(b.to(layer.bias))
    record["lone_readers"] = list(out.config.lone_readers)
    return out, record


def fit_checkpoint(
    folder: str | Path, data: Sequence[str | Path], *, device: str = "auto", progress: bool = False
) -> dict:
    """Fits the lone readers of the checkpoint at `folder` on `data` and rewrites its config and
    weights (atomically) and `LONE_READERS_FILE`. The calibration, whose same-person curves weigh what
    single inputs are read as, must be refitted after (`train` and the `fit-lone-readers` command do)."""
    folder = Path(folder)
    net = load_network(folder, resolve_device(device))
    net, record = fit_lone_readers(net, data, progress=progress)
    ckpt.rewrite_network(folder, net, config=True)
    ckpt.atomic_write_json(folder / LONE_READERS_FILE, record)
    return record


def _sample(folders: list[Path], split: str, cap: int, rng: np.random.Generator) -> list[Sample]:
    people = [s for f in folders for s in open_samples(f, split)]
    return [people[i] for i in sorted(rng.permutation(len(people))[:cap])]


def _lone_rows(
    net: FusionAutoencoder, samples: list[Sample], modality: str, progress: bool
) -> readers.ReaderRows:
    """`samples` read from `modality` alone: their latents as the reader's input, the latent's and the
    feature readers' logits folded into the offsets."""
    from tqdm import tqdm

    with tqdm(total=len(samples), desc=f"lone {modality} rows", disable=not progress, unit="sample") as bar:
        rows = readers.read_rows(
            net,
            samples,
            subsets=lambda available: [(modality,)] if modality in available else [],
            progress=lambda n: bar.update(n - bar.n),
        )
    rows = readers.fixed_except(net, rows, set())
    targets = rows.targets
    if modality == "text":  # a description teaches only what it states: the rest is unknown (-1)
        stated = torch.tensor(
            [[a.name in samples[i].mentions for a in ATTRIBUTES] for i in rows.sample.tolist()]
        )
        targets = torch.where(stated.reshape(targets.shape), targets, torch.full_like(targets, -1))
    present = torch.ones(len(rows), dtype=torch.bool)
    return replace(rows, tokens={key_of(modality): (rows.mu, present)}, targets=targets)


def _fit_one(net: FusionAutoencoder, modality: str, rows: dict, samples: dict) -> tuple[tuple, dict]:
    """The chosen (weight, bias) of one modality's reader and its record. Only the attributes the
    modality carries are scored: the reader's other logits are masked to zero."""
    key = key_of(modality)
    sources = {s: readers.row_sources(samples[s], rows[s].sample.tolist()) for s in rows}
    carried = set(observable(modality))

    def scores(weights) -> dict[str, float]:
        accuracies = readers.balanced_accuracies(net, weights, rows["val"], sources["val"])
        return {name: accuracies[name] for name in NAMES if name in carried and name in accuracies}

    zero = {
        key: (torch.zeros(sum(ATTRIBUTE_SIZES), rows["train"].mu.shape[1]), torch.zeros(sum(ATTRIBUTE_SIZES)))
    }
    fits = [(None, zero, scores(zero))]  # no correction first: it keeps every tie
    for penalty in PENALTIES:
        weights = readers.fit(net, rows["train"], l2=penalty, sources=sources["train"], keys=[key])
        fits.append((penalty, weights, scores(weights)))
        log.info("lone %s reader, l2=%g: val balanced accuracy %s", modality, penalty, fits[-1][2])
    chosen, penalties = readers.best_per_attribute(fits)
    # an attribute the val split cannot score (too few rows that know it) keeps the head's reading
    w, b = (t.clone() for t in chosen[key])
    slices = dict(zip(NAMES, torch.arange(sum(ATTRIBUTE_SIZES)).split(ATTRIBUTE_SIZES)))
    for name in carried - set(fits[0][2]):
        w[slices[name]], b[slices[name]], penalties[name] = 0.0, 0.0, None
    entry = {
        "train_rows": len(rows["train"]),
        "val_rows": len(rows["val"]),
        "l2": {name: penalties[name] for name in NAMES if name in carried},
        "val_balanced_accuracy_before": fits[0][2],
        "val_balanced_accuracy": {name: max(f[2][name] for f in fits if name in f[2]) for name in fits[0][2]},
    }
    return (w, b), entry
