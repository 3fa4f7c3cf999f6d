"""The trimodal fusion autoencoder: encoders, fusion transformer, latent, decoders.

    face (B,3,64,64) ─► conv stem ─► 8x8 patch tokens ─┐
    text states (B,L,384, frozen MiniLM) ─► linear ────┼─► [FUSE] + tokens ─► transformer ─► (mu, logvar)
    log-mel (B,T,64) ─► conv /4 ─► voice tokens ───────┘                                        │
        z ─► image decoder (64x64 RGB) · GRU text decoder · voice parameters · attribute heads ◄─┘

A missing modality is absent from the input dict: its tokens are not in the
sequence at all. Attention maps come back as a typed output when asked.
Letters in shape comments: B batch, N tokens, L text tokens, T mel frames,
H heads, D model width, Z latent width.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from mmdemo import checkpoint as ckpt
from mmdemo.model.config import ModelConfig
from mmdemo.model.decoders import ImageDecoder, TextDecoder
from mmdemo.model.face_detail import ModulatedImageDecoder, PrivateFaceEncoder
from mmdemo.model.pixel_reader import PixelReader
from mmdemo.schema import ATTRIBUTE_SIZES, ATTRIBUTES, MODALITIES

VOICE_PARAM_NAMES = ("pitch", "rate", "range", "volume")


# which modality each frozen feature token joins, and the input keys that carry it
FEATURE_TOKENS = {"image": "face_features", "voice": "speaker_features"}
# the keys under which `tokens` hands the pixel reader's logits and the face's private posterior to
# `fuse` (not modalities: they travel with the image)
PIXEL_EVIDENCE = "pixel_evidence"
PRIVATE_LATENT = "private_latent"
# beside the weights: how the lone readers (ModelConfig.lone_readers) were fitted and how they scored
LONE_READERS_FILE = "lone_readers.json"
FACE_DECODERS = {"plain": ImageDecoder, "modulated": ModulatedImageDecoder}


@dataclass
class FusionOutput:
    mu: torch.Tensor  # (B, Z) the embedding
    logvar: torch.Tensor  # (B, Z)
    layout: dict[str, slice]  # where each present modality's tokens sit in the sequence
    key_mask: torch.Tensor  # (B, N) True for a real token
    attentions: list[torch.Tensor] | None  # per layer (B, H, N, N), when asked
    # the attribute readers' correction to attribute_logits(mu), (B, sum of attribute values), and
    # the (B,) rows it applies to (a fused feature token); None for a network without readers
    evidence: torch.Tensor | None = None
    evidence_rows: torch.Tensor | None = None
    # the face's private latent, (B, W) mean and log-variance, when the face was fused and the network
    # has one (ModelConfig.private_dim); None otherwise
    private_mu: torch.Tensor | None = None
    private_logvar: torch.Tensor | None = None


# ------------------------------------------------------------------ encoders
class ImageEncoder(nn.Module):
    """(B,3,64,64) in [0,1] -> (B, 64, D) patch tokens with position embeddings."""

    def __init__(self, *, dim: int, grid: int, image_size: int):
        super().__init__()
        steps = int(math.log2(image_size // grid))
        chans = [16 * 2**i for i in range(steps)]  # 16, 32, 64: cheap high-resolution layers
        layers: list[nn.Module] = [nn.Conv2d(3, chans[0], 3, padding=1), nn.GELU()]
        for c_in, c_out in zip(chans, chans[1:] + [dim]):
            layers += [nn.Conv2d(c_in, c_out, 4, stride=2, padding=1), nn.GroupNorm(8, c_out), nn.GELU()]
        self.stem = nn.Sequential(*layers)
        self.pos = nn.Parameter(torch.randn(grid * grid, dim) * 0.02)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = self.stem(image * 2 - 1)  # (B, D, 8, 8)
        return rearrange(x, "b d h w -> b (h w) d") + self.pos


class VoiceEncoder(nn.Module):
    """(B, T, 64) log-mel -> (B, T/4, D) tokens; mask follows the true lengths."""

    def __init__(self, *, n_mels: int, dim: int, max_frames: int, stride: int):
        super().__init__()
        self.stride = stride
        layers: list[nn.Module] = []
        for i in range(int(math.log2(stride))):  # stride 2 per layer
            layers += [nn.Conv1d(n_mels if i == 0 else dim, dim, 3, stride=2, padding=1), nn.GELU()]
        self.conv = nn.Sequential(*layers)
        self.norm = nn.LayerNorm(dim)
        self.pos = nn.Parameter(torch.randn(max_frames // stride + 1, dim) * 0.02)

    def forward(self, mel: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mel = (mel + 6.0) / 4.0  # log-mel to roughly unit scale
        x = rearrange(self.conv(rearrange(mel, "b t f -> b f t")), "b d t -> b t d")
        x = self.norm(x) + self.pos[: x.shape[1]]
        n_tokens = torch.div(lengths + self.stride - 1, self.stride, rounding_mode="floor")
        mask = torch.arange(x.shape[1], device=x.device)[None] < n_tokens[:, None]
        return x, mask


# -------------------------------------------------------------------- fusion
class Attention(nn.Module):
    def __init__(self, *, dim: int, heads: int, dropout: float):
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.to_qkv = nn.Linear(dim, dim * 3)
        self.to_out = nn.Linear(dim, dim)

    def forward(self, x, key_mask, want_attention: bool):
        q, k, v = rearrange(self.to_qkv(x), "b n (three h d) -> three b h n d", three=3, h=self.heads)
        bias = torch.zeros(key_mask.shape, dtype=q.dtype, device=x.device)
        bias = bias.masked_fill(~key_mask, float("-inf"))[:, None, None, :]  # (B, 1, 1, N)
        if want_attention:
            attn = (q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]) + bias).softmax(-1)  # (B, H, N, N)
            out = attn @ v
        else:  # fused kernel: same result, no N x N matrix kept
            attn = None
            out = F.scaled_dot_product_attention(
                q, k, v, attn_mask=bias, dropout_p=self.dropout if self.training else 0.0
            )
        return self.to_out(rearrange(out, "b h n d -> b n (h d)")), attn


class Block(nn.Module):
    def __init__(self, *, dim: int, heads: int, mlp_ratio: int, dropout: float):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = Attention(dim=dim, heads=heads, dropout=dropout)
        self.mlp = nn.Sequential(
            nn.Linear(dim, dim * mlp_ratio), nn.GELU(), nn.Dropout(dropout), nn.Linear(dim * mlp_ratio, dim)
        )

    def forward(self, x, key_mask, want_attention):
        h, attn = self.attn(self.norm1(x), key_mask, want_attention)
        x = x + h
        return x + self.mlp(self.norm2(x)), attn


def _mlp(d_in: int, d_hidden: int, d_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, d_hidden), nn.GELU(), nn.Linear(d_hidden, d_out))


# --------------------------------------------------------------------- model
class FusionAutoencoder(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        c = self.config = config
        self.image_encoder = ImageEncoder(dim=c.dim, grid=c.patch_grid, image_size=c.image_size)
        self.text_proj = nn.Sequential(nn.LayerNorm(c.text_width), nn.Linear(c.text_width, c.dim))
        self.text_pos = nn.Parameter(torch.randn(c.text_max_tokens, c.dim) * 0.02)
        self.voice_encoder = VoiceEncoder(
            n_mels=c.n_mels, dim=c.dim, max_frames=c.voice_max_frames, stride=c.voice_stride
        )
        self.modality_embed = nn.Parameter(torch.randn(len(MODALITIES), c.dim) * 0.02)
        self.fuse_token = nn.Parameter(torch.randn(1, 1, c.dim) * 0.02)
        self.blocks = nn.ModuleList(
            Block(dim=c.dim, heads=c.heads, mlp_ratio=c.mlp_ratio, dropout=c.dropout) for _ in range(c.depth)
        )
        self.norm = nn.LayerNorm(c.dim)
        self.to_latent = nn.Linear(c.dim, 2 * c.latent_dim)
        if c.face_decoder not in FACE_DECODERS:
            choices = ", ".join(FACE_DECODERS)
            raise ValueError(f"face_decoder must be one of {choices} (got {c.face_decoder!r})")
        self.image_decoder = FACE_DECODERS[c.face_decoder](
            latent_dim=c.latent_dim + c.private_dim, channels=c.decoder_channels, image_size=c.image_size
        )
        # the face's private posterior, read from its pixels by a network of its own: what the shared
        # latent leaves out is the face's own, not the fusion's (patch tokens shaped by the fusion
        # carried ~3-4 nats in the runs of docs/generation and left the reconstructions' PSNR as it was)
        self.private_encoder = PrivateFaceEncoder(c.private_dim, c.image_size) if c.private_dim else None
        self.private_prior = (
            nn.Sequential(_mlp(c.latent_dim, 256, 256), nn.GELU(), nn.Linear(256, c.private_dim))
            if c.private_dim and c.private_prior
            else None
        )
        self.text_decoder = TextDecoder(
            latent_dim=c.latent_dim,
            vocab_size=max(len(c.text_vocab), 5),
            hidden=c.text_hidden,
            max_len=c.text_max_tokens,
        )
        self.voice_head = _mlp(c.latent_dim, 128, len(c.voice_variants) + len(VOICE_PARAM_NAMES))
        self.attribute_head = _mlp(c.latent_dim, 128, sum(ATTRIBUTE_SIZES))
        # frozen real-world features enter as one token each, like MiniLM's states enter as words
        self.feature_proj = nn.ModuleDict(
            {
                key: nn.Sequential(nn.LayerNorm(width), _mlp(width, c.dim, c.dim))
                for key, width in (
                    ("face_features", c.face_feature_dim),
                    ("speaker_features", c.speaker_feature_dim),
                )
                if width > 0
            }
        )

        readers = {key: nn.Linear(c.dim, sum(ATTRIBUTE_SIZES)) for key in self.feature_proj}
        self.attribute_readers = nn.ModuleDict(readers if c.attribute_readers else {})
        gates = {key: nn.Linear(c.dim, sum(ATTRIBUTE_SIZES)) for key in self.attribute_readers}
        for gate in gates.values():  # zero weights: trust 1, the network reads as without gates
            nn.init.zeros_(gate.weight)
            nn.init.zeros_(gate.bias)
        self.latent_gates = nn.ModuleDict(gates if c.latent_gates else {})
        for modality, key in FEATURE_TOKENS.items():
            # a reader only speaks for the attributes its modality carries (a voice says nothing of hats)
            self.register_buffer(f"_{key}_observes", _observed_by(modality), persistent=False)
        self.pixel_reader = PixelReader(sum(ATTRIBUTE_SIZES)) if c.pixel_reader else None
        unknown = sorted(set(c.lone_readers) - set(MODALITIES))
        if unknown:
            names = ", ".join(unknown)
            raise ValueError(f"lone_readers: {names} is not a modality (one of {', '.join(MODALITIES)})")
        lone = {m: nn.Linear(c.latent_dim, sum(ATTRIBUTE_SIZES)) for m in MODALITIES if m in c.lone_readers}
        for layer in lone.values():  # zero weights: the latent's own reading, until fitted
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        self.lone_readers = nn.ModuleDict(lone)
        for m in self.lone_readers:
            self.register_buffer(f"_lone_{m}_observes", _observed_by(m), persistent=False)

    @property
    def reads_evidence(self) -> bool:
        """Whether `fuse` returns attribute evidence: the network has a reader of some kind (feature,
        pixel or lone)."""
        return bool(self.attribute_readers or self.pixel_reader is not None or self.lone_readers)

    def extra_tokens(self, modality: str) -> int:
        """Tokens after the modality's own (patches, words, frames): its frozen-feature token."""
        return int(FEATURE_TOKENS.get(modality) in self.feature_proj)

    def _with_features(self, modality: str, x, mask, inputs: Mapping[str, torch.Tensor]):
        """Appends the modality's feature token; masked out for rows (or batches) without features."""
        key = FEATURE_TOKENS.get(modality)
        if key not in self.feature_proj:
            return x, mask
        b = x.shape[0]
        width = self.feature_proj[key][0].normalized_shape[0]
        feats = inputs.get(key)
        if feats is None:
            feats, present = x.new_zeros(b, width), torch.zeros(b, dtype=torch.bool, device=x.device)
        else:
            present = inputs.get(f"{key}_mask", torch.ones(b, dtype=torch.bool, device=x.device))
        token = self.feature_proj[key](feats.to(x.dtype))[:, None]
        return torch.cat([x, token], 1), torch.cat([mask, present[:, None]], 1)

    # -- encoding
    def tokens(
        self, inputs: Mapping[str, torch.Tensor], *, pixel_evidence: bool = True
    ) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Per present modality: (tokens (B, n, D), mask (B, n)); with a face, also the pixel
        reader's logits under PIXEL_EVIDENCE and the private posterior under PRIVATE_LATENT.

        Keys: image; text_states + text_mask; mel + mel_len; optional frozen features face_features and
        speaker_features, each with an optional (B,) `<key>_mask` of rows that have them.
        pixel_evidence: False skips the pixel reader (for callers that want the latent only)."""
        out = {}
        if "image" in inputs:
            x = self.image_encoder(inputs["image"])
            mask = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
            out["image"] = self._with_features("image", x, mask, inputs)
            if self.pixel_reader is not None and pixel_evidence:
                logits = self.pixel_reader(inputs["image"]) * self._face_features_observes
                every = torch.ones(len(logits), dtype=torch.bool, device=logits.device)
                out[PIXEL_EVIDENCE] = (logits, every)
            if self.private_encoder is not None:
                out[PRIVATE_LATENT] = self.private_encoder(inputs["image"])
        if "text_states" in inputs:
            states = inputs["text_states"]
            out["text"] = (self.text_proj(states) + self.text_pos[: states.shape[1]], inputs["text_mask"])
        if "mel" in inputs:
            x, mask = self.voice_encoder(inputs["mel"], inputs["mel_len"])
            out["voice"] = self._with_features("voice", x, mask, inputs)
        return out

    def fuse(
        self, tokens: Mapping[str, tuple[torch.Tensor, torch.Tensor]], *, want_attention: bool = False
    ) -> FusionOutput:
        """[FUSE] + the given modalities' tokens -> Gaussian latent. Absent modalities are absent keys."""
        if not tokens:
            raise ValueError("at least one modality is needed")
        first = next(iter(tokens.values()))[0]
        b = first.shape[0]
        seq, masks, layout, start = [self.fuse_token.expand(b, -1, -1)], [], {}, 1
        masks.append(torch.ones(b, 1, dtype=torch.bool, device=first.device))
        for m in MODALITIES:
            if m in tokens:
                x, mask = tokens[m]
                seq.append(x + self.modality_embed[MODALITIES.index(m)])
                masks.append(mask)
                layout[m] = slice(start, start + x.shape[1] - self.extra_tokens(m))  # own tokens only
                start += x.shape[1]
        x, key_mask = torch.cat(seq, 1), torch.cat(masks, 1)  # (B, N, D), (B, N)
        attentions = []
        for block in self.blocks:
            x, attn = block(x, key_mask, want_attention)
            attentions.append(attn)
        mu, logvar = self.to_latent(self.norm(x[:, 0])).chunk(2, -1)
        evidence, evidence_rows = self._evidence(tokens, b) if self.reads_evidence else (None, None)
        if self.latent_gates:
            # the gate's scaling of the latent's logits, written as a correction added to them; like the
            # readers, the gates learn what the latent misses and do not move it (detached)
            latent = self.attribute_head(mu).detach().to(evidence.dtype)
            evidence = evidence + (self.latent_trust(tokens) - 1) * latent
        if self.lone_readers:
            lone, lone_rows = self.lone_evidence(tokens, mu)
            evidence, evidence_rows = evidence + lone.to(evidence.dtype), evidence_rows | lone_rows
        private_mu, private_logvar = self.private_posterior(tokens) or (None, None)
        return FusionOutput(
            mu,
            logvar.clamp(-10, 6),
            layout,
            key_mask,
            attentions if want_attention else None,
            evidence,
            evidence_rows,
            private_mu,
            private_logvar,
        )

    @staticmethod
    def private_posterior(tokens) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The face's private latent, (B, W) mean and log-variance, read from its pixels by `tokens`
        (the same whatever else is fused); None without a face or a private latent."""
        return tokens.get(PRIVATE_LATENT) if "image" in tokens else None

    def _evidence(self, tokens, b: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The readers' summed logits over the fused modalities' feature tokens (masked rows add 0)."""
        first = next(iter(tokens.values()))[0]
        evidence = first.new_zeros(b, sum(ATTRIBUTE_SIZES))
        rows = torch.zeros(b, dtype=torch.bool, device=first.device)
        for m, (x, mask) in tokens.items():
            key = FEATURE_TOKENS.get(m)
            if key in self.attribute_readers:
                present = mask[:, -1]  # the feature token is the modality's last
                observes = getattr(self, f"_{key}_observes")
                evidence = evidence + self.attribute_readers[key](x[:, -1]) * observes * present[:, None]
                rows = rows | present
        if PIXEL_EVIDENCE in tokens and "image" in tokens:
            logits, present = tokens[PIXEL_EVIDENCE]
            evidence, rows = evidence + logits * present[:, None], rows | present
        return evidence, rows

    def lone_evidence(self, tokens, mu: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, sum of attribute values) the lone readers' correction and the (B,) rows it applies to:
        each row whose only input is a modality with a lone reader gets that reader's logits, read from
        its latent, on the attributes the modality carries. The latent is detached: like the feature
        readers, they learn what the shared head misses and never move the latent."""
        only = _only_input(tokens)
        evidence = mu.new_zeros(mu.shape[0], sum(ATTRIBUTE_SIZES))
        rows = torch.zeros(mu.shape[0], dtype=torch.bool, device=mu.device)
        for m, reader in self.lone_readers.items():
            if m not in only:
                continue
            alone = only[m]
            observes = getattr(self, f"_lone_{m}_observes")
            evidence = evidence + reader(mu.detach()).to(evidence.dtype) * observes * alone[:, None]
            rows = rows | alone
        return evidence, rows

    def latent_trust(self, tokens) -> torch.Tensor:
        """(B, sum of attribute values) factors on the latent's attribute logits: per row whose only
        input is a modality with a gate (and its feature token), 2 * sigmoid(gate(token)) on the
        attributes it observes; 1 everywhere else. With another input fused, the latent also knows
        what that input says, so it is not second-guessed."""
        only = _only_input(tokens)
        first = tokens[next(iter(only))][0]
        trust = first.new_ones(first.shape[0], sum(ATTRIBUTE_SIZES))
        for m in only:
            key = FEATURE_TOKENS.get(m)
            if key not in self.latent_gates:
                continue
            x, mask = tokens[m]
            alone = only[m] & mask[:, -1]  # and its feature token (the modality's last) is there
            observes = getattr(self, f"_{key}_observes")
            factor = 1 + (2 * torch.sigmoid(self.latent_gates[key](x[:, -1])) - 1) * observes
            trust = torch.where(alone[:, None], factor.to(trust.dtype), trust)
        return trust

    @staticmethod
    def subset(tokens: Mapping[str, tuple[torch.Tensor, torch.Tensor]], modalities) -> dict:
        """`tokens` (from `tokens`) of only `modalities`, with what reads them (the pixel reader's
        logits and the private posterior go with the image)."""
        chosen = {m: tokens[m] for m in modalities}
        for key in (PIXEL_EVIDENCE, PRIVATE_LATENT):
            if "image" in chosen and key in tokens:
                chosen[key] = tokens[key]
        return chosen

    def encode(self, inputs: Mapping[str, torch.Tensor], *, want_attention: bool = False) -> FusionOutput:
        return self.fuse(self.tokens(inputs), want_attention=want_attention)

    # -- decoding
    def decode_image(self, z: torch.Tensor, private: torch.Tensor | None = None) -> torch.Tensor:
        """(B, Z) shared latents and, for a network with a private face latent, (B, W) private ones
        -> (B, 3, 64, 64) faces. Without `private` the private latent is its prior's mean: the
        conditional prior's given z where the network has one, else N(0, I)'s (0); the face the shared
        latent implies, as generation from a description or a voice draws it."""
        if self.config.private_dim:
            private = self.implied_private(z) if private is None else private
            z = torch.cat([z, private.to(z.dtype)], -1)
        return self.image_decoder(z)

    def implied_private(self, z: torch.Tensor) -> torch.Tensor:
        """(B, W): the private latent faces drawn from shared latents alone use: the conditional
        prior's mean where the network has one, else N(0, I)'s (0)."""
        if self.private_prior is not None:
            return self.private_prior(z)
        return z.new_zeros(z.shape[0], self.config.private_dim)

    def attribute_logits(self, z: torch.Tensor, evidence: torch.Tensor | None = None) -> list[torch.Tensor]:
        """Per attribute (schema order): (B, n_values) logits read from the latent, plus the
        attribute readers' correction when `evidence` (FusionOutput.evidence) is given."""
        logits = self.attribute_head(z)
        if evidence is not None:
            logits = logits + evidence.to(logits.dtype)
        return list(logits.split(ATTRIBUTE_SIZES, -1))

    def voice_outputs(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(variant logits (B, n_variants), normalised pitch/rate/range/volume (B, 4))."""
        out = self.voice_head(z)
        return out[:, : len(self.config.voice_variants)], out[:, len(self.config.voice_variants) :]

    def denormalise_voice(self, params: torch.Tensor) -> torch.Tensor:
        mean = torch.tensor(self.config.voice_param_mean, device=params.device)
        std = torch.tensor(self.config.voice_param_std, device=params.device)
        return params * std + mean

    def normalise_voice(self, params: torch.Tensor) -> torch.Tensor:
        mean = torch.tensor(self.config.voice_param_mean, device=params.device)
        std = torch.tensor(self.config.voice_param_std, device=params.device)
        return (params - mean) / std


def _observed_by(modality: str) -> torch.Tensor:
    """(sum of attribute values,) 1 where the attribute is one `modality` carries, 0 elsewhere."""
    carried = [torch.full((len(a.values),), modality in a.observable_from) for a in ATTRIBUTES]
    return torch.cat(carried).float()


def _only_input(tokens: Mapping[str, tuple[torch.Tensor, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Per modality in `tokens`, the (B,) rows in which it is the only input given."""
    given = {m: tokens[m][1].any(1) for m in MODALITIES if m in tokens}
    only = {}
    for m, present in given.items():
        alone = present.clone()
        for other, other_present in given.items():
            if other != m:
                alone &= ~other_present
        only[m] = alone
    return only


def load_network(path: str | Path, device: torch.device) -> FusionAutoencoder:
    """The network stored in a checkpoint folder, or a CheckpointError naming the file at fault."""
    folder = Path(path)
    if not folder.is_dir():
        raise ckpt.CheckpointError(
            f"{folder} is not a checkpoint folder; pass the folder holding config.json "
            f"and model.safetensors (e.g. checkpoints/default)"
        )
    ckpt.refuse_pickles(folder)
    config = ckpt.read_json(folder / "config.json")
    if "model" not in config or not isinstance(config["model"], dict):
        raise ckpt.CheckpointError(
            f"{folder / 'config.json'} lacks the 'model' section; it is not an mmdemo checkpoint"
        )
    try:
        net = FusionAutoencoder(ModelConfig.from_dict(config["model"]))
    except (TypeError, ValueError) as e:
        raise ckpt.CheckpointError(f"{folder / 'config.json'}: {e}") from None
    ckpt.load_state_into(net, ckpt.read_tensors(folder / "model.safetensors"), folder / "model.safetensors")
    return net.to(device)
