"""The Live tab: webcam frames streamed to the model; each is reconstructed, its attention drawn and
its point moved on a map of a sample of the gallery, with the frame rate shown."""

from __future__ import annotations

import time

import gradio as gr

from webapp.i18n import T, map_legend
from webapp.live_points import LIVE_POINTS, map_points
from webapp.loader import RUNTIME
from webapp.messages import message, say

LIVE_MAP_POINTS = 600  # gallery points drawn behind the moving one: a full map per frame would be slow
FPS_WINDOW_S = 3.0
LIVE_MAP = "live-map"
# frames sent while the last is in work: 0.05 s lets a frame that took 60 ms be followed at once
STREAM_EVERY_S = 0.05


def _new_stream(state) -> bool:
    return state is None or "table" not in state


def _read(frame, state):
    """(outputs, state): the frame's reconstruction, overlay and map coordinates with the frame rate,
    or its refusal; `state` keeps the stream's gallery sample and frame times."""
    if frame is None:
        return None, state, message("waiting for the camera")
    service = RUNTIME.get()
    if _new_stream(state):
        table = service.gallery.table
        state = {"table": table.sample(min(LIVE_MAP_POINTS, len(table)), random_state=0), "times": []}
    try:
        recon, overlay, coords, _ = service.live_frame(frame)
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
    """The page: as `live_step`, but the map is sent with the stream's first frame only; later frames
    send just the point (`map_points`), which the page moves on the drawn map."""
    first = _new_stream(state)
    read, state, note = _read(frame, state)
    if read is None:
        return None, None, gr.skip(), gr.skip(), state, note
    recon, overlay, point = read
    fig = RUNTIME.get().map("emotion", 2, point, table=state["table"], **map_legend()) if first else gr.skip()
    return recon, overlay, fig, map_points(LIVE_MAP, point, 2), state, note


def build() -> None:
    """Lays out the tab inside the current Blocks and binds the `/live` stream."""
    gr.Markdown(T("live_intro"))
    with gr.Row():
        cam = gr.Image(sources=["webcam"], streaming=True, type="numpy", label=T("webcam"), height=260)
        # JPEG: encoded in 0.4 ms where WebP took 12 ms a picture, twice a frame
        recon = gr.Image(label=T("live_recon"), height=260, format="jpeg")
        overlay = gr.Image(label=T("live_overlay"), height=260, format="jpeg")
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
        [recon, overlay, live_map, point, state, fps],
        api_visibility="private",
        **stream,
    )
    # API clients: the whole map with every frame, on a stream the page never shows
    api_cam = gr.Image(sources=["webcam"], streaming=True, type="numpy", visible=False)
    outputs = [recon, overlay, live_map, state, fps]
    api_cam.stream(live_step, [api_cam, state], outputs, api_name="live", **stream)
