"""Maps drawn once, points swapped in: the gallery goes to the page with the first map, and each later
analysis (or live frame) sends only its own few points, which `live_points.js` puts on the drawn map."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from mmdemo.serving.figures import live_traces
from webapp.i18n import map_legend

# Run in the page with a `map_points` value: replaces the map's live traces by the new ones.
LIVE_POINTS = (Path(__file__).resolve().parent / "live_points.js").read_text()


def map_points(map_id: str, coords: Mapping[str, np.ndarray], dims: int) -> dict:
    """The points of one analysis for the plot inside the element `map_id`, as `LIVE_POINTS` reads them:
    exactly the traces a full redraw would add to the gallery (`map_figure(..., live=coords)`), named
    in the page's language."""
    words = map_legend().get("words", {})
    return {"map": map_id, "dims": dims, "traces": live_traces(coords, dims, words)}
