"""The Live tab: webcam frames streamed to the model; each is reconstructed, its attention drawn and
its point moved on a map of a sample of the gallery, with the frame rate shown."""

from __future__ import annotations

import base64
import hashlib
import time

import cv2
import gradio as gr
import numpy as np

from webapp.i18n import T, map_legend
from webapp.live_points import LIVE_POINTS, map_points
from webapp.loader import RUNTIME
from webapp.messages import message, say

LIVE_MAP_POINTS = 600  # gallery points drawn behind the moving one: a full map per frame would be slow
FPS_WINDOW_S = 3.0
LIVE_MAP = "live-map"
# frames sent while the last is in work: 0.05 s lets a frame that took 60 ms be followed at once
STREAM_EVERY_S = 0.05
STILL_REREAD_S = 0.5  # a still picture is read again this often (and the frame rate says so)
PAGE_PICTURE_PX = 128  # the page's live pictures: the browser scales them to the view
POINT_EVERY_S = 0.2  # how often the page's map point moves
NOTE_EVERY_S = 0.5  # and its frame rate is updated
# The page's two live pictures are inline JPEGs (data URLs) in an <img>: as gr.Image files, each
# frame's two pictures were written, hashed and copied into Gradio's cache and fetched again by the
# browser, and the page drew a new reconstruction 8 times a second while the server made 12.
# (alt="": the block's label above names the picture)
PICTURE = '${value ? `<img class="mmdemo-live-picture" src="${value}" alt="">` : ""}'
PICTURE_CSS = "img.mmdemo-live-picture { width: 100%; height: 260px; object-fit: contain; }"


def _new_stream(state) -> bool:
    return state is None or "table" not in state


def _data_url(rgb: np.ndarray) -> str:
    _, jpeg = cv2.imencode(".jpg", np.ascontiguousarray(rgb[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, 85])
    return "data:image/jpeg;base64," + base64.b64encode(jpeg.tobytes()).decode("ascii")


def _read(frame, state, size: int | None = None):
    """(outputs, state): the frame's reconstruction, overlay and map coordinates with the frame rate,
    or its refusal; `state` keeps the stream's gallery sample and frame times. size: px a side of
    the pictures (the service's display size when None)."""
    if frame is None:
        return None, state, message("waiting for the camera")
    service = RUNTIME.get()
    if _new_stream(state):
        table = service.gallery.table
        state = {"table": table.sample(min(LIVE_MAP_POINTS, len(table)), random_state=0), "times": []}
    try:
        recon, overlay, coords, _ = service.live_frame(frame, **({"size": size} if size else {}))
    except ValueError as e:
        return None, state, say(str(e))
    now = time.perf_counter()
    times = [t for t in state["times"] if now - t < FPS_WINDOW_S] + [now]
    state["times"] = times
    fps = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0
    return (recon, overlay, {"fused": coords}), state, message("{fps} frames per second", fps=f"{fps:.1f}")


def live_step(frame, state):
    """API: one webcam frame -> reconstruction, attention overlay, the map with the moving point,
    the stream's state and the frame rate."""
    read, state, note = _read(frame, state)
    if read is None:
        return None, None, gr.skip(), state, note
    recon, overlay, point = read
    return (
        recon,
        overlay,
        RUNTIME.get().map("emotion", 2, point, table=state["table"], **map_legend()),
        state,
        note,
    )


def live_page_step(frame, state):
    """The page: as `live_step`, but the pictures come inline and small (`PICTURE`), and the map is
    sent with the stream's first frame only; later frames send just the point (`map_points`), which
    the page moves on the drawn map."""
    first = _new_stream(state)
    seen = hashlib.blake2b(frame.tobytes(), digest_size=8).digest() if frame is not None else None
    if (
        seen is not None
        and not first
        and state.get("seen") == seen
        and state["times"]
        and time.perf_counter() - state["times"][-1] < STILL_REREAD_S
    ):
        # The page sends a frame every STREAM_EVERY_S whether the camera has moved on or not (a 15 fps
        # camera, sent 20 times a second): reading a frame again would only delay the next new one.
        return (gr.skip(),) * 6
    read, state, note = _read(frame, state, size=PAGE_PICTURE_PX)
    if state is not None:
        state["seen"] = seen
    if read is None:
        return "", "", gr.skip(), gr.skip(), state, note
    recon, overlay, point = read
    fig = RUNTIME.get().map("emotion", 2, point, table=state["table"], **map_legend()) if first else gr.skip()
    # The pictures change with every frame; the point and the frame rate are sent a few times a
    # second: moving the point costs the page ~30 ms of drawing, which it needs for the next picture.
    now = time.perf_counter()
    point_due = first or now - state.get("point_sent", 0.0) >= POINT_EVERY_S
    note_due = first or now - state.get("note_sent", 0.0) >= NOTE_EVERY_S
    if point_due:
        state["point_sent"] = now
    if note_due:
        state["note_sent"] = now
    return (
        _data_url(recon),
        _data_url(overlay),
        fig,
        map_points(LIVE_MAP, point, 2) if point_due else gr.skip(),
        state,
        note if note_due else gr.skip(),
    )


def build() -> None:
    """Lays out the tab inside the current Blocks and binds the `/live` stream."""
    gr.Markdown(T("live_intro"))
    with gr.Row():
        cam = gr.Image(sources=["webcam"], streaming=True, type="numpy", label=T("webcam"), height=260)
        pictures = [
            gr.HTML(
                label=T(key),
                show_label=True,
                container=True,
                html_template=PICTURE,
                css_template=PICTURE_CSS,
                js_on_load=None,
                elem_id=f"live-{key}",
            )
            for key in ("live_recon", "live_overlay")
        ]
    with gr.Row():
        live_map = gr.Plot(label=T("live_map"), elem_id=LIVE_MAP)
        fps = gr.Markdown("")
    point = gr.JSON(visible="hidden")  # the frame's point only: the page moves it on the drawn map
    state = gr.State(None)
    point.change(None, point, None, js=LIVE_POINTS, api_visibility="private")
    stream = dict(stream_every=STREAM_EVERY_S, time_limit=300, concurrency_limit=1)
    cam.stream(
        live_page_step,
        [cam, state],
        [*pictures, live_map, point, state, fps],
        api_visibility="private",
        **stream,
    )
    # API clients: the pictures as images and the whole map with every frame, on a stream the page
    # never shows
    api_cam = gr.Image(sources=["webcam"], streaming=True, type="numpy", visible=False)
    # JPEG: encoded in 0.4 ms where WebP took 12 ms a picture, twice a frame
    recon, overlay = (gr.Image(visible=False, format="jpeg") for _ in range(2))
    outputs = [recon, overlay, live_map, state, fps]
    api_cam.stream(live_step, [api_cam, state], outputs, api_name="live", **stream)
