"""The Live tab: webcam frames streamed to the model; each is reconstructed, its attention drawn and
its point moved on a map of a sample of the gallery, with the frame rate shown."""

from __future__ import annotations

import time

import gradio as gr

from webapp.loader import RUNTIME

LIVE_MAP_POINTS = 600  # gallery points drawn behind the moving one: a full map per frame would be slow
FPS_WINDOW_S = 3.0


def live_step(frame, state):
    """One webcam frame: reconstruction, attention overlay, moving map point and the frame rate."""
    if frame is None:
        return None, None, gr.skip(), state, "waiting for the camera"
    service = RUNTIME.get()
    if state is None or "table" not in state:
        table = service.gallery.table
        state = {"table": table.sample(min(LIVE_MAP_POINTS, len(table)), random_state=0), "times": []}
    try:
        recon, overlay, fig, _ = service.live_frame(frame, state["table"])
    except ValueError as e:
        return None, None, gr.skip(), state, str(e)
    now = time.perf_counter()
    times = [t for t in state["times"] if now - t < FPS_WINDOW_S] + [now]
    state["times"] = times
    fps = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0
    return recon, overlay, fig, state, f"{fps:.1f} frames per second"


def build() -> None:
    """Lays out the tab inside the current Blocks and binds the `/live` stream."""
    gr.Markdown(
        "Start the webcam: each frame is reconstructed, its attention drawn and its point moved on the map."
    )
    with gr.Row():
        cam = gr.Image(sources=["webcam"], streaming=True, type="numpy", label="webcam", height=260)
        recon = gr.Image(label="live reconstruction", height=260)
        overlay = gr.Image(label="attention over the face", height=260)
    with gr.Row():
        live_map = gr.Plot(label="live position")
        fps = gr.Markdown("")
    state = gr.State(None)
    cam.stream(
        live_step,
        [cam, state],
        [recon, overlay, live_map, state, fps],
        stream_every=0.1,
        time_limit=300,
        concurrency_limit=1,
        api_name="live",
    )
