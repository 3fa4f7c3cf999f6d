"""The map figure in 2D and 3D, with the live point, its single-input triangle and user-added points."""

import numpy as np
import pandas as pd
import pytest

from mmdemo.schema import NAMES
from mmdemo.serving.figures import map_figure


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
