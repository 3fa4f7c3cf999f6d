"""Layer: training. The loop (`loop`), its presets (`config`), the per-step objective
(`objective`) and the cached frozen text states (`textcache`). Imports data, model and the
top level; single process or DDP under torchrun."""

from mmdemo.training.config import PRESETS, TrainConfig
from mmdemo.training.loop import train

__all__ = ["PRESETS", "TrainConfig", "train"]
