"""A trained model ready to use: the public API and the batched operations behind it.

    from mmdemo import load_model
    model = load_model("checkpoints/default")
    a = model.analyze(image=rgb, text="A smiling woman with red hair.", voice=(sr, samples))

`MultimodalModel` wraps the network with what it needs at run time (the frozen text encoder,
the decoder vocabulary, the device). `analyze` validates whatever subset of face, description
and voice it is given, fuses it, and returns the embedding, predicted attributes with
confidences, what the model decodes back, the single-input views behind the app's "you are
here" triangle and the attention maps. `embed` is the one batched encode -> fuse loop that the
map, the embedding export, evaluation and the benchmark all use.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from mmdemo.audio import SAMPLE_RATE
from mmdemo.data.features import features_of_face
from mmdemo.data.preprocess import prepare_audio, prepare_image, prepare_text, to_rgb_uint8
from mmdemo.extractors import face as face_extractor
from mmdemo.extractors import speaker as speaker_extractor
from mmdemo.extractors.speaker import embed_speech
from mmdemo.inference.attention import AttentionMaps, attention_maps
from mmdemo.inference.batch import Inputs, Reading
from mmdemo.inference.calibration import Calibration, single_attributes
from mmdemo.inference.statements import sure_description
from mmdemo.model.chinese_text import BilingualTextEncoder, ChineseTextEncoder
from mmdemo.model.inputs import NetworkInputs, network_inputs
from mmdemo.model.network import FusionAutoencoder, FusionOutput, ModelConfig, load_network
from mmdemo.model.precision import inference_autocast
from mmdemo.model.text import TextVocab, shared_encoder
from mmdemo.runtime import DEFAULT_CHECKPOINT, resolve_device
from mmdemo.schema import ATTRIBUTES, MODALITIES, SUBSETS
from mmdemo.synth.descriptions_zh import has_chinese

log = logging.getLogger(__name__)

VOICE_PHRASE = "Hello, this is my voice."
ANSWER_LANGUAGES = ("en", "zh")
VOICE_PHRASE_ZH = "你好，这是我的声音。"  # spoken by eSpeak NG's Mandarin voice for a Chinese description
# what a generated voice says, and eSpeak NG's voice for it, per answer language
SPOKEN = {"en": (VOICE_PHRASE, "en-us"), "zh": (VOICE_PHRASE_ZH, "cmn")}
# one thread for analyze's description and voice encoders (see `analyze`)
_ENCODER_THREAD = ThreadPoolExecutor(1, thread_name_prefix="mmdemo-encode")


@dataclass
class Encoded:
    """Inputs after the per-modality encoders, kept so several subsets can be fused cheaply."""

    tokens: dict[str, tuple[torch.Tensor, torch.Tensor]]
    text_tokens: list[list[str]] | None = None  # word pieces per text (for attention labels)


@dataclass
class Analysis:
    inputs: tuple[str, ...]  # modalities that were used
    embedding: np.ndarray  # fused latent mean, (Z,)
    attributes: dict[str, str | int]  # predicted attributes
    confidences: dict[str, float]  # probability of each predicted value
    image: np.ndarray  # decoded face, (64, 64, 3) uint8
    text: str  # decoded description
    audio: tuple[int, np.ndarray]  # decoded voice (16000, float32 samples)
    attention: AttentionMaps
    face_crop: np.ndarray | None = None  # the face as the model saw it
    face_found: bool | None = None
    voice_input: np.ndarray | None = None  # the voice as the model heard it (16 kHz)
    unimodal: dict[str, np.ndarray] = field(default_factory=dict)  # embedding from each input alone
    generated_faces: dict[str, np.ndarray] = field(default_factory=dict)  # face from "text" / "voice" alone
    agreement: dict[str, float] = field(default_factory=dict)  # cosine similarity per input pair
    # probability that each pair comes from one person (a calibrated checkpoint only; see `calibration`)
    same_person: dict[str, float] = field(default_factory=dict)
    voice_params: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


class MultimodalModel:
    def __init__(self, net: FusionAutoencoder, device: torch.device, folder: Path | None = None):
        self.net, self.device, self.folder = net.eval(), device, folder
        self.config: ModelConfig = net.config
        self.vocab = TextVocab(self.config.text_vocab)
        # English through the frozen MiniLM; Chinese through the checkpoint's Chinese encoder, if it has one
        self.text_encoder = BilingualTextEncoder(shared_encoder(device), ChineseTextEncoder.load(folder)).to(
            device
        )
        # the frozen extractors run when the network was trained with them and they are installed;
        # without them the feature tokens are left out, as training's feature dropout prepared it for
        self.reads_face_features = bool(self.config.face_feature_dim) and face_extractor.available()
        self.reads_speaker_features = bool(self.config.speaker_feature_dim) and speaker_extractor.available()
        self.reads_features = self.reads_face_features or self.reads_speaker_features
        self.calibration = Calibration.load(folder)  # None: uncalibrated (samples N(0, I), no probability)

    # ---------------------------------------------------------------- analyze
    @torch.no_grad()
    def analyze(self, image=None, text=None, voice=None, *, language=None, audio=None) -> Analysis:
        """Analyzes any non-empty subset of face (RGB array), description (str) and voice ((sr, samples)).

        language: what the generated description and voice are in, "en" or "zh"; None: the
        description's (Chinese if it has Chinese, else English).
        `audio=` is the earlier name of `voice=`; it still works for this release and warns."""
        if audio is not None:
            warnings.warn(
                "analyze(audio=...) is renamed analyze(voice=...); audio= goes in the next release",
                DeprecationWarning,
                stacklevel=2,
            )
            voice = audio if voice is None else voice
        rgb = to_rgb_uint8(image) if image is not None else None  # refuses a broken image first
        prepared_text, text_warnings = prepare_text(text)
        if language not in (None, *ANSWER_LANGUAGES):
            raise ValueError(f"language must be {' or '.join(ANSWER_LANGUAGES)} (or None), not {language!r}")
        reads_chinese = prepared_text is not None and has_chinese(prepared_text)
        chinese = language == "zh" if language else reads_chinese
        if reads_chinese and self.text_encoder.chinese is None:
            text_warnings.append(
                "this checkpoint reads English descriptions only, so a Chinese one is read at about chance; "
                "give it a Chinese encoder with `python -m mmdemo fit-chinese`"
            )
        wave, voice_warnings = prepare_audio(voice) if voice is not None else (None, [])
        if rgb is None and prepared_text is None and wave is None:
            raise ValueError("nothing to analyze: give a face photo, a description or a voice recording")
        # The description and voice are encoded in a thread while dlib finds and reads the face here:
        # torch releases the GIL and dlib's detector does not, so the two overlap on two cores.
        heard = (
            _ENCODER_THREAD.submit(self._heard_inputs, prepared_text, wave)
            if prepared_text is not None or wave is not None
            else None
        )
        face = seen = None
        if rgb is not None:
            face = prepare_image(rgb, self.config.image_size)
            seen = network_inputs(
                self.config,
                self.text_encoder,
                self.device,
                face.crop[None],
                face_features=features_of_face(face)[None] if self.reads_face_features else None,
            )
        parts = [p for p in (seen, heard.result() if heard else None) if p is not None]
        tensors = {k: v for p in parts for k, v in p.tensors.items()}
        enc = Encoded(self.net.tokens(tensors), next((p.text_tokens for p in parts if p.text_tokens), None))
        notes = (face.warnings if face else []) + text_warnings + voice_warnings
        fused = self.fuse(enc, want_attention=True)
        inputs = tuple(m for m in MODALITIES if m in enc.tokens)
        alone = {m: self.fuse(enc, [m]) for m in inputs} if len(inputs) > 1 else {inputs[0]: fused}
        result = self._result(enc, fused, inputs, alone, face, notes, chinese=chinese)
        result.voice_input = wave
        return result

    @torch.no_grad()
    def _heard_inputs(self, text: str | None, wave: np.ndarray | None) -> NetworkInputs:
        """The network inputs of a description and a voice (MiniLM, log-mel, speaker embedding)."""
        return network_inputs(
            self.config,
            self.text_encoder,
            self.device,
            texts=[text] if text is not None else None,
            waves=[wave] if wave is not None else None,
            speaker_features=embed_speech(wave)[None]
            if wave is not None and self.reads_speaker_features
            else None,
        )

    def _result(self, enc: Encoded, fused: FusionOutput, inputs, alone, face, notes, chinese) -> Analysis:
        """alone: each input fused alone ({modality: FusionOutput}). chinese: answer in the
        description's language (the decoded description's statements written in Chinese, the voice in
        Mandarin)."""
        unimodal = {m: out.mu for m, out in alone.items()}
        probs = self.attribute_probs(fused.mu, fused.evidence)  # with the frozen features' correction
        attributes, confidences = {}, {}
        for a, p in zip(ATTRIBUTES, probs):
            k = int(p[0].argmax())
            attributes[a.name] = int(a.values[k]) if a.binary else a.values[k]
            confidences[a.name] = float(p[0, k])
        params = self.decode_voice_params(fused.mu)[0]
        phrase, language = SPOKEN["zh" if chinese else "en"]
        emotion = [str(attributes["emotion"])]
        # eSpeak (a C library, called without the interpreter lock) speaks on the other core while the
        # faces and the description are decoded here
        voice = _ENCODER_THREAD.submit(
            self.render_voices, fused.mu, phrase, emotions=emotion, language=language
        )
        cross = [m for m in ("text", "voice") if m in unimodal]
        # the reconstruction keeps the face's own detail (its private latent); faces from a description
        # or a voice alone are the ones their shared latent implies
        private = fused.private_mu
        if private is not None:  # the faces from a description or a voice: the private latent z implies
            implied = self.net.implied_private(torch.cat([unimodal[m] for m in cross])) if cross else None
            private = private if implied is None else torch.cat([private, implied.to(private.dtype)])
        faces = self.decode_images(torch.cat([fused.mu, *(unimodal[m] for m in cross)]), private)
        vectors = {m: torch.nn.functional.normalize(v[0].float(), dim=0) for m, v in unimodal.items()}
        agreement = {
            f"{a}-{b}": float(vectors[a] @ vectors[b]) for i, a in enumerate(inputs) for b in inputs[i + 1 :]
        }
        maps = attention_maps(
            fused,
            enc.text_tokens[0] if enc.text_tokens else None,
            grid=self.config.patch_grid,
            voice_token_seconds=self.config.voice_stride * 0.01,
        )
        return Analysis(
            inputs=inputs,
            embedding=fused.mu[0].float().cpu().numpy(),
            attributes=attributes,
            confidences=confidences,
            image=faces[0],
            text=sure_description(
                self.decode_texts(fused.mu)[0], attributes, confidences, "zh" if chinese else "en"
            ),
            audio=(SAMPLE_RATE, voice.result()[0]),
            attention=maps,
            face_crop=face.crop if face else None,
            face_found=face.face_found if face else None,
            unimodal={m: v[0].float().cpu().numpy() for m, v in unimodal.items()},
            generated_faces={m: faces[i + 1] for i, m in enumerate(cross)},
            agreement=agreement,
            # each input's own attribute reading weighs in on whether two inputs are one person
            same_person=self.calibration.same_person(agreement, single_attributes(self, alone))
            if self.calibration is not None and agreement
            else {},
            voice_params=params,
            warnings=notes,
        )

    # ------------------------------------------------------------- embed many
    @torch.no_grad()
    def embed(
        self,
        inputs: Inputs | Sequence,
        subsets: Sequence[Sequence[str]] = SUBSETS,
        *,
        batch_size: int = 256,
        progress: Callable[[int], None] | None = None,
    ) -> dict[tuple[str, ...], torch.Tensor]:
        """Fused latent means (N, Z) of N people under each subset, encoding each batch once.
        Arguments as `read`'s."""
        readings = self.read(inputs, subsets, batch_size=batch_size, progress=progress)
        return {s: r.mu for s, r in readings.items()}

    @torch.no_grad()
    def read(
        self,
        inputs: Inputs | Sequence,
        subsets: Sequence[Sequence[str]] = SUBSETS,
        *,
        batch_size: int = 256,
        progress: Callable[[int], None] | None = None,
        bf16: bool = False,
        evidence: bool = True,
    ) -> dict[tuple[str, ...], Reading]:
        """Per subset, N people's fused latent means and the attribute readers' evidence (what
        `analyze` reads attributes from), encoding each batch once.

        inputs: `Inputs`, or dataset samples that have every modality the subsets use; samples are
        read one batch at a time, so a large dataset's voices never sit in memory all at once.
        Only the modalities some subset uses are encoded.
        progress: called with the number of people done after each batch.
        bf16: run the networks in bf16 where the device multiplies it natively (`inference_autocast`):
        1.6x the people a second on 2 CPU cores, each latent within a cosine of 0.99998 of float32's.
        For maps of many people; `analyze` and the evaluation read in float32.
        evidence: False reads the latents only (`Reading.evidence` None), without the pixel reader."""
        subsets = [tuple(s) for s in subsets]
        precision = inference_autocast(self.device) if bf16 else contextlib.nullcontext()
        needed = [m for m in MODALITIES if any(m in s for s in subsets)]
        if isinstance(inputs, Inputs):
            missing = [m for m in needed if inputs.get(m) is None]
            if missing:
                raise ValueError(f"the subsets use {', '.join(missing)}, which the inputs do not have")
        out: dict[tuple[str, ...], list[FusionOutput]] = {s: [] for s in subsets}
        for start in range(0, len(inputs), batch_size):
            stop = start + batch_size
            part = (
                inputs.rows(start, stop)
                if isinstance(inputs, Inputs)
                else Inputs.load(inputs[start:stop], needed, features=self.reads_features)
            )
            with precision:
                enc = self.encode_inputs(
                    *(part.get(m) if m in needed else None for m in MODALITIES),
                    face_features=part.face_features if "image" in needed else None,
                    speaker_features=part.speaker_features if "voice" in needed else None,
                    evidence=evidence,
                )
                for subset in subsets:
                    out[subset].append(self.fuse(enc, subset))
            if progress is not None:
                progress(min(stop, len(inputs)))
        readings = {s: Reading.joined(parts) for s, parts in out.items()}
        return readings if evidence else {s: Reading(r.mu, None, r.private) for s, r in readings.items()}

    # ---------------------------------------------------------------- encode
    @torch.no_grad()
    def encode_inputs(
        self,
        images: np.ndarray | None = None,
        texts: Sequence[str] | None = None,
        waves: Sequence[np.ndarray] | None = None,
        *,
        face_features: np.ndarray | None = None,
        speaker_features: np.ndarray | None = None,
        evidence: bool = True,
    ) -> Encoded:
        """images: (B, 64, 64, 3) uint8; texts: B strings; waves: B float32 16 kHz clips; the frozen
        features (B, dim) of the faces and voices, when the network reads them (else ignored).
        evidence: False skips the pixel reader, for callers that want the latents only."""
        given = network_inputs(
            self.config,
            self.text_encoder,
            self.device,
            images,
            texts,
            waves,
            face_features=face_features,
            speaker_features=speaker_features,
        )
        return Encoded(self.net.tokens(given.tensors, pixel_evidence=evidence), given.text_tokens)

    @torch.no_grad()
    def fuse(
        self, encoded: Encoded, modalities: Sequence[str] | None = None, *, want_attention: bool = False
    ) -> FusionOutput:
        """Fuses the chosen modalities (default: all encoded) into the latent."""
        chosen = [m for m in MODALITIES if m in encoded.tokens and (modalities is None or m in modalities)]
        if not chosen:
            raise ValueError("none of the requested modalities was given")
        return self.net.fuse(self.net.subset(encoded.tokens, chosen), want_attention=want_attention)

    # ---------------------------------------------------------------- decode
    def sample_latents(
        self, n: int, generator: torch.Generator | None = None, *, prior: str = "auto"
    ) -> torch.Tensor:
        """n latents of new people. prior "mixture": from the Gaussian mixture fitted on the training
        latents (where the decoders learned to read); "normal": N(0, I); "auto": the mixture when the
        checkpoint is calibrated."""
        if prior not in ("auto", "mixture", "normal"):
            raise ValueError(f"prior must be auto, mixture or normal, not {prior!r}")
        mixture = self.calibration.mixture if self.calibration else None
        if prior == "mixture" and mixture is None:
            raise ValueError(f"{self.folder} has no latent mixture; run `python -m mmdemo calibrate` on it")
        if prior == "normal" or mixture is None:
            return torch.randn(n, self.config.latent_dim, generator=generator)
        return mixture.sample(n, generator)

    @torch.no_grad()
    def decode_images(self, z: torch.Tensor, private: torch.Tensor | None = None) -> np.ndarray:
        """(B, 64, 64, 3) uint8 faces of shared latents `z`; `private`: the faces' own private latents
        (`Reading.private`, `FusionOutput.private_mu`), for a network that has them; without, each
        face is the one its shared latent implies."""
        x = self.net.decode_image(z.to(self.device), None if private is None else private.to(self.device))
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
            out.append(
                {
                    "variant": variant,
                    "pitch": int(np.clip(round(v[0]), 0, 100)),
                    "rate": int(np.clip(round(v[1]), 80, 450)),
                    "range": int(np.clip(round(v[2]), 0, 100)),
                    "volume": int(np.clip(round(v[3]), 0, 200)),
                }
            )
        return out

    def render_voices(
        self,
        z: torch.Tensor,
        phrase: str = VOICE_PHRASE,
        emotions: Sequence[str] | None = None,
        language: str = "en-us",
    ) -> list[np.ndarray]:
        """Decoded voice parameters spoken by eSpeak NG (in `language`, e.g. "cmn" for Mandarin with
        VOICE_PHRASE_ZH): float32 16 kHz clips."""
        from mmdemo.synth.voices import VoiceParams, emotion_text, synthesize

        params = self.decode_voice_params(z)
        emotions = emotions or [None] * len(params)
        return [
            synthesize(emotion_text(phrase, e) if e else phrase, VoiceParams(**p), language)
            for p, e in zip(params, emotions)
        ]

    @torch.no_grad()
    def attribute_probs(self, mu: torch.Tensor, evidence: torch.Tensor | None = None) -> list[np.ndarray]:
        """Per attribute (schema order): (B, n_values) probabilities read from the latent, corrected
        by the attribute readers when `evidence` (`FusionOutput.evidence`) is given."""
        logits = self.net.attribute_logits(
            mu.to(self.device), None if evidence is None else evidence.to(self.device)
        )
        return [lg.float().softmax(-1).cpu().numpy() for lg in logits]

    def predict_attributes(
        self, mu: torch.Tensor, evidence: torch.Tensor | None = None
    ) -> list[dict[str, str]]:
        probs = self.attribute_probs(mu, evidence)
        return [
            {a.name: a.values[int(p[i].argmax())] for a, p in zip(ATTRIBUTES, probs)}
            for i in range(mu.shape[0])
        ]


def load_model(path: str | Path | None = None, device: str = "auto") -> MultimodalModel:
    """A trained checkpoint folder (config.json + model.safetensors; default: the bundled one)."""
    folder = Path(DEFAULT_CHECKPOINT if path is None else path)
    dev = resolve_device(device)
    return MultimodalModel(load_network(folder, dev), dev, folder)
