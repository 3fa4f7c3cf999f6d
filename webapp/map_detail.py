"""Large maps in detail. A gallery of more people than a map draws (`DRAWN_LIMIT`) is drawn as a fixed
sample over the density of everyone; zoomed in or panned, the page asks for the people in view and
puts them in place of the sample (`map_detail.js`, `map_detail_apply.js`), so every person can still
be hovered, clicked and heard while a pan step stays as cheap as a map of DRAWN_LIMIT points."""

from __future__ import annotations

import json
from pathlib import Path

import gradio as gr

from webapp.errors import refuse
from webapp.i18n import map_legend
from webapp.loader import RUNTIME

HERE = Path(__file__).resolve().parent
# Attached on page load (app.py): watches both maps' zoom and presses the hidden button.
MAP_DETAIL = (HERE / "map_detail.js").read_text()
# Run with the button's answer: the gallery traces' points replaced by the people in view.
MAP_DETAIL_APPLY = (HERE / "map_detail_apply.js").read_text()
MAPS = ("analyze-map", "explore-map")


@refuse
def people_in_view(viewport: str, table_state) -> dict:
    """viewport: JSON {map, colour_by, x: [x0, x1], y: [y0, y1]} from the page -> {map, traces}, the
    traces as `gallery_window` gives them (the Explore map reads this session's re-projection)."""
    try:
        view = json.loads(viewport or "")
        map_id, colour_by, x, y = view["map"], view["colour_by"], view["x"], view["y"]
    except (ValueError, TypeError, KeyError):
        raise ValueError("a map window is two finite numbers along x and two along y") from None
    if map_id not in MAPS:
        raise ValueError("a map window is two finite numbers along x and two along y")
    table = table_state if map_id == "explore-map" else None
    traces = RUNTIME.get().map_window(str(colour_by), x, y, table=table, **map_legend())
    return {"map": map_id, "traces": traces}


def build(table_state: gr.State) -> None:
    """The hidden button the page presses after a zoom, and what it answers with."""
    button = gr.Button("map detail", visible="hidden", elem_id="map-detail")
    viewport = gr.Textbox(visible=False)
    detail = gr.JSON(visible="hidden")
    button.click(
        people_in_view,
        [viewport, table_state],
        detail,
        js="(v, t) => [window.__mmdemoViewport || v, t]",
        api_visibility="private",
        show_progress="hidden",
    ).success(None, detail, None, js=MAP_DETAIL_APPLY, api_visibility="private")
