"""Pictures of what the model does: the embedding map (plotly), attention
overlays on faces, modality shares, voice attention over the spectrogram.

Pure functions from arrays to figures or images; no UI toolkit involved, so the
app, scripts and notebooks all draw the same pictures.
"""

from __future__ import annotations

import html
import logging
import os
from collections.abc import Mapping, Sequence
from functools import lru_cache

import cv2
import numpy as np

from mmdemo.schema import BY_NAME, NAMES

log = logging.getLogger(__name__)

PALETTE = ["#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#B279A2", "#FF9DA6", "#9D755D"]
MODALITY_COLOURS = {"fused": "#111111", "image": "#E45756", "text": "#4C78A8", "voice": "#54A24B"}


def value_label(attribute: str, value) -> str:
    if BY_NAME[attribute].binary:
        return (
            {"0": f"no {attribute}", "1": attribute}.get(str(value), str(value))
            if attribute != "Male"
            else {"0": "female", "1": "male"}.get(str(value), str(value))
        )
    return str(value)


def hover_text(row: Mapping) -> str:
    """Escaped description + attributes for a map point (plotly renders hover text as HTML)."""
    attrs = ", ".join(value_label(n, row[n]) for n in NAMES if str(row.get(n, "")) != "")
    return f"{html.escape(str(row.get('description', '')))}<br><i>{html.escape(attrs)}</i>"


HOVER_LIMIT = 20_000  # larger maps skip hover text: the browser would receive megabytes of it


# Points a map draws at once. A larger gallery is drawn as this many of its people (a fixed random
# sample), in 2D over the density of all of them; zoomed in, a 2D map's page asks for the people in
# view (`gallery_window`), so every person can still be hovered and clicked. Software WebGL takes ~1 s a
# pan step with 200,000 points and ~0.1 s with 2,500. $MMDEMO_MAP_POINTS sets it (a machine whose
# browser draws WebGL on a GPU can afford all 200,000).
def _drawn_limit(default: int = 20_000) -> int:
    value = os.environ.get("MMDEMO_MAP_POINTS", "").strip()
    if value.isdigit() and int(value) > 0:
        return int(value)
    if value:
        log.warning(
            "MMDEMO_MAP_POINTS=%r is not a positive whole number; maps draw %d points", value, default
        )
    return default


DRAWN_LIMIT = _drawn_limit()


def drawing_order(n: int) -> np.ndarray:
    """A fixed random priority over n people: a large map draws the first DRAWN_LIMIT of them (in
    view), so zooming in only ever adds people to those already drawn."""
    return np.random.default_rng(0).permutation(n)


def drawn_rows(table, x_range: Sequence[float] | None = None, y_range: Sequence[float] | None = None):
    """The rows a map draws: everyone up to DRAWN_LIMIT, else the first DRAWN_LIMIT in
    `drawing_order` among those inside the window (all of the map without one), in table order."""
    if x_range is None and y_range is None and len(table) <= DRAWN_LIMIT:
        return table
    order = drawing_order(len(table))
    if x_range is not None and y_range is not None:
        x, y = table["x2"].to_numpy(), table["y2"].to_numpy()
        (x0, x1), (y0, y1) = sorted(map(float, x_range)), sorted(map(float, y_range))
        inside = (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)
        order = order[inside[order]]
    return table.iloc[np.sort(order[:DRAWN_LIMIT])]


def with_hover_text(table):
    """The table with a `hover` column of each point's `hover_text`, made once: the map is redrawn
    on every analysis and live frame, and rebuilding 2,500 texts took half of each redraw."""
    if "hover" in table or len(table) > HOVER_LIMIT:
        return table
    return table.assign(hover=[hover_text(r) for r in table.to_dict("records")])


