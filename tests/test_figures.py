"""The map figure in 2D and 3D, with the live point, its single-input triangle and user-added points."""

import base64
import json

import numpy as np
import pandas as pd
import pytest

from mmdemo.schema import BY_NAME, NAMES
from mmdemo.serving import figures
from mmdemo.serving.figures import LIVE, live_traces, map_figure


@pytest.fixture()
def table():
    rng = np.random.default_rng(0)
    n = 40
    coords = {k: rng.normal(size=n) for k in ("x2", "y2", "x3", "y3", "z3")}
    attrs = {name: ["0"] * n for name in NAMES}
    attrs["emotion"] = list(rng.choice(["happy", "sad", "neutral"], n))
    return pd.DataFrame(
        {"id": [f"p{i}" for i in range(n)], "description": ["<b>x</b>"] * n, **attrs, **coords}
    )


@pytest.mark.parametrize("dims", [2, 3])
def test_the_live_point_and_its_triangle_draw_in_both_dimensions(table, dims):
    live = {m: np.arange(5, dtype=np.float32) + i for i, m in enumerate(("fused", "image", "text", "voice"))}
    extra = [{"coords": [9.0, 9.0, 9.0, 9.0, 9.0], "label": "mine"}]
    fig = map_figure(table, "emotion", dims, live=live, extra=extra)
    fig.to_json()  # plotly validates every trace here: a marker symbol 3D cannot draw raises
    names = [t.name for t in fig.data]
    assert any("you are here" in (n or "") for n in names)
    gallery_points = sum(len(t.x) for t in fig.data if t.name in {"happy", "sad", "neutral"})
    assert gallery_points == len(table)
    xs = np.concatenate([np.asarray(t.x, float) for t in fig.data])
    assert 9.0 in xs, "the user-added point is on the map"


def _plain(value):
    """A figure's JSON with plotly's binary-encoded arrays ({dtype, bdata}) decoded to lists."""
    if isinstance(value, dict) and "bdata" in value:
        return np.frombuffer(base64.b64decode(value["bdata"]), np.dtype(value["dtype"])).tolist()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


@pytest.mark.parametrize("dims", [2, 3])
@pytest.mark.parametrize("singles", [(), ("image", "text"), ("image", "text", "voice")])
def test_the_incremental_update_draws_what_a_full_redraw_draws(table, dims, singles):
    """The page keeps the gallery drawn and swaps in `live_traces` after each analysis: the gallery plus
    those traces must be exactly the figure a full redraw makes, and only they are tagged as live."""
    rng = np.random.default_rng(dims)
    live = {m: rng.normal(size=5).astype(np.float32) for m in ("fused", *singles)}
    extra = [{"coords": [9.0] * 5, "label": "mine"}]
    full = _plain(json.loads(map_figure(table, "emotion", dims, live=live, extra=extra).to_json())["data"])
    gallery = _plain(json.loads(map_figure(table, "emotion", dims, extra=extra).to_json())["data"])
    update = json.loads(json.dumps(live_traces(live, dims)))  # plain JSON: no numpy left in it
    assert gallery + update == full
    assert [t.get("meta") == LIVE for t in full] == [False] * len(gallery) + [True] * len(update)
    # the fused point, each single input's point and (for two or more) the triangle joining them
    assert update[-1]["name"] == "you are here"
    assert len(update) == 1 + len(singles) + (len(singles) >= 2)


def test_hover_text_is_made_once_escaped_and_matches_each_point(table):
    from mmdemo.serving.figures import hover_text, with_hover_text

    prepared = with_hover_text(table)
    assert "hover" not in table and with_hover_text(prepared) is prepared  # made once, input untouched
    assert all("&lt;b&gt;" in h and "<b>" not in h.split("<br>")[0] for h in prepared["hover"])
    fig = map_figure(prepared, "emotion", 2)
    for trace in fig.data:
        ids = list(trace.customdata)
        rows = table.set_index("id").loc[ids].reset_index().to_dict("records")
        assert list(trace.hovertext) == [hover_text(r) for r in rows]  # each point's own text
    assert list(map_figure(table, "emotion", 2).data[0].hovertext) == list(fig.data[0].hovertext)


def test_a_picked_word_is_drawn_from_its_kept_map():
    from types import SimpleNamespace

    from PIL import Image

    from mmdemo.serving.figures import heat_overlay
    from webapp.tabs.analyze import show_word

    rng = np.random.default_rng(1)
    crop = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    heat = {"smiling": rng.random((8, 8)), "woman": rng.random((8, 8))}
    view = SimpleNamespace(word_heat=heat, analysis=SimpleNamespace(face_crop=crop))
    state = {"view": view, "page": False}  # as an API call keeps it: pictures as arrays
    drawn = show_word("woman", state)
    assert drawn.shape == (256, 256, 3) and np.array_equal(drawn, heat_overlay(crop, heat["woman"]))
    assert not np.array_equal(drawn, show_word("smiling", state))
    assert show_word("absent", state) is None and show_word(None, None) is None
    # the page gets the same picture as a small lossy WebP file
    path = show_word("woman", {"view": view, "page": True})
    assert path.endswith(".webp")
    served = np.asarray(Image.open(path).convert("RGB"), np.int16)
    assert served.shape == drawn.shape and np.abs(served - drawn).mean() < 6


