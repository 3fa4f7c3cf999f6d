"""Deprecated location of the dataset loaders; use `mmdemo.data`.

Kept for one release so that existing scripts keep working; importing it warns."""

import warnings

from mmdemo.data.loaders import (
    DatasetError,
    MultimodalDataset,
    Sample,
    add_log_mel,
    collate,
    load_audio,
    load_image,
    open_samples,
    read_celeba,
    read_folder,
    read_plain_folder,
)

warnings.warn(
    "mmdemo.dataset moved to mmdemo.data (open_samples, load_image, ...); "
    "the old path goes in the next release",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = [
    "DatasetError",
    "MultimodalDataset",
    "Sample",
    "add_log_mel",
    "collate",
    "load_audio",
    "load_image",
    "open_samples",
    "read_celeba",
    "read_folder",
    "read_plain_folder",
]
