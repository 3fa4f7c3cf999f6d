"""The Analyze tab: a face, a description and a voice in; where the person lands on the gallery map,
their nearest gallery people, reconstructions, attributes, agreement and attention out.

`/analyze_view` answers with one {component: value} dict, so no output can be matched to the wrong
component; API clients get the outputs in the order of `VIEW_OUTPUTS`."""

from __future__ import annotations

import gradio as gr
import numpy as np

from mmdemo.runtime import REPO_ROOT
from mmdemo.schema import NAMES
from mmdemo.serving.figures import heat_overlay
from webapp.errors import refuse, warn
from webapp.files import as_file, image_file, samples_parquet
from webapp.loader import RUNTIME

EXAMPLES_DIR = REPO_ROOT / "assets" / "examples"
VIEW_INPUTS = (
    "face",
    "description",
    "voice",
    "use_face",
    "use_text",
    "use_voice",
    "colour_by",
    "dims",
    "points",
)
# The order API clients receive `/analyze_view`'s outputs in (session states are not sent to them).
VIEW_OUTPUTS = (
    "map",
    "neighbours",
    "seen",
    "recon",
    "from_text",
    "from_voice",
    "gen_text",
    "gen_voice",
    "attrs",
    "agreement",
    "word",
    "word_map",
    "word_grid",
    "rollout",
    "shares",
    "voice_attn",
    "last",
    "overlays",
)


# ------------------------------------------------------------------ callbacks
def view_handler(c: dict):
    """`/analyze_view`'s function, answering with the components of this tab (`c`) as keys."""

    @refuse
    def analyze_view(face, description, voice, use_face, use_text, use_voice, colour_by, dims, points):
        """The main view: every output of one analysis, inputs left out by the what-if toggles."""
        service = RUNTIME.get()
        view = service.analyze(
            face if use_face else None, description if use_text else None, voice if use_voice else None
        )
        a = view.analysis
        warn(a.warnings)
        words = list(view.word_heat)
        first = words[0] if words else None
        # the maps are kept, each word drawn when picked: drawing all up front cost 28 ms an analysis
        overlays = {"face_crop": a.face_crop, "word_heat": view.word_heat}
        return {
            c["map"]: service.map(colour_by, int(dims[0]), view.coords, extra=points or ()),
            c["neighbours"]: view.neighbours,
            c["seen"]: image_file(a.face_crop),
            c["recon"]: image_file(a.image),
            c["from_text"]: image_file(a.generated_faces.get("text")),
            c["from_voice"]: image_file(a.generated_faces.get("voice")),
            c["gen_text"]: a.text,
            c["gen_voice"]: as_file(a.audio, ".wav"),
            c["attrs"]: view.attribute_rows,
            c["agreement"]: view.agreement_rows,
            c["word"]: gr.Dropdown(choices=words, value=first),
            c["word_map"]: show_word(first, overlays),
            c["word_grid"]: view.word_grid,
            c["rollout"]: view.rollout,
            c["shares"]: view.modality_figure,
            c["voice_attn"]: view.voice_figure,
            c["last"]: {"coords": view.coords["fused"].tolist(), "label": _label(a)},
            c["overlays"]: overlays,
        }

    return analyze_view


def _label(a) -> str:
    return ", ".join(str(a.attributes[n]) for n in ("age_group", "emotion", "hair_color"))


def show_word(word, overlays):
    """Heatmap of one word of the description over the face (its map kept from the last analysis)."""
    heat = (overlays or {}).get("word_heat", {}).get(word)
    return heat_overlay(overlays["face_crop"], heat) if heat is not None else None


@refuse
def redraw_map(colour_by, dims, last, points):
    coords = None
    if last:
        coords = {"fused": np.asarray(last["coords"], np.float32)}
    return RUNTIME.get().map(colour_by, int(dims[0]), coords, extra=points or ())


def add_to_map(points, last):
    """Keeps the last analyzed point on this session's map (never on the server)."""
    if not last:
        raise gr.Error("analyze someone first, then add them to the map")
    points = list(points or []) + [last]
    return points, f"{len(points)} of your samples on the map (this session only)"


def download_points(points):
    """Your session's samples as a Parquet file (built in memory, handed to your browser)."""
    if not points:
        raise gr.Error("nothing to download yet: analyze someone and press 'Add to map'")
    return samples_parquet(points)


# --------------------------------------------------------------------- layout
def _examples() -> list[list]:
    rows = []
    for face in sorted(EXAMPLES_DIR.glob("*.png"))[:4]:
        txt, wav = face.with_suffix(".txt"), face.with_suffix(".wav")
        rows.append(
            [str(face), txt.read_text().strip() if txt.exists() else "", str(wav) if wav.exists() else None]
        )
    return rows