def test_a_map_past_the_hover_limit_names_points_by_id_over_a_density_shading(table, monkeypatch):
    from mmdemo.serving import figures

    prepared = figures.with_hover_text(table)  # a gallery's table keeps its texts when sampled up
    monkeypatch.setattr(figures, "HOVER_LIMIT", len(table) - 1)
    fig = map_figure(prepared, "emotion", 2)
    density, *points = fig.data
    assert density.type == "heatmap" and density.hoverinfo == "skip"
    z = np.nan_to_num(np.asarray(density.z, float))
    assert z.max() == 255 and (z > 0).sum() <= len(table)  # shaded cells: at most one per point
    for t in points:  # no descriptions, but each point still names (and clicks through to) its person
        assert t.hovertext is None and "%{customdata}" in t.hovertemplate and len(t.customdata) == len(t.x)
    assert sum(len(t.x) for t in points) == len(table)
    fig.to_json()  # valid plotly
    three_d = map_figure(prepared, "emotion", 3)
    assert all(t.type == "scatter3d" for t in three_d.data)  # no shading in 3D


@pytest.fixture()
def crowd(monkeypatch):
    """A gallery of 400 people and a map that draws at most 60 at once."""
    monkeypatch.setattr(figures, "DRAWN_LIMIT", 60)
    rng = np.random.default_rng(1)
    n = 400
    coords = {k: rng.uniform(-10, 10, size=n) for k in ("x2", "y2", "x3", "y3", "z3")}
    attrs = {name: ["0"] * n for name in NAMES}
    attrs["emotion"] = list(rng.choice(["happy", "sad", "neutral"], n))
    return pd.DataFrame({"id": [f"p{i}" for i in range(n)], "description": ["x"] * n, **attrs, **coords})


def _points(traces) -> dict[str, tuple[float, float, str]]:
    """person id -> (x, y, trace name) over a figure's gallery traces or `gallery_window`'s."""
    out = {}
    for t in traces:
        for x, y, pid in zip(t["x"], t["y"], t["customdata"]):
            out[pid] = (float(x), float(y), t["name"])
    return out


def test_a_map_of_more_people_than_it_draws_draws_a_fixed_sample_and_says_so(crowd):
    fig = json.loads(map_figure(crowd, "emotion", 2).to_json())
    gallery = [_plain(t) for t in fig["data"] if t["type"] == "scattergl"]
    drawn = _points(gallery)
    assert len(drawn) == 60 and set(drawn) <= set(crowd["id"])
    assert fig["layout"]["meta"]["detail"] == {
        "colour_by": "emotion",
        "people": 400,
        "extent": [crowd.x2.min(), crowd.x2.max(), crowd.y2.min(), crowd.y2.max()],
    }
    again = _points(
        [
            _plain(t)
            for t in json.loads(map_figure(crowd, "emotion", 2).to_json())["data"]
            if t["type"] == "scattergl"
        ]
    )
    assert again == drawn  # the same sample every time: zooming out restores what was drawn
    small = json.loads(map_figure(crowd.iloc[:60], "emotion", 2).to_json())
    assert "meta" not in small["layout"]  # everyone drawn: nothing to ask for


def test_zoomed_in_the_people_in_view_are_what_a_full_redraw_of_that_window_draws(crowd):
    """The page swaps `gallery_window`'s points into the drawn traces: in a window holding fewer
    people than the limit they are exactly everyone in it (same ids, places and legend names as the
    figure's traces), and zooming in never drops a person the wider view drew inside the window."""
    whole = _points(
        [
            _plain(t)
            for t in json.loads(map_figure(crowd, "emotion", 2).to_json())["data"]
            if t["type"] == "scattergl"
        ]
    )
    x, y = (-3.0, 1.0), (-2.0, 2.5)
    inside = crowd[(crowd.x2 >= x[0]) & (crowd.x2 <= x[1]) & (crowd.y2 >= y[0]) & (crowd.y2 <= y[1])]
    assert 0 < len(inside) < 60
    window = figures.gallery_window(crowd, "emotion", x, y)
    every_value = [figures.value_label("emotion", v) for v in BY_NAME["emotion"].values]
    assert [t["name"] for t in window] == every_value  # empty ones too: each drawn trace gets its points
    shown = _points(window)
    assert set(shown) == set(inside["id"])
    for pid, (px, py, name) in shown.items():
        row = crowd.set_index("id").loc[pid]
        assert (px, py, name) == (row.x2, row.y2, row.emotion)
    assert {p for p, (px, py, _) in whole.items() if x[0] <= px <= x[1] and y[0] <= py <= y[1]} <= set(shown)
    wide = _points(figures.gallery_window(crowd, "emotion", (-9, 9), (9, -9)))  # ranges in either order
    assert len(wide) == 60 and all(-9 <= px <= 9 and -9 <= py <= 9 for px, py, _ in wide.values())
    with pytest.raises(ValueError, match="colour by"):
        figures.gallery_window(crowd, "shoe size", x, y)
