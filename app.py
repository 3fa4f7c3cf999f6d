"""mmdemo's Gradio app: capture a person, see them land in the fused space,
reconstructed and attended. Layout and callbacks only; every computation is
in `mmdemo.serving.service` (model, gallery, figures).

    python app.py [--checkpoint checkpoints/default] [--port 7860] [--share] [--auth USER:PASS]
"""

from __future__ import annotations

import os

# Before gradio is imported: no version check, telemetry or hub lookups.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import gradio as gr
import numpy as np

from mmdemo.schema import NAMES
from mmdemo.serving.service import DIRECTIONS

HERE = Path(__file__).resolve().parent
DEFAULT_CHECKPOINT = HERE / "checkpoints" / "default"
EXAMPLES_DIR = HERE / "assets" / "examples"
LIVE_MAP_POINTS = 600


class Runtime:
    """The service, loaded once in the background when the app starts (or on first use)."""

    def __init__(self) -> None:
        self.checkpoint, self.device = DEFAULT_CHECKPOINT, "auto"
        self._service, self._error, self._lock = None, None, threading.Lock()
        self._ready = threading.Event()

    def configure(self, checkpoint: Path, device: str) -> None:
        self.checkpoint, self.device = Path(checkpoint), device

    def start(self) -> None:
        threading.Thread(target=self.get, daemon=True, name="load-model").start()

    def get(self):
        with self._lock:
            if self._service is None and self._error is None:
                try:
                    from mmdemo.serving.service import DemoService

                    self._service = DemoService(self.checkpoint, self.device)
                except Exception as e:  # shown to the user on every request instead of a dead page
                    self._error = f"the model could not be loaded from {self.checkpoint}: {e}"
                self._ready.set()
        if self._error:
            raise gr.Error(self._error)
        return self._service


RUNTIME = Runtime()


