"""mmdemo: one person's face, words and voice in one learned space.

    from mmdemo import load_model
    model = load_model("checkpoints/default", device="auto")
    a = model.analyze(image=rgb, text="A smiling woman with red hair.", audio=(sr, samples))

Importing the package is cheap: torch, transformers and OpenCV load only when
a model is loaded or a submodule is imported.
"""
from __future__ import annotations

__all__ = ["load_model"]
__version__ = "0.1.0"


def load_model(path=None, device: str = "auto"):
    """Loads a checkpoint folder (default: the bundled checkpoints/default) for `analyze`."""
    from .analysis import load_model as _load
    from .inference import DEFAULT_CHECKPOINT
    return _load(DEFAULT_CHECKPOINT if path is None else path, device)
