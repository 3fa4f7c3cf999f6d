"""The Analyze tab: a face, a description and a voice in; where the person lands on the gallery map,
their nearest gallery people, reconstructions, attributes, agreement and attention out.

`/analyze_view` answers with one {component: value} dict, so no output can be matched to the wrong
component; API clients get the outputs in the order of `VIEW_OUTPUTS`."""

from __future__ import annotations

import gradio as gr
import numpy as np
import pandas as pd

from mmdemo.runtime import REPO_ROOT
from mmdemo.serving.figures import heat_overlay
from webapp.errors import refuse, warn
from webapp.files import as_file, compact_image_file, gallery_face_file, image_file, samples_parquet
from webapp.i18n import (
    AGREEMENT_HEADERS,
    ATTRIBUTE_HEADERS,
    T,
    attribute_choices,
    headers,
    language,
    map_legend,
    table_rows,
)
from webapp.live_points import LIVE_POINTS, map_points
from webapp.loader import RUNTIME
from webapp.messages import message, refusal

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
def neighbour_pictures(service, view) -> list[tuple[str, str]]:
    """The page's neighbours: each gallery face as its static file (see `gallery_face_file`)."""
    faces = service.gallery.table["face_jpeg"]
    return [
        (gallery_face_file(faces.iat[row]), caption)
        for row, (_, caption) in zip(view.neighbour_rows, view.neighbours)
    ]


def view_handler(c: dict, page: bool = False):
    """An analysis handler answering with the components of this tab (`c`) as keys.

    page=False: `/analyze_view` for API clients: the whole map figure, PNG pictures, every view.
    page=True: what the page needs after its first load: this analysis's own map points only (the
    gallery came with the page; `LIVE_POINTS` swaps them in), WebP pictures at the model's resolution,
    and the Attention tab's views only while that tab is open (`attention_opener` draws them when it
    is opened): ~1/15 of the bytes and half the server time."""
    picture = compact_image_file if page else image_file

    @refuse
    def analyze_view(face, description, voice, use_face, use_text, use_voice, colour_by, dims, points, *tab):
        """The main view: every output of one analysis, inputs left out by the what-if toggles.
        tab: the page's "Attention tab is open" state (API clients pass nothing)."""
        service = RUNTIME.get()
        # a Chinese page answers in Chinese; an English one answers a Chinese description in Chinese
        answer = "zh" if language() == "zh" else None
        view = service.analyze(
            face if use_face else None,
            description if use_text else None,
            voice if use_voice else None,
            language=answer,
        )
        a = view.analysis
        warn(a.warnings)
        ndims = int(dims[0])
        overlays = {"view": view, "page": page}
        values = {
            c["neighbours"]: neighbour_pictures(service, view) if page else view.neighbours,
            c["seen"]: picture(a.face_crop),
            c["recon"]: picture(a.image),
            c["from_text"]: picture(a.generated_faces.get("text")),
            c["from_voice"]: picture(a.generated_faces.get("voice")),
            c["gen_text"]: a.text,
            c["gen_voice"]: as_file(a.audio, ".wav"),
            c["attrs"]: table(view.attribute_rows, ATTRIBUTE_HEADERS),
            c["agreement"]: table(view.agreement_rows, AGREEMENT_HEADERS),
            c["last"]: {
                "coords": view.coords["fused"].tolist(),
                "live": {m: xy.tolist() for m, xy in view.coords.items()},
                "label": _label(a),
            },
            c["overlays"]: overlays,
        }
        attention_open = not page or (tab and tab[0])
        skipped = {c[k]: gr.skip() for k in ATTENTION}
        values.update(attention_views(c, overlays) if attention_open else skipped)
        if page:
            values[c["map_update"]] = map_points("analyze-map", view.coords, ndims)
        else:
            values[c["map"]] = service.map(colour_by, ndims, view.coords, extra=points or (), **map_legend())
        return values

    return analyze_view


ATTENTION = ("word", "word_map", "word_grid", "rollout", "shares", "voice_attn")


