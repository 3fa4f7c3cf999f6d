"""The Explore tab: the gallery map (click a point to see and hear that person), new people sampled
from the prior, interpolation between two people, sliding along an attribute, and a UMAP
re-projection of the gallery for this session."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from webapp.errors import refuse
from webapp.i18n import T, attribute_choices, direction_choices, language, map_legend
from webapp.loader import RUNTIME
from webapp.messages import say

# Attached on page load (app.py): turns a click on a map point into the hidden button's click.
CLICK_BRIDGE = (Path(__file__).resolve().parent.parent / "click_bridge.js").read_text()


# ------------------------------------------------------------------ callbacks
@refuse
def explore_map(colour_by, dims, table_state):
    return RUNTIME.get().map(colour_by, int(dims[0]), table=table_state, **map_legend())


def first_map(colour_by, dims, table_state, drawn):
    """The gallery map the first time the tab is opened: the page loads without it (at 200,000
    people each map is 4.4 MB, and most visits start on the Analyze tab)."""
    if drawn:
        return gr.skip(), True
    return explore_map(colour_by, dims, table_state), True


@refuse
def show_person(person_id):
    """A gallery person's face, description and voice (clicked on the map)."""
    p = RUNTIME.get().person(str(person_id).strip(), language())
    return p.face, p.text, p.audio, person_id


@refuse
def sample_people(seed):
    people = RUNTIME.get().sample(4, None if seed in (None, "") else int(seed), language())
    return [(p.face, p.text) for p in people], people[0].text, people[0].audio


@refuse
def interpolate(id_a, id_b, t):
    p = RUNTIME.get().interpolate(str(id_a).strip(), str(id_b).strip(), float(t), language())
    return p.face, p.text, p.audio


@refuse
def steer(person_id, direction, amount):
    p = RUNTIME.get().steer(str(person_id).strip(), direction, float(amount), language())
    return p.face, p.text, p.audio


@refuse
def reproject(n_neighbors, min_dist, colour_by, dims, progress=gr.Progress()):
    """A new UMAP layout of the gallery for this session, with the fit's stages on a progress bar."""
    table = RUNTIME.get().reproject(n_neighbors, min_dist, lambda f, m: progress(f, desc=say(m)))
    return RUNTIME.get().map(colour_by, int(dims[0]), table=table, **map_legend()), table


# --------------------------------------------------------------------- layout
def _decoded_person() -> list:
    """Outputs for one decoded person: face, description, voice."""
    return [gr.Image(height=200), gr.Textbox(interactive=False), gr.Audio()]


def _clicked_person() -> None:
    # A hidden button in the page (visible="hidden", not False) that the click bridge presses; its
    # event reads the clicked id the bridge stored.
    clicked = gr.Button("show clicked", visible="hidden", elem_id="clicked-person")
    clicked_id = gr.Textbox(visible=False)
    with gr.Row():
        person = [
            gr.Image(label=T("face_small"), height=200),
            gr.Textbox(label=T("description_small"), interactive=False),
            gr.Audio(label=T("voice_small"), interactive=False),
            gr.Textbox(label=T("person_id"), interactive=False),
        ]
    clicked.click(show_person, clicked_id, person, api_name="person", js="(x) => window.__mmdemoClicked || x")


def _generate() -> None:
    with gr.Accordion(T("generate_people"), open=False):
        seed = gr.Number(label=T("seed"), precision=0)
        sample_btn = gr.Button(T("sample_four"))
        outs = [
            gr.Gallery(columns=4, height=220, label=T("sampled")),
            gr.Textbox(label=T("first_description"), interactive=False),
            gr.Audio(label=T("first_voice")),
        ]
        sample_btn.click(sample_people, seed, outs, api_name="sample")
    with gr.Accordion(T("interpolate"), open=False):
        with gr.Row():
            id_a, id_b = gr.Textbox(label=T("person_a")), gr.Textbox(label=T("person_b"))
            t = gr.Slider(0, 1, value=0.5, step=0.05, label=T("a_to_b"))
        t.release(interpolate, [id_a, id_b, t], _decoded_person(), api_name="interpolate")
    with gr.Accordion(T("steer"), open=False):
        with gr.Row():
            base = gr.Textbox(label=T("person_id"))
            direction = gr.Dropdown(label=T("direction"), choices=direction_choices(), value="older")
            amount = gr.Slider(-2, 2, value=1, step=0.1, label=T("amount"))
        amount.release(steer, [base, direction, amount], _decoded_person(), api_name="steer")


def build(table_state: gr.State, tab: gr.Tab) -> dict:
    """Lays out the tab inside the current Blocks and binds its events; returns its components by name.

    table_state: this session's re-projected gallery (None: the saved layout); tab: this tab, whose
    first opening draws the map."""
    c = {}
    with gr.Row():
        c["colour"] = gr.Dropdown(attribute_choices(), value="emotion", label=T("colour_by"))
        c["dims"] = gr.Radio(["2D", "3D"], value="2D", label=T("map"))
    c["map"] = gr.Plot(label=T("gallery_map"), elem_id="explore-map")
    _clicked_person()
    _generate()
    with gr.Accordion(T("reproject"), open=False):
        with gr.Row():
            n_neighbors = gr.Slider(2, 100, value=15, step=1, label=T("n_neighbors"))
            min_dist = gr.Slider(0.0, 0.99, value=0.1, step=0.01, label=T("min_dist"))
            go = gr.Button(T("reproject_button"))
        go.click(
            reproject,
            [n_neighbors, min_dist, c["colour"], c["dims"]],
            [c["map"], table_state],
            api_name="reproject",
        )
    drawn = gr.State(False)
    inputs = [c["colour"], c["dims"], table_state, drawn]
    tab.select(first_map, inputs, [c["map"], drawn], api_visibility="private")
    gr.on(
        triggers=[c["colour"].change, c["dims"].change],
        fn=explore_map,
        inputs=[c["colour"], c["dims"], table_state],
        outputs=c["map"],
        api_visibility="private",
    )
    return c
