"""The hidden `/analyze` endpoint for API clients: exactly (face image, description, voice audio) in,
(decoded face, generated description, generated voice, summary) out.

Its inputs are files, not decoded media: the library reads them and names what is wrong with a corrupt
or mislabelled upload. The page itself uses `/analyze_view` (tabs/analyze.py)."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from webapp.errors import refuse, warn
from webapp.files import as_file, image_file
from webapp.loader import RUNTIME


@refuse
def analyze(face, description, voice):
    """API: (face image, description, voice audio) -> decoded face, generated description,
    generated voice, summary."""
    if isinstance(voice, (str, Path)):
        from mmdemo.audio import read_audio
        from mmdemo.data.preprocess import MAX_AUDIO_SECONDS

        # A second more than is used: the "longer than" warning still fires,
        # an hour-long upload is not decoded.
        voice = read_audio(voice, max_seconds=MAX_AUDIO_SECONDS + 1)
    view = RUNTIME.get().analyze(face, description, voice)
    a = view.analysis
    warn(a.warnings)
    summary = {
        "inputs": list(a.inputs),
        "attributes": a.attributes,
        "confidences": a.confidences,
        "face_found": a.face_found,
        "agreement": a.agreement,
        "same_person": a.same_person,
        "embedding": a.embedding.round(5).tolist(),
        "map": {k: v[:2].round(4).tolist() for k, v in view.coords.items()},
        "modality_share": a.attention.modality_share,
        "voice_params": a.voice_params,
        "warnings": a.warnings,
    }
    return image_file(a.image), a.text, as_file(a.audio, ".wav"), summary


def build() -> None:
    """Invisible components and a hidden button carrying `/analyze` (inside the Blocks being built)."""
    inputs = [
        gr.File(visible=False, label="face image"),
        gr.Textbox(visible=False, label="description"),
        gr.File(visible=False, label="voice audio"),
    ]
    outputs = [
        gr.Image(visible=False),
        gr.Textbox(visible=False),
        gr.Audio(visible=False),
        gr.JSON(visible=False),
    ]
    gr.Button("api", visible="hidden").click(
        analyze, inputs, outputs, api_name="analyze", concurrency_limit=2, concurrency_id="model"
    )