def refuse(fn):
    """Library refusals (ValueError) become a visible message; the server keeps serving."""

    def wrapped(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except ValueError as e:
            raise gr.Error(str(e), duration=8) from None

    wrapped.__name__ = fn.__name__
    wrapped.__doc__ = fn.__doc__
    return wrapped


SCRATCH = Path(tempfile.gettempdir()) / "mmdemo-outputs"


def sweep(folder: Path, max_age_s: float = 60.0) -> None:
    """Creates `folder` and removes its files older than `max_age_s` (several requests may sweep at once)."""
    folder.mkdir(exist_ok=True)
    now = time.time()
    for old in folder.iterdir():
        try:
            if now - old.stat().st_mtime > max_age_s:
                old.unlink()
        except FileNotFoundError:  # another request swept it first
            pass


def as_file(value, suffix: str) -> str:
    """Writes a generated face (RGB array) or voice ((sr, samples)) to a uniquely named file.

    Gradio caches returned arrays under a hash of their content and rewrites that file for every
    request, so two users receiving byte-identical output could download a half-written file.
    A unique file name gives each response its own cached copy. Files older than a minute go:
    Gradio serves its own copy."""
    sweep(SCRATCH)
    path = SCRATCH / f"{time.time_ns()}_{threading.get_ident()}{suffix}"
    if suffix == ".wav":
        from mmdemo.audio import write_wav

        write_wav(path, value[1])
    else:
        import cv2

        cv2.imwrite(str(path), cv2.cvtColor(value, cv2.COLOR_RGB2BGR))
    return str(path)


def _warn(messages) -> None:
    for m in messages:
        gr.Warning(m)


# ------------------------------------------------------------------ callbacks
@refuse
def analyze(face, description, voice):
    """API: (face image, description, voice audio) -> decoded face, generated description,
    generated voice, summary."""
    if isinstance(voice, (str, Path)):
        from mmdemo.audio import read_audio
        from mmdemo.data.preprocess import MAX_AUDIO_SECONDS

        # A second more than is used: the "longer than" warning still fires,
        # an hour-long upload is not decoded.
        voice = read_audio(voice, max_seconds=MAX_AUDIO_SECONDS + 1)
    view = RUNTIME.get().analyze(face, description, voice)
    a = view.analysis
    _warn(a.warnings)
    summary = {
        "inputs": list(a.inputs),
        "attributes": a.attributes,
        "confidences": a.confidences,
        "face_found": a.face_found,
        "agreement": a.agreement,
        "embedding": a.embedding.round(5).tolist(),
        "map": {k: v[:2].round(4).tolist() for k, v in view.coords.items()},
        "modality_share": a.attention.modality_share,
        "voice_params": a.voice_params,
        "warnings": a.warnings,
    }
    from mmdemo.serving.service import upscale

    return as_file(upscale(a.image), ".png"), a.text, as_file(a.audio, ".wav"), summary


@refuse
def analyze_view(face, description, voice, use_face, use_text, use_voice, colour_by, dims, points):
    """The main view: every output of one analysis, inputs left out by the what-if toggles."""
    face = face if use_face else None
    description = description if use_text else None
    voice = voice if use_voice else None
    service = RUNTIME.get()
    view = service.analyze(face, description, voice)
    a = view.analysis
    _warn(a.warnings)
    from mmdemo.serving.service import upscale

    gen = a.generated_faces
    words = list(view.word_overlays)
    return (
        service.map(colour_by, int(dims[0]), view.coords, extra=points or ()),
        view.neighbours,
        as_file(upscale(a.face_crop), ".png") if a.face_crop is not None else None,
        as_file(upscale(a.image), ".png"),
        as_file(upscale(gen["text"]), ".png") if "text" in gen else None,
        as_file(upscale(gen["voice"]), ".png") if "voice" in gen else None,
        a.text,
        as_file(a.audio, ".wav"),
        view.attribute_rows,
        view.agreement_rows,
        gr.Dropdown(choices=words, value=words[0] if words else None),
        view.word_overlays.get(words[0]) if words else None,
        view.word_grid,
        view.rollout,
        view.modality_figure,
        view.voice_figure,
        {"coords": view.coords["fused"].tolist(), "label": _label(a)},
        view.word_overlays,
    )


def _label(a) -> str:
    return ", ".join(str(a.attributes[n]) for n in ("age_group", "emotion", "hair_color"))


def show_word(word, overlays):
    """Heatmap of one word of the description over the face (kept from the last analysis)."""
    return (overlays or {}).get(word)


@refuse
def redraw_map(colour_by, dims, last, points):
    coords = None
    if last:
        coords = {"fused": np.asarray(last["coords"], np.float32)}
    return RUNTIME.get().map(colour_by, int(dims[0]), coords, extra=points or ())


def add_to_map(points, last):
    """Keeps the last analyzed point on this session's map (never on the server)."""
    if not last:
        raise gr.Error("analyze someone first, then add them to the map")
    points = list(points or []) + [last]
    return points, f"{len(points)} of your samples on the map (this session only)"


def download_points(points):
    """Your session's samples as a Parquet file (built in memory, handed to your browser)."""
    if not points:
        raise gr.Error("nothing to download yet: analyze someone and press 'Add to map'")
    import pandas as pd

    table = pd.DataFrame(
        [
            {
                "label": p["label"],
                "x": p["coords"][0],
                "y": p["coords"][1],
                "x3": p["coords"][2],
                "y3": p["coords"][3],
                "z3": p["coords"][4],
            }
            for p in points
        ]
    )
    folder = Path(tempfile.gettempdir()) / "mmdemo-downloads"
    sweep(folder)  # Gradio serves its own copy; ours need not outlive a minute
    path = folder / f"my_samples_{time.time_ns()}.parquet"
    table.to_parquet(path, index=False)
    return str(path)


@refuse
def explore_map(colour_by, dims, table_state):
    return RUNTIME.get().map(colour_by, int(dims[0]), table=table_state)


@refuse
def show_person(person_id):
    """A gallery person's face, description and voice (clicked on the map)."""
    p = RUNTIME.get().person(str(person_id).strip())
    return p.face, p.text, p.audio, person_id


@refuse
def sample_people(seed):
    people = RUNTIME.get().sample(4, None if seed in (None, "") else int(seed))
    return [(p.face, p.text) for p in people], people[0].text, people[0].audio


@refuse
def interpolate(id_a, id_b, t):
    p = RUNTIME.get().interpolate(str(id_a).strip(), str(id_b).strip(), float(t))
    return p.face, p.text, p.audio


@refuse
def steer(person_id, direction, amount):
    p = RUNTIME.get().steer(str(person_id).strip(), direction, float(amount))
    return p.face, p.text, p.audio


@refuse
def reproject(n_neighbors, min_dist, colour_by, dims, progress=gr.Progress()):
    table = RUNTIME.get().reproject(n_neighbors, min_dist, lambda f, m: progress(f, desc=m))
    return RUNTIME.get().map(colour_by, int(dims[0]), table=table), table


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
    times = [t for t in state["times"] if now - t < 3.0] + [now]
    state["times"] = times
    fps = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0
    return recon, overlay, fig, state, f"{fps:.1f} frames per second"


def model_card():
    return RUNTIME.get().model_card()


# --------------------------------------------------------------------- layout
CLICK_BRIDGE = """
() => {
  const attach = () => {
    document.querySelectorAll('#explore-map .js-plotly-plot').forEach((plot) => {
      if (plot.dataset.bridge) return;
      plot.dataset.bridge = '1';
      plot.on('plotly_click', (ev) => {
        const pt = ev.points && ev.points[0];
        if (!pt) return;
        const data = plot._fullData[pt.curveNumber];
        const cd = data && data.customdata ? data.customdata[pt.pointNumber] : pt.customdata;
        if (cd === undefined || cd === null) return;
        window.__mmdemoClicked = String(cd);
        const btn = document.querySelector('#clicked-person button, button#clicked-person');
        if (btn) btn.click();
      });
    });
  };
  setInterval(attach, 700);
}
"""


def _examples() -> list[list]:
    rows = []
    for face in sorted(EXAMPLES_DIR.glob("*.png"))[:4]:
        txt, wav = face.with_suffix(".txt"), face.with_suffix(".wav")
        rows.append(
            [str(face), txt.read_text().strip() if txt.exists() else "", str(wav) if wav.exists() else None]
        )
    return rows


def _analyze_tab(points, last, overlays) -> dict:
    """Inputs, map, neighbours and the reconstruct/attention sub-tabs; returns the components events need."""
    c = {}
    with gr.Row():
        with gr.Column(scale=1, min_width=300):
            # a file path, not pixels: the library decodes it and explains a corrupt or odd file
            c["face"] = gr.Image(label="Face", sources=["upload", "webcam"], type="filepath", height=260)
            c["use_face"] = gr.Checkbox(value=True, label="use the face")
            c["description"] = gr.Textbox(
                label="Description",
                lines=2,
                max_lines=6,
                placeholder="A cheerful young woman with red hair and glasses.",
            )
            c["use_text"] = gr.Checkbox(value=True, label="use the description")
            c["voice"] = gr.Audio(label="Voice", sources=["microphone", "upload"], type="numpy")
            c["use_voice"] = gr.Checkbox(value=True, label="use the voice")
            c["run"] = gr.Button("Analyze", variant="primary", elem_id="analyze-button")
            if _examples():
                gr.Examples(_examples(), inputs=[c["face"], c["description"], c["voice"]], label="Examples")
        with gr.Column(scale=2):
            with gr.Row():
                c["colour_by"] = gr.Dropdown(list(NAMES), value="emotion", label="colour the map by")
                c["dims"] = gr.Radio(["2D", "3D"], value="2D", label="map")
            c["map"] = gr.Plot(label="Where you land (UMAP of the gallery)", elem_id="analyze-map")
            with gr.Row():
                c["add"] = gr.Button("Add to map")
                c["download"] = gr.DownloadButton("Download my samples (Parquet)")
                c["added"] = gr.Markdown("")
            c["neighbours"] = gr.Gallery(
                label="Nearest gallery people (cosine similarity)", columns=8, height=170
            )
    with gr.Tabs():
        with gr.Tab("Reconstruct and generate"):
            with gr.Row():
                c["seen"] = gr.Image(label="the face as the model saw it", height=200)
                c["recon"] = gr.Image(
                    label="reconstruction from the given inputs", height=200, elem_id="recon"
                )
                c["from_text"] = gr.Image(label="face from the description alone", height=200)
                c["from_voice"] = gr.Image(label="face from the voice alone", height=200)
            with gr.Row():
                c["gen_text"] = gr.Textbox(label="generated description", interactive=False)
                c["gen_voice"] = gr.Audio(label="generated voice", interactive=False)
            with gr.Row():
                c["attrs"] = gr.Dataframe(
                    headers=["attribute", "predicted", "confidence"], label="predicted attributes"
                )
                c["agreement"] = gr.Dataframe(
                    headers=["pair", "cosine", "verdict"],
                    label="do the inputs agree? (does this voice fit this face?)",
                )
        with gr.Tab("Attention"):
            with gr.Row():
                c["word"] = gr.Dropdown(label="word", choices=[])
                c["word_map"] = gr.Image(label="where this word looks on the face", height=240)
                c["rollout"] = gr.Image(
                    label="attention rollout over the face", height=240, elem_id="rollout"
                )
            c["word_grid"] = gr.Image(label="every word of the description", elem_id="word-grid")
            with gr.Row():
                c["shares"] = gr.Plot(label="modality shares")
                c["voice_attn"] = gr.Plot(label="voice attention")
    _analyze_events(c, points, last, overlays)
    return c


def _analyze_events(c: dict, points, last, overlays) -> None:
    outputs = [
        c[k]
        for k in (
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
        )
    ] + [last, overlays]
    inputs = [
        c[k]
        for k in ("face", "description", "voice", "use_face", "use_text", "use_voice", "colour_by", "dims")
    ] + [points]
    common = dict(
        fn=analyze_view,
        inputs=inputs,
        outputs=outputs,
        trigger_mode="always_last",
        concurrency_limit=2,
        concurrency_id="model",
    )
    c["run"].click(api_name="analyze_view", **common)
    for trigger in (
        c["face"].change,
        c["voice"].change,
        c["description"].submit,
        c["use_face"].change,
        c["use_text"].change,
        c["use_voice"].change,
    ):
        trigger(api_visibility="private", **common)
    c["word"].change(show_word, [c["word"], overlays], c["word_map"], api_visibility="private")
    redraw = dict(fn=redraw_map, inputs=[c["colour_by"], c["dims"], last, points], outputs=c["map"])
    for trigger in (c["colour_by"].change, c["dims"].change):
        trigger(api_name=False, **redraw)
    c["add"].click(add_to_map, [points, last], [points, c["added"]], api_name="add_to_map").then(**redraw)
    c["download"].click(download_points, points, c["download"], api_name="download_samples")


def _live_tab() -> None:
    gr.Markdown(
        "Start the webcam: each frame is reconstructed, its attention drawn and its point moved on the map."
    )
    with gr.Row():
        cam = gr.Image(sources=["webcam"], streaming=True, type="numpy", label="webcam", height=260)
        live_recon = gr.Image(label="live reconstruction", height=260)
        live_overlay = gr.Image(label="attention over the face", height=260)
    with gr.Row():
        live_map = gr.Plot(label="live position")
        fps = gr.Markdown("")
    live_state = gr.State(None)
    cam.stream(
        live_step,
        [cam, live_state],
        [live_recon, live_overlay, live_map, live_state, fps],
        stream_every=0.1,
        time_limit=300,
        concurrency_limit=1,
        api_name="live",
    )


def _explore_tab(table_state) -> dict:
    c = {}
    with gr.Row():
        c["colour"] = gr.Dropdown(list(NAMES), value="emotion", label="colour by")
        c["dims"] = gr.Radio(["2D", "3D"], value="2D", label="map")
    c["map"] = gr.Plot(label="the gallery — click a point", elem_id="explore-map")
    clicked = gr.Button("show clicked", visible="hidden", elem_id="clicked-person")
    clicked_id = gr.Textbox(visible=False)
    with gr.Row():
        person = [
            gr.Image(label="face", height=200),
            gr.Textbox(label="description", interactive=False),
            gr.Audio(label="voice", interactive=False),
            gr.Textbox(label="person id", interactive=False),
        ]
    clicked.click(show_person, clicked_id, person, api_name="person", js="(x) => window.__mmdemoClicked || x")
    with gr.Accordion("Generate new people from the prior", open=False):
        seed = gr.Number(label="seed (empty: random)", precision=0)
        sample_btn = gr.Button("Sample four people")
        outs = [
            gr.Gallery(columns=4, height=220, label="sampled"),
            gr.Textbox(label="first description", interactive=False),
            gr.Audio(label="first voice"),
        ]
        sample_btn.click(sample_people, seed, outs, api_name="sample")
    with gr.Accordion("Interpolate between two people", open=False):
        with gr.Row():
            id_a, id_b = gr.Textbox(label="person A id"), gr.Textbox(label="person B id")
            t = gr.Slider(0, 1, value=0.5, step=0.05, label="A → B")
        outs = [gr.Image(height=200), gr.Textbox(interactive=False), gr.Audio()]
        t.release(interpolate, [id_a, id_b, t], outs, api_name="interpolate")
    with gr.Accordion("Slide along an attribute", open=False):
        with gr.Row():
            base = gr.Textbox(label="person id")
            c["direction"] = gr.Dropdown(label="direction", choices=list(DIRECTIONS), value="older")
            amount = gr.Slider(-2, 2, value=1, step=0.1, label="amount")
        outs = [gr.Image(height=200), gr.Textbox(interactive=False), gr.Audio()]
        amount.release(steer, [base, c["direction"], amount], outs, api_name="steer")
    with gr.Accordion("Re-project the gallery", open=False):
        with gr.Row():
            nn_ = gr.Slider(2, 100, value=15, step=1, label="UMAP n_neighbors")
            md = gr.Slider(0.0, 0.99, value=0.1, step=0.01, label="UMAP min_dist")
            go = gr.Button("Re-project")
        go.click(reproject, [nn_, md, c["colour"], c["dims"]], [c["map"], table_state], api_name="reproject")
    for trigger in (c["colour"].change, c["dims"].change):
        trigger(explore_map, [c["colour"], c["dims"], table_state], c["map"], api_name=False)
    return c


def build() -> gr.Blocks:
    # delete_cache: uploads and generated files leave Gradio's temporary cache within ten minutes
    with gr.Blocks(title="mmdemo: face, words and voice in one space", delete_cache=(120, 600)) as demo:
        gr.Markdown(
            "## mmdemo — face, words and voice in one learned space\n"
            "Give any of the three; see where the person lands, what the model makes of them "
            "and where it looks. Nothing you give is stored."
        )
        last, points, table_state, overlays = gr.State(None), gr.State([]), gr.State(None), gr.State({})
        with gr.Tabs():
            with gr.Tab("Analyze"):
                analyze_c = _analyze_tab(points, last, overlays)
            with gr.Tab("Live"):
                _live_tab()
            with gr.Tab("Explore"):
                explore_c = _explore_tab(table_state)
            with gr.Tab("About"):
                card = gr.Markdown()
        # /analyze: exactly (face image, description, voice audio), for API clients. Files, not decoded
        # media: the library reads them and names what is wrong with a corrupt or mislabelled upload.
        api_in = [
            gr.File(visible=False, label="face image"),
            gr.Textbox(visible=False, label="description"),
            gr.File(visible=False, label="voice audio"),
        ]
        api_out = [
            gr.Image(visible=False),
            gr.Textbox(visible=False),
            gr.Audio(visible=False),
            gr.JSON(visible=False),
        ]
        api_button = gr.Button("api", visible="hidden")
        api_button.click(
            analyze, api_in, api_out, api_name="analyze", concurrency_limit=2, concurrency_id="model"
        )

        def on_load():
            service = RUNTIME.get()
            return service.map("emotion", 2), service.map("emotion", 2), service.model_card()

        demo.load(on_load, None, [analyze_c["map"], explore_c["map"], card], js=CLICK_BRIDGE, api_name=False)
    return demo


demo = build()


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="mmdemo's web app")
    p.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (0.0.0.0: the whole network)")
    p.add_argument("--share", action="store_true", help="also serve on a public share link")
    p.add_argument("--auth", default=None, help="USER:PASS required to open the app")
    p.add_argument("--device", default="auto", help="auto (GPU when there is one), cpu or cuda")
    p.add_argument("--max-file-size", default="20mb", help="largest upload accepted (default 20mb)")
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    if not (args.checkpoint / "config.json").is_file():
        sys.exit(
            f"error: {args.checkpoint} is not a checkpoint folder (config.json missing); "
            f"pass --checkpoint DIR or train one with `python -m mmdemo train`"
        )
    auth = None
    if args.auth:
        user, sep, password = args.auth.partition(":")
        if not sep or not user or not password:
            sys.exit("error: --auth must look like USER:PASS")
        auth = (user, password)
    elif args.share:
        print(
            "warning: --share without --auth makes the app public to anyone with the link; "
            "consider --auth USER:PASS",
            file=sys.stderr,
        )
    from mmdemo.runtime import limit_malloc_arenas

    limit_malloc_arenas()  # before the server's threads exist: keeps memory flat under concurrent load
    RUNTIME.configure(args.checkpoint, args.device)
    RUNTIME.start()
    demo.queue(default_concurrency_limit=2, max_size=64)
    demo.launch(
        server_name=args.host,
        server_port=args.port,
        share=args.share,
        auth=auth,
        max_file_size=args.max_file_size,
        prevent_thread_lock=True,
        show_error=True,
        theme=gr.themes.Soft(),
        quiet=True,
    )
    print(f"mmdemo is serving {args.checkpoint} on http://{args.host}:{args.port}", flush=True)
    if args.share:
        if demo.share_url:
            print(f"public link: {demo.share_url}", flush=True)
        else:
            print(
                "no public share link could be made (no connection to the share service); "
                "the app keeps serving locally",
                flush=True,
            )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        demo.close()


if __name__ == "__main__":
    main()
