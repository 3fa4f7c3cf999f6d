"""What the demo serves, independent of any UI toolkit: a loaded model and its
gallery, and one method per user action returning display-ready results
(arrays, plotly figures, plain text). The Gradio app only lays these out.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import cv2
import numpy as np
import torch

from mmdemo.inference.calibration import verdict
from mmdemo.inference.model import (
    SPOKEN,
    VOICE_PHRASE,
    Analysis,
    Encoded,
    MultimodalModel,
    load_model,
)
from mmdemo.inference.projection import Gallery, fit_umap, load_gallery
from mmdemo.schema import DIRECTIONS, MODALITIES, NAMES
from mmdemo.serving.figures import (
    gallery_window,
    heat_overlay,
    map_figure,
    modality_bar,
    value_label,
    voice_attention_figure,
    with_hover_text,
    word_maps,
)
from mmdemo.serving.model_card import model_card
from mmdemo.synth.descriptions import in_chinese

log = logging.getLogger(__name__)
DISPLAY = 256  # px a side for faces shown in the UI (the model works at 64)


def upscale(img: np.ndarray, size: int = DISPLAY) -> np.ndarray:
    return cv2.resize(img, (size, size), interpolation=cv2.INTER_CUBIC)


@dataclass
class Person:
    """A face, description and voice the model generated (or a gallery entry)."""

    face: np.ndarray
    text: str
    audio: tuple[int, np.ndarray]
    attributes: dict = field(default_factory=dict)


@dataclass
class AnalysisView:
    """One analysis and what the views show of it. The attention pictures are drawn when first read:
    a page that does not show them yet (another tab is open) does not pay for them."""

    analysis: Analysis
    coords: dict[str, np.ndarray]  # map coordinates of the fused and single-input points
    neighbours: list[tuple[np.ndarray, str]]  # (face, caption)
    attribute_rows: list[list]  # [attribute, value, confidence]
    agreement_rows: list[list]  # [pair, cosine similarity, probability of one person or "", verdict]
    neighbour_rows: list[int] = field(default_factory=list)  # each neighbour's gallery row

    @property
    def word_heat(self) -> dict[str, np.ndarray]:
        """word -> its (grid, grid) map over the face; each drawn on demand"""
        att = self.analysis.attention
        return dict(zip(att.words, att.text_to_image)) if att.text_to_image is not None else {}

    @cached_property
    def word_grid(self) -> np.ndarray | None:
        att = self.analysis.attention
        if att.text_to_image is None:
            return None
        return word_maps(self.analysis.face_crop, att.words, att.text_to_image)

    @cached_property
    def rollout(self) -> np.ndarray | None:
        heat = self.analysis.attention.rollout
        return heat_overlay(self.analysis.face_crop, heat) if heat is not None else None

    @cached_property
    def modality_figure(self):
        return modality_bar(self.analysis.attention.modality_share)

    @cached_property
    def voice_figure(self):
        a, att = self.analysis, self.analysis.attention
        if att.voice_frames is None:
            return None
        return voice_attention_figure(a.voice_input, att.voice_frames, att.voice_token_seconds)


@dataclass
class LiveReading:
    """One camera frame as the model read it: the pieces a live view draws (UI-neutral arrays)."""

    crop: np.ndarray  # (64, 64, 3) RGB: the face as the model saw it
    box: tuple[int, int, int, int] | None  # detected face (x, y, w, h) in the frame; None: centre used
    reconstruction: np.ndarray  # (64, 64, 3) RGB decoded from the fused latent
    heat: np.ndarray  # (grid, grid) attention rollout from [FUSE] to face patches
    coords: np.ndarray  # (5,) map coordinates: x2, y2, x3, y3, z3
    embedding: np.ndarray  # (Z,) fused latent mean
    inputs: tuple[str, ...] = ("image",)  # modalities fused (a description/voice context adds theirs)


class DemoService:
    def __init__(self, checkpoint: str | Path, device: str = "auto"):
        self.checkpoint = Path(checkpoint)
        self.model: MultimodalModel = load_model(self.checkpoint, device)
        self.gallery: Gallery = load_gallery(self.checkpoint)
        self.ids = {pid: i for i, pid in enumerate(self.gallery.table["id"])}
        metrics = self.checkpoint / "metrics.json"
        self.metrics = json.loads(metrics.read_text()) if metrics.is_file() else {}
        self.gallery.table = with_hover_text(self.gallery.table)  # once, not on every map redraw
        self._directions = self._attribute_directions()
        # First-call costs paid at start, not by the first visitor: allocations, eSpeak, and every face
        # model a photo can need (the detectors, and for a model that reads real faces the landmark
        # predictor and descriptor network: ~130 MB that would otherwise land in the middle of serving)
        blank = np.zeros((64, 64, 3), np.uint8)
        warm = self.model.analyze(image=blank, text="warm-up")
        self.model.analyze(image=blank, text="warm-up", voice=warm.audio)  # its own voice: the voice path

    # ---------------------------------------------------------------- analyze
    def analyze(self, face=None, text=None, voice=None, k: int = 8, language=None) -> AnalysisView:
        """language: of the generated description and voice ("en", "zh"; None: the description's)."""
        a = self.model.analyze(image=face, text=text, voice=voice, language=language)
        points = {"fused": a.embedding, **(a.unimodal if len(a.inputs) > 1 else {})}
        placed = self.gallery.place(np.stack(list(points.values())))
        coords = dict(zip(points, placed))
        neighbours, rows = [], []
        descriptions = self.gallery.table["description"]
        for row, sim in self.gallery.neighbours(a.embedding, k):
            caption = f"{sim:.2f} · {descriptions.iat[row][:60]}"
            neighbours.append((upscale(self.gallery.face(row), 128), caption))
            rows.append(int(row))
        attr_rows = [[n, value_label(n, a.attributes[n]), round(a.confidences[n], 3)] for n in NAMES]
        agree = [_agreement_row(pair, cos, a.same_person.get(pair)) for pair, cos in a.agreement.items()]
        return AnalysisView(
            analysis=a,
            coords=coords,
            neighbours=neighbours,
            attribute_rows=attr_rows,
            agreement_rows=agree,
            neighbour_rows=rows,
        )

    def map(
        self,
        colour_by: str = "emotion",
        dims: int = 2,
        coords: dict | None = None,
        extra: Sequence[dict] = (),
        table=None,
        **legend,
    ):
        """The gallery map (`map_figure`); legend: its `names` and `words` in another language."""
        table = self.gallery.table if table is None else table
        return map_figure(table, colour_by, dims, live=coords, extra=extra, **legend)

    def map_window(self, colour_by: str, x_range, y_range, table=None, **legend) -> list[dict]:
        """The gallery people a large map draws in the window x_range x y_range (`gallery_window`):
        what the page shows when zoomed in on a map of more than DRAWN_LIMIT people."""
        table = self.gallery.table if table is None else table
        ranges = [np.asarray(r, dtype=np.float64) for r in (x_range, y_range)]
        if any(r.shape != (2,) or not np.isfinite(r).all() for r in ranges):
            raise ValueError("a map window is two finite numbers along x and two along y")
        return gallery_window(table, colour_by, *ranges, words=legend.get("words", {}))

    # ----------------------------------------------------------------- explore
    def person(self, person_id: str, language: str = "en") -> Person:
        """A gallery person; language "zh": their description's statements written in Chinese."""
        if person_id not in self.ids:
            raise ValueError(f"no person {person_id!r} in the gallery; click a point on the map")
        from mmdemo.synth.voices import VoiceParams, synthesize

        row = self.gallery.table.iloc[self.ids[person_id]]
        params = VoiceParams.from_dict(row.to_dict())
        audio = synthesize(str(row["voice_text"]) or VOICE_PHRASE, params)
        return Person(
            upscale(self.gallery.face(self.ids[person_id])),
            in_chinese(str(row["description"])) if language == "zh" else str(row["description"]),
            (16000, audio),
            {n: row[n] for n in NAMES},
        )

    def decode(self, z: torch.Tensor, language: str = "en") -> list[Person]:
        """Latents -> faces, descriptions and voices, in English or ("zh") Chinese and Mandarin.

        The voice's intonation follows the predicted emotion."""
        faces = self.model.decode_images(z)
        texts = self.model.decode_texts(z)
        attrs = self.model.predict_attributes(z)
        if language == "zh":
            texts = [in_chinese(t) for t in texts]
        phrase, spoken = SPOKEN[language]
        voices = self.model.render_voices(z, phrase, emotions=[a["emotion"] for a in attrs], language=spoken)
        return [Person(upscale(f), t, (16000, v), a) for f, t, v, a in zip(faces, texts, voices, attrs)]

    def sample(self, n: int = 4, seed: int | None = None, language: str = "en") -> list[Person]:
        gen = torch.Generator().manual_seed(
            int(seed) if seed is not None else int(np.random.randint(1 << 30))
        )
        return self.decode(self.model.sample_latents(n, gen), language)

    def embedding_of(self, person_id: str) -> torch.Tensor:
        if person_id not in self.ids:
            raise ValueError(f"no person {person_id!r} in the gallery; pick one from the list or the map")
        return torch.from_numpy(
            np.array(self.gallery.table["embedding"].iloc[self.ids[person_id]], np.float32)
        )

    def interpolate(self, id_a: str, id_b: str, t: float, language: str = "en") -> Person:
        za, zb = self.embedding_of(id_a), self.embedding_of(id_b)
        return self.decode(((1 - t) * za + t * zb)[None], language)[0]

    def steer(self, person_id: str, direction: str, amount: float, language: str = "en") -> Person:
        if direction not in self._directions:
            raise ValueError(f"unknown direction {direction!r}; choose one of {', '.join(self._directions)}")
        z = self.embedding_of(person_id) + amount * self._directions[direction]
        return self.decode(z[None], language)[0]

    def _attribute_directions(self) -> dict[str, torch.Tensor]:
        """Mean embedding of gallery people with the value minus the mean of those without it."""
        emb = np.stack(self.gallery.table["embedding"].to_numpy()).astype(np.float32)
        out = {}
        for name, (attr, value) in DIRECTIONS.items():
            has = (self.gallery.table[attr].astype(str) == value).to_numpy()
            if has.any() and (~has).any():
                out[name] = torch.from_numpy(emb[has].mean(0) - emb[~has].mean(0))
        return out

    @property
    def directions(self) -> list[str]:
        return list(self._directions)

    def reproject(
        self, n_neighbors: int, min_dist: float, progress: Callable[[float, str], None] | None = None
    ):
        """A new UMAP layout of the gallery (this session only); returns the table with new coordinates."""
        if not 2 <= int(n_neighbors) <= 200 or not 0.0 <= float(min_dist) <= 1.0:
            raise ValueError("n_neighbors must be 2-200 and min_dist 0-1")
        say = progress or (lambda f, m: None)
        emb = np.stack(self.gallery.table["embedding"].to_numpy()).astype(np.float32)
        say(0.05, "UMAP 2D (the first run in a process compiles for ~15 s)")
        two = fit_umap(emb, n_components=2, n_neighbors=int(n_neighbors), min_dist=float(min_dist))
        say(0.55, "UMAP 3D")
        three = fit_umap(emb, n_components=3, n_neighbors=int(n_neighbors), min_dist=float(min_dist))
        table = self.gallery.table.copy()
        table[["x2", "y2"]], table[["x3", "y3", "z3"]] = two, three
        say(1.0, "done")
        return table

    # -------------------------------------------------------------------- live
    def live_context(
        self, text: str | None = None, voice: tuple[int, np.ndarray] | None = None
    ) -> Encoded | None:
        """A description and/or voice encoded once, to be fused with every later camera frame.

        Encoding text (MiniLM) or a voice per frame would cost more than the face itself; their tokens do
        not change between frames, so they are computed here once. None when both are empty.
        A silent voice raises the library's ValueError ("no voice detected ...")."""
        from mmdemo.data.preprocess import prepare_audio, prepare_text

        prepared, _ = prepare_text(text)
        wave = prepare_audio(voice)[0] if voice is not None else None
        if prepared is None and wave is None:
            return None
        return self.model.encode_inputs(
            None, [prepared] if prepared else None, [wave] if wave is not None else None
        )

    def live_reading(self, frame: np.ndarray, context: Encoded | None = None) -> LiveReading:
        """One RGB camera frame (plus an optional `live_context`) -> the raw pieces the live views draw.

        Only what the live views show is computed: no text or voice decoding per frame."""
        from mmdemo.data.preprocess import prepare_image
        from mmdemo.inference.attention import attention_rollout

        face = prepare_image(frame, self.model.config.image_size)
        encoded = self.model.encode_inputs(images=face.crop[None])
        if context is not None:
            encoded = Encoded({**context.tokens, **encoded.tokens}, context.text_tokens)
        fused = self.model.fuse(encoded, want_attention=True)
        grid = self.model.config.patch_grid
        mu = fused.mu.float().cpu().numpy()
        return LiveReading(
            crop=face.crop,
            box=face.box,
            reconstruction=self.model.decode_images(fused.mu, fused.private_mu)[0],
            heat=attention_rollout(fused)[: grid * grid].reshape(grid, grid),
            coords=self.gallery.place(mu)[0],
            embedding=mu[0],
            inputs=tuple(m for m in MODALITIES if m in encoded.tokens),
        )

    def live_frame(self, frame: np.ndarray, size: int = DISPLAY):
        """One webcam frame -> (reconstruction, rollout overlay, map coordinates (5,), embedding), the
        two pictures `size` px a side.

        The map is not drawn per frame: the app draws it once and moves the point (`live_traces`)."""
        r = self.live_reading(frame)
        return upscale(r.reconstruction, size), heat_overlay(r.crop, r.heat, size=size), r.coords, r.embedding

    def model_card(self) -> str:
        return model_card(self.checkpoint, self.metrics, len(self.gallery.table), self.model.reads_features)


def _agreement_row(pair: str, cos: float, same_person: float | None) -> list:
    """[pair, cosine, probability, verdict]. The verdict follows the calibrated probability; an
    uncalibrated checkpoint gives none and is judged by fixed cosine cut-offs instead."""
    if same_person is None:
        return [pair.replace("image", "face"), round(cos, 3), "", verdict_of_cosine(cos)]
    return [pair.replace("image", "face"), round(cos, 3), round(same_person, 3), verdict(same_person)]


def verdict_of_cosine(cos: float) -> str:
    return "agree" if cos > 0.6 else ("unsure" if cos > 0.3 else "disagree")