def map_figure(
    table,
    colour_by: str = "emotion",
    dims: int = 2,
    live: Mapping[str, np.ndarray] | None = None,
    extra: Sequence[Mapping] = (),
    title: str | None = None,
    names: Mapping[str, str] = {},
    words: Mapping[str, str] = {},
):
    """Gallery scatter (WebGL in 2D), one trace per attribute value; `live` points joined as a triangle.

    table: pandas DataFrame with x2/y2 (x3/y3/z3), the attribute columns, description, id.
    live: {"fused"|"image"|"text"|"voice": (5,) coordinates}. extra: user-added points.
    names, words: the legend in another language: attribute names (its title), and value labels
    (`value_label`) and point names ("you are here"...); what they leave out stays English."""
    import plotly.graph_objects as go

    layout = dict(
        margin=dict(l=0, r=0, t=30 if title else 0, b=0),
        title=title,
        height=520,
        legend=dict(title=names.get(colour_by, colour_by), itemsizing="constant"),
        uirevision="map",
        dragmode="pan",
    )
    if dims == 2:
        layout["xaxis"] = dict(showticklabels=False, title=None)
        layout["yaxis"] = dict(showticklabels=False, title=None, scaleanchor="x")
    table = with_hover_text(table)
    large = len(table) > HOVER_LIMIT
    drawn = drawn_rows(table)
    if len(drawn) < len(table) and dims == 2:  # zoomed in, the page asks for the people in view
        x, y = table["x2"].to_numpy(), table["y2"].to_numpy()
        extent = [float(x.min()), float(x.max()), float(y.min()), float(y.max())]
        layout["meta"] = {"detail": {"colour_by": colour_by, "people": len(table), "extent": extent}}
    fig = go.Figure(layout=layout)  # one validation of the layout: update_layout after costs ~4x more
    if large and dims == 2:
        fig.add_trace(_density(table["x2"].to_numpy(), table["y2"].to_numpy()))
    for trace in _gallery_traces(drawn, colour_by, dims, large, words):
        coords = {c: trace.pop(c) for c in ("x2", "y2", "x3", "y3", "z3") if c in trace}
        if dims == 2:
            fig.add_trace(go.Scattergl(x=coords["x2"], y=coords["y2"], **trace))
        else:
            fig.add_trace(go.Scatter3d(x=coords["x3"], y=coords["y3"], z=coords["z3"], **trace))
    if extra:
        pts = np.array([p["coords"] for p in extra])
        _add_points(
            fig,
            pts,
            dims,
            name=words.get("your samples", "your samples"),
            colour="#7F3C8D",
            symbol="diamond",
            text=[html.escape(p.get("label", "")) for p in extra],
        )
    if live:
        _add_live(fig, live, dims, words)
    return fig


def _gallery_traces(
    table, colour_by: str, dims: int, large: bool, words: Mapping[str, str], *, every_value=False
):
    """One trace's arguments per attribute value of the gallery people in `table` (with their
    coordinates under x2, y2, x3, y3, z3); values nobody has are left out unless `every_value`."""
    if colour_by not in NAMES:
        raise ValueError(f"unknown attribute {colour_by!r} to colour by")
    hover = None if large else table["hover"].to_numpy()
    traces = []
    for k, value in enumerate(BY_NAME[colour_by].values):
        sel = (table[colour_by].astype(str) == value).to_numpy()
        if not sel.any() and not every_value:
            continue
        traces.append(
            dict(
                mode="markers",
                name=words.get(label := value_label(colour_by, value), label),
                customdata=table["id"].to_numpy()[sel],
                # a large map names each point by its id and value only (its description would be
                # megabytes); a click still shows, and plays, that person
                hovertext=hover[sel] if hover is not None else None,
                hoverinfo="text" if hover is not None else None,
                hovertemplate="%{customdata}<extra>%{fullData.name}</extra>" if large else None,
                marker=dict(
                    size=(4 if not large else 2) if dims == 2 else 2.5,
                    color=PALETTE[k % len(PALETTE)],
                    opacity=0.7 if not large else 0.35,
                ),
                **{c: table[c].to_numpy()[sel] for c in ("x2", "y2", "x3", "y3", "z3") if c in table},
            )
        )
    return traces


def gallery_window(table, colour_by: str, x_range, y_range, words: Mapping[str, str] = {}) -> list[dict]:
    """The gallery points a large 2D map draws in a window, as its traces' new data: per attribute
    value (every value, in the map's order) its name and the x, y and person ids of the first
    DRAWN_LIMIT people in view (`drawn_rows`), which the page puts in place of the traces' data."""
    drawn = drawn_rows(table, x_range, y_range)
    return [
        {
            "name": t["name"],
            "x": t["x2"].tolist(),
            "y": t["y2"].tolist(),
            "customdata": t["customdata"].tolist(),
        }
        for t in _gallery_traces(drawn, colour_by, 2, True, words, every_value=True)
    ]


DENSITY_BINS = 160


