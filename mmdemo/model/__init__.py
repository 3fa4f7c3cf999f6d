"""Layer: the network. The trimodal fusion autoencoder (`network`), the frozen text encoder and
decoder vocabulary (`text`), losses and image-quality measures (`losses`) and the PatchGAN
discriminator (`discriminator`). Pure torch; imports only the top level."""

from mmdemo.model.network import FusionAutoencoder, FusionOutput, ModelConfig, load_network

__all__ = ["FusionAutoencoder", "FusionOutput", "ModelConfig", "load_network"]
