"""Layer: data in. Dataset loaders (folder, CelebA, plain image folders) that turn every layout
into the same `Sample` records, train-time augmentation, and the preparation of whatever a
person hands over (photo, description, recording) into model inputs or a clear refusal.
Imports the top level and `synth` (descriptions)."""

from mmdemo.data.loaders import Sample, load_audio, load_image, open_samples

__all__ = ["Sample", "load_audio", "load_image", "open_samples"]
