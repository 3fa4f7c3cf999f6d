"""mmdemo: one person's face, words and voice in one learned space.

    from mmdemo import load_model
    model = load_model("checkpoints/default", device="auto")
    a = model.analyze(image=rgb, text="A smiling woman with red hair.", voice=(sr, samples))

The library is layered; each subpackage imports only from those above it in this list:

    schema, audio, runtime, checkpoint   shared vocabulary and plumbing
    synth/                               the synthetic dataset (faces, descriptions, voices)
    data/                                loading datasets and preparing a person's input
    model/                               the network, text encoder, losses, discriminator
    training/                            the training loop (single process or torchrun)
    inference/                           load_model / analyze, embed, attention, the map
    serving/                             UI-free service, plotly figures, desktop live window
    evaluation/                          metrics, independent judges, the benchmark (of the served path too)
    cli                                  `python -m mmdemo`, on top of all of them

Importing the package is cheap: torch, transformers and OpenCV load only when a model is
loaded or a submodule is imported. Nothing in it imports the web UI (`webapp/`).
"""

from __future__ import annotations

__all__ = ["load_model"]
__version__ = "0.2.0"


def load_model(path=None, device: str = "auto"):
    """Loads a checkpoint folder (default: the bundled checkpoints/default) for `analyze`."""
    from mmdemo.inference.model import load_model as _load

    return _load(path, device)
