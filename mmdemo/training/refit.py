"""Fitting every attribute reader of a finished network, and refitting a published checkpoint's.

The linear readers come first (`readers.fit_readers`: a convex fit on the frozen-feature tokens),
then the pixel reader (`pixel_fit.fit_pixel_reader`), which learns what the latent and the linear
readers still miss. The pixel reader is silenced before the linear fit so they do not lean on an
older pixel reader that is about to be replaced.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from mmdemo import checkpoint as ckpt
from mmdemo.data.real import TRAINING_DATA_FILE, training_data_record
from mmdemo.model.network import FusionAutoencoder, load_network
from mmdemo.runtime import resolve_device
from mmdemo.training.pixel_fit import fit_pixel_reader
from mmdemo.training.readers import READERS_FILE, fit_readers


def fit_all_readers(
    net: FusionAutoencoder,
    data: Sequence[str | Path],
    *,
    l2: float | None = None,
    progress: bool = False,
    modalities: Sequence[str] | None = None,
    balance_sources: bool = True,
    pixel_epochs: int | None = None,
) -> dict:
    """Fits the linear readers, then the pixel reader if `net` has one; installs both. Returns the
    record `READERS_FILE` keeps (the pixel reader's under "pixel_reader"). `modalities` limits the
    fit to those modalities' readers; the pixel reader, a face's, is refitted only with the image.
    `pixel_epochs`: passes over the training faces (None: `fit_pixel_reader`'s default)."""
    pixel = net.pixel_reader is not None and (modalities is None or "image" in modalities)
    if pixel:
        net.pixel_reader.silence()
    record = fit_readers(
        net, data, l2=l2, progress=progress, modalities=modalities, balance_sources=balance_sources
    )
    if pixel:
        epochs = {} if pixel_epochs is None else {"epochs": pixel_epochs}
        record["pixel_reader"] = fit_pixel_reader(net, data, progress=progress, **epochs)
        if record["pixel_reader"]["val_balanced_accuracy"]:
            record["val_balanced_accuracy"] = record["pixel_reader"]["val_balanced_accuracy"]
    return record


def refit_checkpoint(
    folder: str | Path,
    data: Sequence[str | Path],
    *,
    l2: float | None = None,
    device: str = "auto",
    progress: bool = False,
    pixel_reader: bool = False,
    latent_gates: bool = False,
    modalities: Sequence[str] | None = None,
    balance_sources: bool = True,
) -> dict:
    """Refits the readers of the checkpoint at `folder` and rewrites its weights (atomically) and
    its `READERS_FILE` record; `pixel_reader` adds one to a checkpoint that has none, `latent_gates`
    the readers' gates on the latent (`ModelConfig.latent_gates`). With
    `modalities`, only those readers are refitted and the record keeps the earlier full fit, the
    partial one added to its "refits"."""
    folder = Path(folder)
    if pixel_reader and modalities is not None and "image" not in modalities:
        raise ValueError("a pixel reader reads faces: refit the image readers with it (add image)")
    net = load_network(folder, resolve_device(device))
    added = {
        "pixel_reader": pixel_reader and net.pixel_reader is None,
        "latent_gates": latent_gates and not net.config.latent_gates,
    }
    if any(added.values()):
        net = with_layers(net, **{name: True for name, new in added.items() if new})
    record = fit_all_readers(
        net, data, l2=l2, progress=progress, modalities=modalities, balance_sources=balance_sources
    )
    kept = record
    if modalities is not None and (folder / READERS_FILE).is_file():
        earlier = ckpt.read_json(folder / READERS_FILE)
        kept = {**earlier, "refits": [*earlier.get("refits", []), record]}
    save(net, folder, kept, config=any(added.values()))  # added layers are named in the config
    record_reader_data(folder, data, partial=modalities is not None)
    return record


def record_reader_data(folder: Path, data: Sequence[str | Path], *, partial: bool = False) -> None:
    """Adds what the readers were refitted on to the checkpoint's `TRAINING_DATA_FILE`: its `sources`
    (what the model card lists, with licences) gain the refit's real sources, and `readers` keeps the
    refit's own record beside the network's `folders` (a partial refit's goes to `reader_refits`)."""
    path = folder / TRAINING_DATA_FILE
    old = ckpt.read_json(path) if path.is_file() else {"folders": [], "sources": {}}
    readers = training_data_record([Path(d) for d in data])
    sources = {**old.get("sources", {}), **readers["sources"]}
    if partial:
        extra = {"reader_refits": [*old.get("reader_refits", []), readers]}
    else:
        extra = {"readers": readers}
    ckpt.atomic_write_json(path, {**old, "sources": sources, **extra})


def with_pixel_reader(net: FusionAutoencoder) -> FusionAutoencoder:
    """`net` with a silent pixel reader added; every other weight as it was."""
    return with_layers(net, pixel_reader=True)


def with_layers(net: FusionAutoencoder, *, drop: bool = False, **flags) -> FusionAutoencoder:
    """`net` with the layers that config `flags` (pixel_reader, latent_gates, lone_readers) switch on
    added, each starting where it changes nothing (a silent pixel reader, gates of trust 1, zero lone
    readers); every other weight as it was. `drop`: the layers `flags` name start afresh too, where they
    would otherwise keep `net`'s weights (a lone readers' refit replaces the old ones)."""
    if flags.get("latent_gates") and not net.config.attribute_readers:
        raise ValueError("latent gates belong to attribute readers: this checkpoint has none")
    wider = FusionAutoencoder(replace(net.config, **flags)).to(next(net.parameters()).device)
    added = tuple(f"{name}." for name in flags)
    state = {k: v for k, v in net.state_dict().items() if not (drop and k.startswith(added))}
    missing, unexpected = wider.load_state_dict(state, strict=False)
    if unexpected or any(not k.startswith(added) for k in missing):
        raise ValueError(f"cannot add {', '.join(flags)}: the layers differ ({unexpected or missing})")
    return wider


def save(net: FusionAutoencoder, folder: Path, record: dict, *, config: bool = False) -> None:
    """The network with its fitted readers and the fit's `READERS_FILE` record; `config` rewrites the
    model config too (layers were added)."""
    ckpt.rewrite_network(folder, net, config=config)
    ckpt.atomic_write_json(folder / READERS_FILE, record)