def _inputs(c: dict) -> None:
    # a file path, not pixels: the library decodes it and explains a corrupt or odd file
    c["face"] = gr.Image(label="Face", sources=["upload", "webcam"], type="filepath", height=260)
    c["use_face"] = gr.Checkbox(value=True, label="use the face")
    c["description"] = gr.Textbox(
        label="Description",
        lines=2,
        max_lines=6,
        placeholder="A cheerful young woman with red hair and glasses.",
    )
    c["use_text"] = gr.Checkbox(value=True, label="use the description")
    c["voice"] = gr.Audio(label="Voice", sources=["microphone", "upload"], type="numpy")
    c["use_voice"] = gr.Checkbox(value=True, label="use the voice")
    c["run"] = gr.Button("Analyze", variant="primary", elem_id="analyze-button")
    examples = _examples()
    if examples:
        gr.Examples(examples, inputs=[c["face"], c["description"], c["voice"]], label="Examples")


def _map_column(c: dict) -> None:
    with gr.Row():
        c["colour_by"] = gr.Dropdown(list(NAMES), value="emotion", label="colour the map by")
        c["dims"] = gr.Radio(["2D", "3D"], value="2D", label="map")
    c["map"] = gr.Plot(label="Where you land (UMAP of the gallery)", elem_id="analyze-map")
    with gr.Row():
        c["add"] = gr.Button("Add to map")
        c["download"] = gr.DownloadButton("Download my samples (Parquet)")
        c["added"] = gr.Markdown("")
    c["neighbours"] = gr.Gallery(label="Nearest gallery people (cosine similarity)", columns=8, height=170)


def _reconstruct_tab(c: dict) -> None:
    with gr.Row():
        c["seen"] = gr.Image(label="the face as the model saw it", height=200)
        c["recon"] = gr.Image(label="reconstruction from the given inputs", height=200, elem_id="recon")
        c["from_text"] = gr.Image(label="face from the description alone", height=200)
        c["from_voice"] = gr.Image(label="face from the voice alone", height=200)
    with gr.Row():
        c["gen_text"] = gr.Textbox(label="generated description", interactive=False)
        c["gen_voice"] = gr.Audio(label="generated voice", interactive=False)
    with gr.Row():
        c["attrs"] = gr.Dataframe(
            headers=["attribute", "predicted", "confidence"], label="predicted attributes"
        )
        c["agreement"] = gr.Dataframe(
            headers=["pair", "cosine", "verdict"],
            label="do the inputs agree? (does this voice fit this face?)",
        )


def _attention_tab(c: dict) -> None:
    with gr.Row():
        c["word"] = gr.Dropdown(label="word", choices=[])
        c["word_map"] = gr.Image(label="where this word looks on the face", height=240)
        c["rollout"] = gr.Image(label="attention rollout over the face", height=240, elem_id="rollout")
    c["word_grid"] = gr.Image(label="every word of the description", elem_id="word-grid")
    with gr.Row():
        c["shares"] = gr.Plot(label="modality shares")
        c["voice_attn"] = gr.Plot(label="voice attention")


def _bind(c: dict) -> None:
    view = dict(
        fn=view_handler(c),
        inputs=[c[k] for k in VIEW_INPUTS],
        outputs=[c[k] for k in VIEW_OUTPUTS],
        trigger_mode="always_last",
        concurrency_limit=2,
        concurrency_id="model",
    )
    c["run"].click(api_name="analyze_view", **view)
    # A new input or a what-if toggle re-analyzes at once; API clients use the button's endpoint.
    gr.on(
        triggers=[
            c["face"].change,
            c["voice"].change,
            c["description"].submit,
            c["use_face"].change,
            c["use_text"].change,
            c["use_voice"].change,
        ],
        api_visibility="private",
        **view,
    )
    c["word"].change(show_word, [c["word"], c["overlays"]], c["word_map"], api_visibility="private")
    redraw = dict(fn=redraw_map, inputs=[c["colour_by"], c["dims"], c["last"], c["points"]], outputs=c["map"])
    # Bound before the private redraws below, so this public step keeps the endpoint name /redraw_map.
    c["add"].click(
        add_to_map, [c["points"], c["last"]], [c["points"], c["added"]], api_name="add_to_map"
    ).then(**redraw)
    c["download"].click(download_points, c["points"], c["download"], api_name="download_samples")
    gr.on(triggers=[c["colour_by"].change, c["dims"].change], api_visibility="private", **redraw)


def build(points: gr.State, last: gr.State, overlays: gr.State) -> dict:
    """Lays out the tab inside the current Blocks and binds its events; returns its components by name.

    points: this session's added samples; last: the last analyzed point; overlays: its word heatmaps."""
    c = {"points": points, "last": last, "overlays": overlays}
    with gr.Row():
        with gr.Column(scale=1, min_width=300):
            _inputs(c)
        with gr.Column(scale=2):
            _map_column(c)
    with gr.Tabs():
        with gr.Tab("Reconstruct and generate"):
            _reconstruct_tab(c)
        with gr.Tab("Attention"):
            _attention_tab(c)
    _bind(c)
    return c
