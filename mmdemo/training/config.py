"""What a training run is told: `TrainConfig` (every knob, with its default and why) and the named
presets. A preset states only what differs from the defaults, with the reason on the line, so the
defaults are the full run and a preset reads as a list of deliberate departures from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from mmdemo.model.network import ModelConfig


@dataclass
class TrainConfig:
    # schedule
    steps: int = 2000  # optimiser steps of the whole run
    batch_size: int = 64  # samples per step (per process under torchrun)
    lr: float = 2e-3  # AdamW peak learning rate, reached after the warm-up
    weight_decay: float = 0.02  # AdamW decoupled weight decay
    warmup_steps: int = 200  # linear warm-up, then a cosine decay to the last step
    grad_clip: float = 1.0  # gradient norm cap: a rare bad batch cannot throw the weights far
    # loss weights
    kl_weight: float = 5e-4  # on the KL summed over latent dims; small, so reconstructions stay sharp
    kl_warmup_steps: int = 500  # the KL weight ramps up linearly over these steps
    image_l1: float = 1.0  # per-pixel L1 of the decoded face
    image_ssim: float = 0.5  # 1 - SSIM of the decoded face, beside its L1
    text_ce: float = 0.3  # word-piece cross-entropy of the decoded description
    voice: float = 0.3  # voice variant cross-entropy plus the squared error of its normalised parameters
    attributes: float = 1.0  # attribute classifiers on the latent mean
    contrastive: float = 0.1  # InfoNCE between a sample's subset latent and its single-modality latent
    temperature: float = 0.2  # InfoNCE temperature
    # the face critic (mmdemo.training.critic): faces decoded from a description or a voice alone are
    # read by a frozen attribute classifier and penalised for what they do not show; 0 = off
    critic: float = 0.0
    critic_steps: int = 400  # batches the critic is trained on before the first step
    # the face decoder fitted last on the frozen latents (mmdemo.training.face_decoder_fit): batches of
    # its fit, which `train` runs after the last step; 0 = keep the jointly trained decoder
    face_decoder_steps: int = 2500
    # text inputs
    text_token_dropout: float = 0.05  # share of word pieces hidden from the fusion (cached word dropout)
    text_wordings: int = 2  # cached wordings per training sample (original + one re-worded)
    # frozen real-world features (dlib face descriptor + landmarks, GE2E speaker embedding)
    # one extra token per face and voice (mmdemo.extractors), for training on real people (--real-features;
    # fine-tuning a checkpoint that has them keeps them). Off for synthetic people, as the bundled
    # checkpoint's first stage was trained: its encoders read drawn faces at 0.99 alone, while dlib
    # alone took 8 min of 2 cores on the default set, before the readers' and pixel reader's fits
    real_features: bool = False
    feature_dropout: float = 0.3  # share of rows trained without them: the model still reads a face
    # or voice alone when an extractor is missing or too slow (the live view)
    # the optional PatchGAN on faces
    gan: bool = False  # the PatchGAN hinge loss on faces; train() sets it from --gan
    gan_weight: float = 0.05  # weight of the generator's hinge loss (times the adaptive ratio, if on)
    # VQGAN's adaptive weight: the hinge loss scaled so that its gradient at the face decoder's last
    # layer is as large as the reconstruction's, times gan_weight; off: gan_weight alone
    gan_adaptive: bool = True
    gan_start_fraction: float = 0.3  # the GAN joins after this share of the steps
    # running
    checkpoint_every: int = 250  # steps between checkpoints: what a kill can lose
    # bf16 autocast of the steps on CPUs with native bf16 (AVX512-BF16/AMX). Off: a step fuses rows in
    # groups of ever-changing shape, and oneDNN builds a bf16 kernel for each new shape (~60 ms each),
    # so on a 2-core AVX512-BF16 EPYC a default step took 1.57 s against 0.78 s in float32
    # (docs/PERFORMANCE.md, "Training steps"); CUDA steps are bf16 regardless
    cpu_bf16: bool = False
    seed: int = 0  # data order, augmentation, subset draws and initial weights all follow from it
    num_workers: int = 0  # on 2 cores a loader process slows the step more than it saves
    model: ModelConfig = field(default_factory=ModelConfig)  # the network; train() fills in its data fields


PRESETS: dict[str, TrainConfig] = {
    "tiny": TrainConfig(
        steps=40,  # a smoke run: tests train it in seconds
        batch_size=16,  # the tiny dataset has ~300 samples
        warmup_steps=5,  # the schedule scaled down with the run
        kl_warmup_steps=10,  # likewise
        checkpoint_every=10,  # several checkpoints in a short run, so resume and kills can be tested
        face_decoder_steps=0,  # the joint decoder is enough for a smoke run
        # a small network, quick to train on a CPU
        model=ModelConfig(dim=64, depth=4, heads=4, latent_dim=32, decoder_channels=64, text_hidden=64),
    ),
    "default": TrainConfig(),  # the full run behind checkpoints/default
}

FINE_TUNE_LR_SCALE = 0.25  # --init: a quarter of the preset's learning rate, so the start is not forgotten


def resolve_config(
    preset: str,
    *,
    gan: bool = False,
    steps: int | None = None,
    init: str | Path | None = None,
    real_features: bool | None = None,
    critic: float | None = None,
    private_dim: int | None = None,
    face_decoder_steps: int | None = None,
) -> TrainConfig:
    """The preset with the command line's overrides; a ValueError names the presets there are or
    the override that cannot be."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    if critic is not None and critic < 0:
        raise ValueError(f"--critic is a loss weight, 0 or more (got {critic})")
    if private_dim is not None and private_dim < 0:
        raise ValueError(f"--private-dim is a latent width, 0 or more (got {private_dim})")
    cfg = replace(PRESETS[preset], gan=gan, **({"steps": steps} if steps else {}))
    if real_features is not None:
        cfg = replace(cfg, real_features=real_features)
    if critic is not None:
        cfg = replace(cfg, critic=critic)
    if private_dim is not None:
        cfg = replace(cfg, model=replace(cfg.model, private_dim=private_dim))
    if face_decoder_steps is not None:
        if face_decoder_steps < 0:
            raise ValueError(
                f"--face-decoder-steps is a number of batches, 0 or more (got {face_decoder_steps})"
            )
        cfg = replace(cfg, face_decoder_steps=face_decoder_steps)
    if init is not None:
        cfg = replace(cfg, lr=cfg.lr * FINE_TUNE_LR_SCALE)
    return cfg
