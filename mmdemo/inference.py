"""A trained model ready to use: loading a checkpoint and batched encode/decode.

`FusionModel` wraps the network with everything it needs at run time (the
frozen text encoder, the decoder vocabulary, the device) and offers batched
operations on plain arrays and strings. The per-person `analyze` of the public
API lives in `analysis.py` on top of these.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from . import checkpoint as ckpt
from .audio import HOP_LENGTH, log_mel
from .model import FusionAutoencoder, FusionOutput, ModelConfig
from .runtime import resolve_device
from .schema import ATTRIBUTES, MODALITIES
from .text import TextVocab, shared_encoder, trim

DEFAULT_CHECKPOINT = Path(__file__).resolve().parent.parent / "checkpoints" / "default"


@dataclass
class Encoded:
    """Inputs after the per-modality encoders, kept so several subsets can be fused cheaply."""
    tokens: dict[str, tuple[torch.Tensor, torch.Tensor]]
    text_tokens: list[list[str]] | None = None   # word pieces per text (for attention labels)


class FusionModel:
    def __init__(self, net: FusionAutoencoder, device: torch.device, folder: Path | None = None):
        self.net, self.device, self.folder = net.eval(), device, folder
        self.config: ModelConfig = net.config
        self.vocab = TextVocab(self.config.text_vocab)
        self.text_encoder = shared_encoder().to(device)

    # ---------------------------------------------------------------- encode
    @torch.no_grad()
    def encode_inputs(self, images: np.ndarray | None = None, texts: Sequence[str] | None = None,
                      waves: Sequence[np.ndarray] | None = None) -> Encoded:
        """images: (B, 64, 64, 3) uint8; texts: B strings; waves: B float32 16 kHz clips."""
        inputs: dict[str, torch.Tensor] = {}
        text_tokens = None
        if images is not None:
            x = torch.as_tensor(np.ascontiguousarray(images), device=self.device)
            inputs["image"] = x.permute(0, 3, 1, 2).float().div(255.0)
        if texts is not None:
            enc = trim(self.text_encoder.encode(list(texts)))
            inputs["text_states"], inputs["text_mask"] = enc.states, enc.mask
            text_tokens = enc.tokens
        if waves is not None:
            inputs["mel"], inputs["mel_len"] = self._mel(waves)
        return Encoded(self.net.tokens(inputs), text_tokens)

    def _mel(self, waves: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
        limit = (self.config.voice_max_frames - 1) * HOP_LENGTH
        clips = [np.asarray(w, np.float32)[:limit] for w in waves]
        lengths = torch.tensor([len(c) for c in clips])
        batch = torch.zeros(len(clips), int(lengths.max()))
        for i, c in enumerate(clips):
            batch[i, : len(c)] = torch.from_numpy(c)
        mel = log_mel(batch.to(self.device))
        return mel, (torch.div(lengths, HOP_LENGTH, rounding_mode="floor") + 1).to(self.device)

    @torch.no_grad()
    def fuse(self, encoded: Encoded, modalities: Sequence[str] | None = None, *,
             want_attention: bool = False) -> FusionOutput:
        """Fuses the chosen modalities (default: all encoded) into the latent."""
        chosen = [m for m in MODALITIES if m in encoded.tokens and (modalities is None or m in modalities)]
        if not chosen:
            raise ValueError("none of the requested modalities was given")
        return self.net.fuse({m: encoded.tokens[m] for m in chosen}, want_attention=want_attention)

    # ---------------------------------------------------------------- decode
    @torch.no_grad()
    def decode_images(self, z: torch.Tensor) -> np.ndarray:
        """(B, 64, 64, 3) uint8."""
        x = self.net.image_decoder(z.to(self.device))
        return (x.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()

    @torch.no_grad()
    def decode_texts(self, z: torch.Tensor) -> list[str]:
        ids = self.net.text_decoder.generate(z.to(self.device)).cpu()
        return [self.vocab.decode(row) for row in ids]

    @torch.no_grad()
    def decode_voice_params(self, z: torch.Tensor) -> list[dict]:
        """Per row: eSpeak parameters {variant, pitch, rate, range, volume} within their valid ranges."""
        logits, params = self.net.voice_outputs(z.to(self.device))
        values = self.net.denormalise_voice(params).cpu().numpy()
        out = []
        for i, v in enumerate(values):
            variant = self.config.voice_variants[int(logits[i].argmax())]
            out.append({"variant": variant, "pitch": int(np.clip(round(v[0]), 0, 100)),
                        "rate": int(np.clip(round(v[1]), 80, 450)), "range": int(np.clip(round(v[2]), 0, 100)),
                        "volume": int(np.clip(round(v[3]), 0, 200))})
        return out

    def render_voices(self, z: torch.Tensor, phrase: str = "Hello, this is my voice.",
                      emotions: Sequence[str] | None = None) -> list[np.ndarray]:
        """Decoded voice parameters spoken by eSpeak NG: float32 16 kHz clips."""
        from .voice import VoiceParams, emotion_text, synthesize
        params = self.decode_voice_params(z)
        emotions = emotions or [None] * len(params)
        return [synthesize(emotion_text(phrase, e) if e else phrase, VoiceParams(**p))
                for p, e in zip(params, emotions)]

    @torch.no_grad()
    def attribute_probs(self, mu: torch.Tensor) -> list[np.ndarray]:
        """Per attribute (schema order): (B, n_values) probabilities."""
        return [l.softmax(-1).cpu().numpy() for l in self.net.attribute_logits(mu.to(self.device))]

    def predict_attributes(self, mu: torch.Tensor) -> list[dict[str, str]]:
        probs = self.attribute_probs(mu)
        return [{a.name: a.values[int(p[i].argmax())] for a, p in zip(ATTRIBUTES, probs)}
                for i in range(mu.shape[0])]


def load_network(path: str | Path, device: torch.device) -> FusionAutoencoder:
    folder = Path(path)
    if not folder.is_dir():
        raise ckpt.CheckpointError(f"{folder} is not a checkpoint folder; pass the folder holding config.json "
                                   f"and model.safetensors (e.g. checkpoints/default)")
    ckpt.refuse_pickles(folder)
    config = ckpt.read_json(folder / "config.json")
    if "model" not in config or not isinstance(config["model"], dict):
        raise ckpt.CheckpointError(f"{folder / 'config.json'} lacks the 'model' section; it is not an mmdemo checkpoint")
    try:
        model_cfg = ModelConfig.from_dict(config["model"])
        net = FusionAutoencoder(model_cfg)
    except (TypeError, ValueError) as e:
        raise ckpt.CheckpointError(f"{folder / 'config.json'}: {e}") from None
    ckpt.load_state_into(net, ckpt.read_tensors(folder / "model.safetensors"), folder / "model.safetensors")
    return net.to(device)


def load_fusion_model(path: str | Path = DEFAULT_CHECKPOINT, device: str = "auto") -> FusionModel:
    dev = resolve_device(device)
    return FusionModel(load_network(path, dev), dev, Path(path))