def _density(x: np.ndarray, y: np.ndarray):
    """Where the points crowd, as grey shading under them: zoomed out, 200,000 overlapping points
    read as a few blobs; the shading (a 160 x 160 histogram, 26 KB) shows their real density."""
    import plotly.graph_objects as go

    counts, xe, ye = np.histogram2d(x, y, bins=DENSITY_BINS)
    shade = np.log1p(counts.T)  # rows are y; log: the densest cells would drown out the rest
    shade = np.round(shade / max(float(shade.max()), 1e-9) * 255).astype(np.uint8)
    return go.Heatmap(
        z=np.where(shade > 0, shade, np.nan).astype(np.float32),
        x0=float(xe[0] + (xe[1] - xe[0]) / 2),
        dx=float(xe[1] - xe[0]),
        y0=float(ye[0] + (ye[1] - ye[0]) / 2),
        dy=float(ye[1] - ye[0]),
        colorscale="Greys",
        zmin=0,
        zmax=255,
        opacity=0.5,
        showscale=False,
        hoverinfo="skip",
        name="density",
        showlegend=False,
    )


SYMBOLS_3D = ("circle", "circle-open", "cross", "diamond", "diamond-open", "square", "square-open", "x")


def _add_points(
    fig,
    pts: np.ndarray,
    dims: int,
    *,
    name: str,
    colour: str,
    symbol: str,
    text,
    size=12,
    mode="markers",
    meta: str | None = None,
):
    import plotly.graph_objects as go

    marker = dict(size=size, color=colour, symbol=symbol, line=dict(color="white", width=1.5))
    if dims == 2:
        fig.add_trace(
            go.Scatter(
                x=pts[:, 0],
                y=pts[:, 1],
                mode=mode,
                name=name,
                marker=marker,
                hovertext=text,
                hoverinfo="text",
                meta=meta,
            )
        )
    else:
        # Scatter3d knows fewer marker symbols than Scatter and refuses the rest (a star raises)
        marker3 = dict(marker, size=size / 2, symbol=symbol if symbol in SYMBOLS_3D else "diamond")
        marker3.pop("line")
        fig.add_trace(
            go.Scatter3d(
                x=pts[:, 2],
                y=pts[:, 3],
                z=pts[:, 4],
                mode=mode,
                name=name,
                marker=marker3,
                hovertext=text,
                hoverinfo="text",
                meta=meta,
            )
        )


LIVE = "live"  # the `meta` of the traces an analysis adds: the page replaces exactly these


def live_traces(live: Mapping[str, np.ndarray], dims: int = 2, words: Mapping[str, str] = {}) -> list[dict]:
    """The traces `map_figure(..., live=live)` adds to the gallery, as plotly JSON (a few hundred bytes):
    the page draws the gallery once and swaps only these in after each analysis."""
    import plotly.graph_objects as go

    fig = go.Figure()
    _add_live(fig, live, dims, words)
    return [_plain(trace.to_plotly_json()) for trace in fig.data]


def _plain(value):
    """Plotly JSON with numpy arrays as lists (for JSON outputs that are not plotly figures)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value.item() if isinstance(value, np.generic) else value


def _add_live(fig, live: Mapping[str, np.ndarray], dims: int, words: Mapping[str, str] = {}) -> None:
    """The fused point plus each single-input point, joined into a triangle around it (traces tagged
    `meta=LIVE`); `words`: their names in another language."""
    import plotly.graph_objects as go

    def w(text: str) -> str:
        return words.get(text, text)

    singles = [m for m in ("image", "text", "voice") if m in live]
    if len(singles) >= 2:
        loop = np.array([live[m] for m in singles + singles[:1]])
        if dims == 2:
            fig.add_trace(
                go.Scatter(
                    x=loop[:, 0],
                    y=loop[:, 1],
                    mode="lines",
                    name=w("modalities"),
                    line=dict(color="#333", width=1.5, dash="dot"),
                    hoverinfo="skip",
                    meta=LIVE,
                )
            )
        else:
            fig.add_trace(
                go.Scatter3d(
                    x=loop[:, 2],
                    y=loop[:, 3],
                    z=loop[:, 4],
                    mode="lines",
                    name=w("modalities"),
                    line=dict(color="#333", width=3),
                    hoverinfo="skip",
                    meta=LIVE,
                )
            )
    labels = {
        m: w(f"{name} only") for m, name in (("image", "face"), ("text", "description"), ("voice", "voice"))
    }
    for m in singles:
        _add_points(
            fig,
            np.array([live[m]]),
            dims,
            name=labels[m],
            colour=MODALITY_COLOURS[m],
            symbol="circle",
            text=[labels[m]],
            size=11,
            meta=LIVE,
        )
    if "fused" in live:
        _add_points(
            fig,
            np.array([live["fused"]]),
            dims,
            name=w("you are here"),
            colour=MODALITY_COLOURS["fused"],
            symbol="star",
            text=[w("you are here (all inputs fused)")],
            size=18,
            meta=LIVE,
        )


def heat_overlay(face: np.ndarray, heat: np.ndarray, *, size: int = 256, alpha: float = 0.55) -> np.ndarray:
    """A (grid, grid) attention map blended over a face as a colour heatmap, uint8 (size, size, 3)."""
    return _blend(cv2.resize(face, (size, size), interpolation=cv2.INTER_CUBIC), heat, alpha)


@lru_cache(maxsize=1)
def _inferno_rgb() -> np.ndarray:
    """OpenCV's inferno colour map as a (256, 3) RGB lookup table."""
    ramp = np.arange(256, dtype=np.uint8)[:, None]
    return np.ascontiguousarray(cv2.applyColorMap(ramp, cv2.COLORMAP_INFERNO)[:, 0, ::-1])


