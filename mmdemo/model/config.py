"""What a fusion autoencoder is built with: its widths, its inputs' shapes and which optional parts it
has. Stored in a checkpoint's `config.json` ("model"); `mmdemo.model.network` builds the network."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

from mmdemo.model.text import MAX_TOKENS, TEXT_ENCODER, TEXT_WIDTH

# config fields added after checkpoints were first published: absent means the default (not used)
OPTIONAL_FIELDS = (
    "face_feature_dim",
    "speaker_feature_dim",
    "attribute_readers",
    "pixel_reader",
    "private_dim",
    "face_decoder",
    "private_prior",
    "latent_gates",
    "lone_readers",
)


@dataclass
class ModelConfig:
    dim: int = 128  # width of every token in the fusion transformer
    depth: int = 4  # fusion transformer layers
    heads: int = 4
    mlp_ratio: int = 2
    dropout: float = 0.0  # the synthetic data is plentiful and augmented; dropout only cost time
    latent_dim: int = 64  # Z: width of the shared Gaussian latent
    image_size: int = 64
    patch_grid: int = 8  # image tokens form a patch_grid x patch_grid grid
    text_encoder: str = TEXT_ENCODER
    text_width: int = TEXT_WIDTH
    text_max_tokens: int = MAX_TOKENS
    n_mels: int = 64
    voice_max_frames: int = 401  # 4 s at a 10 ms hop
    voice_stride: int = 8  # conv subsampling: one voice token per 80 ms
    decoder_channels: int = 128  # widest image-decoder feature map (at 4x4)
    text_hidden: int = 192  # GRU width of the text decoder
    text_vocab: list[str] = field(default_factory=list)  # decoder word pieces (TextVocab)
    voice_variants: list[str] = field(default_factory=list)  # eSpeak variants the voice head chooses from
    voice_param_mean: list[float] = field(default_factory=lambda: [50.0, 170.0, 50.0, 100.0])
    voice_param_std: list[float] = field(default_factory=lambda: [15.0, 30.0, 25.0, 20.0])
    # frozen real-world features, one extra token each (0 = not used; checkpoints before 0.3 lack them)
    face_feature_dim: int = 0  # dlib descriptor + landmarks, beside the face's patch tokens
    speaker_feature_dim: int = 0  # GE2E speaker embedding, beside the voice's frame tokens
    # per feature token, a linear reader whose logits correct the latent's attribute reading: the
    # frozen features know a real face's gender or a real voice's sex better than a 64-d latent that
    # also has to redraw the face (see FusionAutoencoder.fuse)
    attribute_readers: bool = False
    # a small CNN reading the face's attributes from its pixels (hats, glasses, hair), whose logits
    # are added like the readers' (mmdemo.model.pixel_reader)
    pixel_reader: bool = False
    # W: width of the face's private latent (MMVAE+, Palumbo et al. 2023), the face detail a description
    # or a voice cannot know (the exact hairline, the light), read from the face's pixels
    # (mmdemo.model.face_detail). The face decoder reads [z, w]; w comes from the face when there is one
    # and from its prior N(0, I) otherwise, so the shared z alone must carry what the modalities agree
    # on. 0: one shared latent, as every checkpoint before it
    private_dim: int = 0
    # "plain": upsampling convolutions from a 4x4 map of the latent (every checkpoint before 0.5);
    # "modulated": the latent also scales and shifts every level's features (face_detail), the decoder
    # `fit-face-decoder` fits on the frozen latents of a trained network
    face_decoder: str = "plain"
    # a learnt conditional prior p(w | z): the private latent a face with this shared latent is
    # expected to have, which faces drawn without one (from a description, a voice, a sampled person)
    # use instead of N(0, I)'s mean; fitted with the modulated decoder (face_decoder_fit)
    private_prior: bool = False
    # per attribute reader, a gate on how far the latent's reading is trusted when that modality is
    # the only input (FusionAutoencoder.latent_trust): a network taught ages from eSpeak voices reads a
    # real voice's age confidently and wrongly, and a linear reader cannot outvote it. The gate, read
    # from the same feature token, scales the latent's logits by 2 * sigmoid(.) (1 at zero weights)
    latent_gates: bool = False
    # the modalities whose reading alone has a linear correction of the latent's attribute logits,
    # read from the latent itself (FusionAutoencoder.lone_evidence; fitted after training by
    # mmdemo.training.lone_readers): a 64-d latent that has to redraw a whole person holds a voice's age
    # and expression, but the one attribute head shared by every subset reads them from a voice alone
    # worse than a linear probe of the same latent does (0.88 against 0.94 for age)
    lone_readers: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping) -> ModelConfig:
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown model config fields: {', '.join(unknown)}")
        missing = sorted(known - set(d) - set(OPTIONAL_FIELDS))
        if missing:
            raise ValueError(f"model config lacks fields: {', '.join(missing)}")
        return cls(**d)
