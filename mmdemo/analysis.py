"""The public API: `load_model(path).analyze(image=, text=, audio=)`.

One call validates whatever subset of face, description and voice it is
given, fuses it, and returns the embedding, predicted attributes with
confidences, what the model decodes back (face, description, voice), the
single-modality views used by the app's "you are here" triangle, and the
attention maps read straight from the fusion transformer's typed output.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .audio import SAMPLE_RATE
from .inference import DEFAULT_CHECKPOINT, FusionModel, load_network
from .model import FusionOutput
from .preprocess import prepare_audio, prepare_image, prepare_text
from .runtime import resolve_device
from .schema import ATTRIBUTES, MODALITIES

VOICE_PHRASE = "Hello, this is my voice."


@dataclass
class AttentionMaps:
    words: list[str]                        # description words, in order
    text_to_image: np.ndarray | None        # (n_words, grid, grid): where each word looks on the face
    modality_share: dict[str, float]        # share of the [FUSE] token's attention per modality
    voice_frames: np.ndarray | None         # (n_voice_tokens,) [FUSE] attention over the voice
    voice_token_seconds: float              # seconds of audio per voice token
    rollout: np.ndarray | None              # (grid, grid) attention rollout from [FUSE] to face patches


@dataclass
class Analysis:
    inputs: tuple[str, ...]                          # modalities that were used
    embedding: np.ndarray                            # fused latent mean, (Z,)
    attributes: dict[str, str | int]                 # predicted attributes
    confidences: dict[str, float]                    # probability of each predicted value
    image: np.ndarray                                # decoded face, (64, 64, 3) uint8
    text: str                                        # decoded description
    audio: tuple[int, np.ndarray]                    # decoded voice (16000, float32 samples)
    attention: AttentionMaps
    face_crop: np.ndarray | None = None              # the face as the model saw it
    face_found: bool | None = None
    voice_input: np.ndarray | None = None            # the voice as the model heard it (16 kHz)
    unimodal: dict[str, np.ndarray] = field(default_factory=dict)      # embedding from each input alone
    generated_faces: dict[str, np.ndarray] = field(default_factory=dict)  # face from "text" / "voice" alone
    agreement: dict[str, float] = field(default_factory=dict)          # cosine similarity per input pair
    voice_params: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


class MultimodalModel(FusionModel):
    def analyze(self, image=None, text=None, audio=None) -> Analysis:
        """Analyzes any non-empty subset of face (RGB array), description (str) and voice ((sr, samples))."""
        warnings: list[str] = []
        face = prepared_text = wave = None
        if image is not None:
            face = prepare_image(image, self.config.image_size)
            warnings += face.warnings
        prepared_text, text_warnings = prepare_text(text)
        warnings += text_warnings
        if audio is not None:
            wave, audio_warnings = prepare_audio(audio)
            warnings += audio_warnings
        if face is None and prepared_text is None and wave is None:
            raise ValueError("nothing to analyze: give a face photo, a description or a voice recording")
        enc = self.encode_inputs(face.crop[None] if face else None,
                                 [prepared_text] if prepared_text else None, [wave] if wave is not None else None)
        fused = self.fuse(enc, want_attention=True)
        inputs = tuple(m for m in MODALITIES if m in enc.tokens)
        unimodal = {m: self.fuse(enc, [m]).mu for m in inputs} if len(inputs) > 1 else {inputs[0]: fused.mu}
        result = self._result(enc, fused, inputs, unimodal, face, warnings)
        result.voice_input = wave
        return result

    def _result(self, enc, fused: FusionOutput, inputs, unimodal, face, warnings) -> Analysis:
        probs = self.attribute_probs(fused.mu)
        attributes, confidences = {}, {}
        for a, p in zip(ATTRIBUTES, probs):
            k = int(p[0].argmax())
            attributes[a.name] = int(a.values[k]) if a.binary else a.values[k]
            confidences[a.name] = float(p[0, k])
        cross = [m for m in ("text", "voice") if m in unimodal]
        faces = self.decode_images(torch.cat([fused.mu, *(unimodal[m] for m in cross)]))
        params = self.decode_voice_params(fused.mu)[0]
        voice = self.render_voices(fused.mu, VOICE_PHRASE, emotions=[str(attributes["emotion"])])[0]
        vectors = {m: torch.nn.functional.normalize(v[0].float(), dim=0) for m, v in unimodal.items()}
        agreement = {f"{a}-{b}": float(vectors[a] @ vectors[b])
                     for i, a in enumerate(inputs) for b in inputs[i + 1:]}
        return Analysis(
            inputs=inputs, embedding=fused.mu[0].float().cpu().numpy(), attributes=attributes,
            confidences=confidences, image=faces[0], text=self.decode_texts(fused.mu)[0],
            audio=(SAMPLE_RATE, voice), attention=self._attention(fused, enc),
            face_crop=face.crop if face else None, face_found=face.face_found if face else None,
            unimodal={m: v[0].float().cpu().numpy() for m, v in unimodal.items()},
            generated_faces={m: faces[i + 1] for i, m in enumerate(cross)},
            agreement=agreement, voice_params=params, warnings=warnings)

    def _attention(self, fused: FusionOutput, enc) -> AttentionMaps:
        grid = self.config.patch_grid
        layers = torch.stack([a[0].float() for a in fused.attentions])          # (layers, H, N, N)
        mean = layers.mean((0, 1))                                               # (N, N)
        lay = fused.layout
        fuse_row = mean[0]
        shares = {m: float(fuse_row[s].sum()) for m, s in lay.items()}
        total = sum(shares.values()) or 1.0
        words, text_map = [], None
        if "text" in lay:
            pieces = enc.text_tokens[0]
            words, groups = _words(pieces)
            if "image" in lay and groups:
                per_piece = mean[lay["text"], lay["image"]]                       # (L, 64)
                per_piece = per_piece / per_piece.sum(-1, keepdim=True).clamp_min(1e-9)
                text_map = torch.stack([per_piece[g].mean(0) for g in groups]).reshape(-1, grid, grid).cpu().numpy()
        voice = None
        if "voice" in lay:
            voice = fuse_row[lay["voice"]]
            voice = (voice / voice.sum().clamp_min(1e-9)).cpu().numpy()
        rollout = _rollout_to_image(layers.mean(1), lay).reshape(grid, grid) if "image" in lay else None
        return AttentionMaps(words=words, text_to_image=text_map,
                             modality_share={m: v / total for m, v in shares.items()},
                             voice_frames=voice, voice_token_seconds=self.config.voice_stride * 0.01,
                             rollout=rollout)


def _words(pieces: list[str]) -> tuple[list[str], list[list[int]]]:
    """Word pieces -> words and, per word, the piece positions; [CLS]/[SEP] and punctuation dropped."""
    words, groups = [], []
    for i, p in enumerate(pieces):
        if p in ("[CLS]", "[SEP]", "[PAD]") or not any(ch.isalnum() for ch in p):
            continue
        if p.startswith("##") and groups and groups[-1][-1] == i - 1:
            words[-1] += p[2:]
            groups[-1].append(i)
        else:
            words.append(p)
            groups.append([i])
    return words, groups


def _rollout(attn: torch.Tensor) -> torch.Tensor:
    """Attention rollout (Abnar & Zuidema 2020): (layers, N, N) head-averaged maps -> (N, N)."""
    eye = torch.eye(attn.shape[-1], device=attn.device)
    result = eye
    for a in attn:
        a = 0.5 * a + 0.5 * eye
        result = (a / a.sum(-1, keepdim=True)) @ result
    return result


def attention_rollout(fused: FusionOutput) -> np.ndarray:
    """[FUSE] -> face-patch rollout of one fused sample, normalised to sum 1 (grid*grid,)."""
    layers = torch.stack([a[0].float() for a in fused.attentions]).mean(1)     # (layers, N, N)
    return _rollout_to_image(layers, fused.layout)


def _rollout_to_image(head_mean: torch.Tensor, layout: dict[str, slice]) -> np.ndarray:
    """Rollout of head-averaged maps (layers, N, N), [FUSE]'s row over the face patches, summing to 1."""
    r = _rollout(head_mean)[0, layout["image"]]
    return (r / r.sum().clamp_min(1e-9)).cpu().numpy()


def load_model(path: str | Path = DEFAULT_CHECKPOINT, device: str = "auto") -> MultimodalModel:
    """A trained checkpoint folder (config.json + model.safetensors) ready to analyze."""
    dev = resolve_device(device)
    return MultimodalModel(load_network(path, dev), dev, Path(path))
