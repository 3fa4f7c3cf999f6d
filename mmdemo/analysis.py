"""Deprecated location of the public API; use `mmdemo.load_model` or `mmdemo.inference`.

Kept for one release so that existing scripts keep working; importing it warns."""

import warnings

from mmdemo.inference.attention import AttentionMaps, attention_rollout
from mmdemo.inference.model import VOICE_PHRASE, Analysis, MultimodalModel, load_model

warnings.warn(
    "mmdemo.analysis moved to mmdemo.inference (load_model, MultimodalModel, Analysis); "
    "the old path goes in the next release",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = ["Analysis", "AttentionMaps", "MultimodalModel", "VOICE_PHRASE", "attention_rollout", "load_model"]