def attention_views(c: dict, overlays: dict) -> dict:
    """The Attention tab's views of the last analysis (kept in `overlays`), drawn now."""
    view, page = overlays["view"], overlays["page"]
    words = list(view.word_heat)
    first = words[0] if words else None
    # each word's map is drawn when it is picked: drawing all up front cost 28 ms an analysis
    return {
        c["word"]: gr.Dropdown(choices=words, value=first),
        c["word_map"]: show_word(first, overlays),
        c["word_grid"]: compact_image_file(view.word_grid) if page else view.word_grid,
        c["rollout"]: compact_image_file(view.rollout) if page else view.rollout,
        c["shares"]: view.modality_figure,
        c["voice_attn"]: view.voice_figure,
    }


def attention_opener(c: dict):
    """The Attention tab was opened: its views of the last analysis, and analyses draw them from now."""

    def open_attention(overlays):
        if not overlays or "view" not in overlays:
            return {c["attention_open"]: True}
        return {c["attention_open"]: True, **attention_views(c, overlays)}

    return open_attention


def table(rows: list[list], names: list[str]) -> pd.DataFrame:
    """A table's rows and headers in the page's language (API clients: English, as before)."""
    return pd.DataFrame(table_rows(rows), columns=headers(names))


def empty_tables(c: dict) -> dict:
    """The two tables' headers in the page's language, before any analysis (set at page load)."""
    return {c["attrs"]: table([], ATTRIBUTE_HEADERS), c["agreement"]: table([], AGREEMENT_HEADERS)}


def _label(a) -> str:
    return ", ".join(str(a.attributes[n]) for n in ("age_group", "emotion", "hair_color"))


def show_word(word, overlays):
    """Heatmap of one word of the description over the face (its map kept from the last analysis)."""
    view = (overlays or {}).get("view")
    heat = view.word_heat.get(word) if view is not None else None
    if heat is None:
        return None
    overlay = heat_overlay(view.analysis.face_crop, heat)
    return compact_image_file(overlay) if overlays["page"] else overlay


@refuse
def redraw_map(colour_by, dims, last, points):
    """The whole map again (another colouring or 2D/3D): the gallery, your samples and your last point."""
    coords = None
    if last:
        coords = {m: np.asarray(xy, np.float32) for m, xy in last["live"].items()}
    return RUNTIME.get().map(colour_by, int(dims[0]), coords, extra=points or (), **map_legend())


def add_to_map(points, last):
    """Keeps the last analyzed point on this session's map (never on the server)."""
    if not last:
        raise refusal("analyze someone first, then add them to the map")
    points = list(points or []) + [last]
    return points, message("{n} of your samples on the map (this session only)", n=len(points))


def download_points(points):
    """Your session's samples as a Parquet file (built in memory, handed to your browser)."""
    if not points:
        raise refusal("nothing to download yet: analyze someone and press 'Add to map'")
    return samples_parquet(points)


# --------------------------------------------------------------------- layout
def _examples() -> list[list]:
    rows = []
    for face in sorted(EXAMPLES_DIR.glob("*.png"))[:5]:  # the fifth describes its person in Chinese
        txt, wav = face.with_suffix(".txt"), face.with_suffix(".wav")
        rows.append(
            [str(face), txt.read_text().strip() if txt.exists() else "", str(wav) if wav.exists() else None]
        )
    return rows


def _inputs(c: dict) -> None:
    # a file path, not pixels: the library decodes it and explains a corrupt or odd file
    c["face"] = gr.Image(label=T("face"), sources=["upload", "webcam"], type="filepath", height=260)
    c["use_face"] = gr.Checkbox(value=True, label=T("use_face"))
    c["description"] = gr.Textbox(
        label=T("description"), lines=2, max_lines=6, placeholder=T("description_hint")
    )
    c["use_text"] = gr.Checkbox(value=True, label=T("use_text"))
    c["voice"] = gr.Audio(label=T("voice"), sources=["microphone", "upload"], type="numpy")
    c["use_voice"] = gr.Checkbox(value=True, label=T("use_voice"))
    c["run"] = gr.Button(T("analyze"), variant="primary", elem_id="analyze-button")
    examples = _examples()
    if examples:
        shown = gr.Examples(examples, inputs=[c["face"], c["description"], c["voice"]], label=T("examples"))
        # its column headers would repeat the inputs' labels untranslated (Gradio translates labels, not
        # these); the pictures, words and clips speak for themselves
        shown.dataset.headers = []