def _blend(base: np.ndarray, heat: np.ndarray, alpha: float = 0.55) -> np.ndarray:
    size = base.shape[0]
    h = np.asarray(heat, np.float32)
    h = (h - h.min()) / (h.max() - h.min() + 1e-9)
    h = cv2.resize(h, (size, size), interpolation=cv2.INTER_CUBIC)
    colour = _inferno_rgb()[(np.clip(h, 0, 1) * 255).astype(np.uint8)]
    return cv2.addWeighted(base, 1 - alpha, colour, alpha, 0)  # uint8 SIMD blend: 4x faster than in float


def word_maps(
    face: np.ndarray, words: Sequence[str], maps: np.ndarray, *, cell: int = 112, per_row: int = 6
) -> np.ndarray:
    """One small heatmap per word in a grid image, each labelled with its word."""
    base = cv2.resize(face, (cell, cell), interpolation=cv2.INTER_CUBIC)  # the same face under every word
    tiles = []
    for word, heat in zip(words, maps):
        tile = _blend(base, heat)
        tile = cv2.copyMakeBorder(tile, 18, 2, 2, 2, cv2.BORDER_CONSTANT, value=(255, 255, 255))
        cv2.putText(tile, word[:14], (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (20, 20, 20), 1, cv2.LINE_AA)
        tiles.append(tile)
    if not tiles:
        return np.full((cell, cell, 3), 255, np.uint8)
    while len(tiles) % per_row and len(tiles) > per_row:
        tiles.append(np.full_like(tiles[0], 255))
    rows = [np.hstack(tiles[i : i + per_row]) for i in range(0, len(tiles), per_row)]
    return np.vstack(rows)


def modality_bar(shares: Mapping[str, float]):
    import plotly.graph_objects as go

    names = [m for m in ("image", "text", "voice") if m in shares]
    return go.Figure(
        go.Bar(
            x=[shares[m] for m in names],
            y=[{"image": "face"}.get(m, m) for m in names],
            orientation="h",
            marker_color=[MODALITY_COLOURS[m] for m in names],
            text=[f"{shares[m]:.0%}" for m in names],
            textposition="auto",
        ),
        layout=dict(
            height=170,
            margin=dict(l=0, r=0, t=24, b=0),
            xaxis=dict(range=[0, 1], tickformat=".0%"),
            title=dict(text="share of the fused token's attention", font=dict(size=12)),
        ),
    )


def voice_attention_figure(wave: np.ndarray, weights: np.ndarray, token_seconds: float):
    """Log-mel spectrogram with the fused token's attention per voice token drawn over it."""
    import plotly.graph_objects as go

    from mmdemo.audio import log_mel

    mel = log_mel(np.asarray(wave, np.float32)).numpy().T  # (64, frames)
    # quantised to bytes, as a picture needs: float32 was 50 KB of the page's JSON, bytes are 13 KB
    lo, hi = float(mel.min()), float(mel.max())
    shade = np.round((mel - lo) / max(hi - lo, 1e-6) * 255).astype(np.uint8)
    t = (np.arange(len(weights)) + 0.5) * token_seconds
    w = np.asarray(weights) / (np.max(weights) + 1e-9) * 60
    return go.Figure(
        [
            go.Heatmap(z=shade, x0=0.0, dx=0.01, colorscale="Viridis", showscale=False, hoverinfo="skip"),
            go.Scatter(
                x=t,
                y=w,
                mode="lines+markers",
                line=dict(color="#FF4136", width=2),
                name="attention",
                hovertemplate="%{x:.2f} s<extra></extra>",
            ),
        ],
        layout=dict(
            height=220,
            margin=dict(l=0, r=0, t=24, b=0),
            showlegend=False,
            title=dict(text="voice: spectrogram and where the fused token listens", font=dict(size=12)),
            xaxis=dict(title="seconds"),
            yaxis=dict(title="mel bin", range=[0, 64]),
        ),
    )
