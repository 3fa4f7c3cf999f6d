"""What fine-tuning (`train --init`) keeps of a checkpoint and what it may add: the frozen-feature
tokens with their attribute readers, and a private face latent. Everything the checkpoint has is kept
as it is; what is added starts so that the network first behaves as the checkpoint did."""

from __future__ import annotations

from dataclasses import replace

import torch

from mmdemo.model.network import FusionAutoencoder, ModelConfig


def with_private_latent(config: ModelConfig, private_dim: int) -> ModelConfig:
    """The fine-tuned network's config: `config`, given a private face latent of `private_dim` when the
    run asks for one (--private-dim) and `config` has none; a width it already has cannot change."""
    if not private_dim or private_dim == config.private_dim:
        return config
    if config.private_dim:
        raise ValueError(
            f"cannot fine-tune with --private-dim {private_dim}: the checkpoint's private face latent "
            f"is {config.private_dim} wide; leave the flag out or train afresh"
        )
    return replace(config, private_dim=private_dim)


def widened(net: FusionAutoencoder, config: ModelConfig, device: torch.device) -> FusionAutoencoder:
    """`net` with the layers `config` adds (the frozen-feature tokens and their attribute readers, the
    private face latent) freshly initialised. The face decoder's first layer gains zero columns for a
    new private latent, so the widened network draws exactly the faces `net` drew until it learns."""
    wider = FusionAutoencoder(config).to(device)
    state = dict(net.state_dict())
    fc = "image_decoder.fc.weight"
    if wider.image_decoder.fc.weight.shape[1] > state[fc].shape[1]:
        grown = torch.zeros_like(wider.image_decoder.fc.weight)
        grown[:, : state[fc].shape[1]] = state[fc]
        state[fc] = grown
    missing, unexpected = wider.load_state_dict(state, strict=False)
    added = ("feature_proj.", "attribute_readers.", "latent_gates.", "pixel_reader.", "private_encoder.")
    if unexpected or any(not k.startswith(added) for k in missing):
        raise ValueError(f"cannot fine-tune: the checkpoint's layers differ ({unexpected or missing})")
    return wider