def _map_column(c: dict) -> None:
    with gr.Row():
        c["colour_by"] = gr.Dropdown(attribute_choices(), value="emotion", label=T("colour_map_by"))
        c["dims"] = gr.Radio(["2D", "3D"], value="2D", label=T("map"), elem_id="analyze-dims")
    c["map"] = gr.Plot(label=T("where_you_land"), elem_id="analyze-map")
    c["map_update"] = gr.JSON(visible="hidden", elem_id="map-update")  # this analysis's points only
    with gr.Row():
        c["add"] = gr.Button(T("add_to_map"))
        c["download"] = gr.DownloadButton(T("download_samples"))
        c["added"] = gr.Markdown("")
    c["neighbours"] = gr.Gallery(label=T("neighbours"), columns=8, height=170)


def _reconstruct_tab(c: dict) -> None:
    with gr.Row():
        c["seen"] = gr.Image(label=T("seen"), height=200)
        c["recon"] = gr.Image(label=T("recon"), height=200, elem_id="recon")
        c["from_text"] = gr.Image(label=T("from_text"), height=200)
        c["from_voice"] = gr.Image(label=T("from_voice"), height=200)
    with gr.Row():
        c["gen_text"] = gr.Textbox(label=T("gen_text"), interactive=False)
        c["gen_voice"] = gr.Audio(label=T("gen_voice"), interactive=False)
    with gr.Row():
        # headers in English until the page's load event sets them in its language
        c["attrs"] = gr.Dataframe(headers=ATTRIBUTE_HEADERS, label=T("attrs"))
        c["agreement"] = gr.Dataframe(headers=AGREEMENT_HEADERS, label=T("agreement"))


def _attention_tab(c: dict) -> None:
    with gr.Row():
        c["word"] = gr.Dropdown(label=T("word"), choices=[])
        c["word_map"] = gr.Image(label=T("word_map"), height=240)
        c["rollout"] = gr.Image(label=T("rollout"), height=240, elem_id="rollout")
    c["word_grid"] = gr.Image(label=T("word_grid"), elem_id="word-grid")
    with gr.Row():
        c["shares"] = gr.Plot(label=T("shares"))
        c["voice_attn"] = gr.Plot(label=T("voice_attn"))


def _bind(c: dict) -> None:
    inputs = [c[k] for k in VIEW_INPUTS]
    shared = dict(trigger_mode="always_last", concurrency_limit=2, concurrency_id="model")
    # API clients: the whole map figure and lossless pictures, on a button the page never shows.
    gr.Button("analyze view", visible="hidden").click(
        fn=view_handler(c),
        inputs=inputs,
        outputs=[c[k] for k in VIEW_OUTPUTS],
        api_name="analyze_view",
        **shared,
    )
    # The page: the same analysis, its own points swapped into the map drawn at page load. A new input
    # or a what-if toggle re-analyzes at once.
    page_outputs = [c[k] for k in VIEW_OUTPUTS if k != "map"] + [c["map_update"]]
    page_inputs = inputs + [c["attention_open"]]
    gr.on(
        triggers=[
            c["run"].click,
            c["face"].change,
            c["voice"].change,
            c["description"].submit,
            c["use_face"].change,
            c["use_text"].change,
            c["use_voice"].change,
        ],
        fn=view_handler(c, page=True),
        outputs=page_outputs,
        api_visibility="private",
        inputs=page_inputs,
        # one progress indicator, on the map: a dozen animated ones kept a core of this machine busy
        # drawing while the model ran
        show_progress_on=[c["map"]],
        **shared,
    ).success(None, c["map_update"], None, js=LIVE_POINTS, api_visibility="private")
    c["recon_tab"].select(lambda: False, None, c["attention_open"], api_visibility="private")
    c["attention_tab"].select(
        attention_opener(c),
        c["overlays"],
        [c["attention_open"]] + [c[k] for k in ATTENTION],
        api_visibility="private",
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
    c = {"points": points, "last": last, "overlays": overlays, "attention_open": gr.State(False)}
    with gr.Row():
        with gr.Column(scale=1, min_width=300):
            _inputs(c)
        with gr.Column(scale=2):
            _map_column(c)
    with gr.Tabs():
        with gr.Tab(T("tab_reconstruct")) as c["recon_tab"]:
            _reconstruct_tab(c)
        with gr.Tab(T("tab_attention")) as c["attention_tab"]:
            _attention_tab(c)
    _bind(c)
    return c
