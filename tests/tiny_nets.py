"""The tiny fusion network with attribute readers that the reader and gate tests fit against."""

import torch

from mmdemo.extractors import face, speaker
from mmdemo.model.network import FusionAutoencoder, ModelConfig


def reader_net(*, face_features: bool = True, **fields) -> FusionAutoencoder:
    """Seeded, in eval mode; reads the speaker embedding, and the face descriptor unless told not to."""
    torch.manual_seed(0)
    cfg = ModelConfig(
        dim=32,
        depth=1,
        heads=2,
        latent_dim=8,
        decoder_channels=16,
        text_hidden=16,
        face_feature_dim=face.FEATURE_DIM if face_features else 0,
        speaker_feature_dim=speaker.EMBEDDING_DIM,
        attribute_readers=True,
        **fields,
    )
    return FusionAutoencoder(cfg).eval()
