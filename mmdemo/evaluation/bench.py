"""`python -m mmdemo bench`: how fast the demo is on this machine, and how close
to the hardware's limit.

Every figure is measured here and now: warm-up runs are excluded, latencies
are medians (and p95) of repeated runs, and each comparison is made in the same
process against its baseline (umap-learn's own `transform` for placement, a
plain matmul for the roofline). Startup figures time fresh Python processes,
as a user meets them. The keys are listed in `KEYS`; docs/PERFORMANCE.md
records a run and what dominates the time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from mmdemo.evaluation.app_process import free_port, start_app, stop_app
from mmdemo.runtime import OFFLINE_ENV, REPO_ROOT, serve_with_torch_threads
from mmdemo.schema import MODALITIES, SUBSETS

REPO = REPO_ROOT  # app.py and assets/ live at the repository root
KEYS = (
    "startup/import_s",
    "startup/model_ready_s",
    "startup/http_ready_s",
    *(f"latency/encode_{m}_ms" for m in MODALITIES),
    *(f"latency/encode_{m}_ms" for m in ("face_detect", "face_features", "speaker_features")),
    "latency/analyze_ms_p50",
    "latency/analyze_ms_p95",
    "placement/projector_ms",
    "placement/umap_transform_ms",
    "placement/speedup",
    "placement/knn_agreement",
    "placement/random_agreement",
    "map/figure_ms_10k",
    "map/figure_ms_100k",
    "map/payload_mb_100k",
    "live/fps",
    "train/samples_per_s",
    "memory/rss_mb",
    "roofline/analyze_efficiency",
)


# ------------------------------------------------------------------ timing
def repeat_ms(fn: Callable[[], object], runs: int, warmup: int = 3) -> np.ndarray:
    """Wall times in ms of `runs` calls after `warmup` untimed ones."""
    return interleaved_ms([fn], runs, warmup)[0]


def interleaved_ms(fns: Sequence[Callable[[], object]], runs: int, warmup: int = 3) -> list[np.ndarray]:
    """Wall times in ms of `runs` calls of each function, taken in turn: on a shared VM whose speed
    drifts, figures that are compared (analyze with and without drawing) must share the drift."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    times = np.empty((len(fns), runs))
    for i in range(runs):
        for k, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            times[k, i] = (time.perf_counter() - t0) * 1000
    return list(times)


def p50(times) -> float:
    return float(np.median(times))


def p95(times) -> float:
    return float(np.percentile(times, 95))


def rss_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# ------------------------------------------------------------------ startup
def process_seconds(code: str) -> float:
    """Wall time of a fresh interpreter running `code` (interpreter start included, as users meet it)."""
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={**os.environ, **OFFLINE_ENV},
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - t0


def bench_startup(checkpoint: Path, runs: int) -> dict:
    ready = f"from mmdemo.serving.service import DemoService; DemoService({str(checkpoint)!r}, 'cpu')"
    http = []
    for _ in range(runs):
        proc, seconds = start_app(checkpoint, free_port())
        stop_app(proc)
        http.append(seconds)
    return {
        "startup/import_s": p50([process_seconds("import mmdemo.serving.service") for _ in range(runs)]),
        "startup/model_ready_s": p50([process_seconds(ready) for _ in range(runs)]),
        "startup/http_ready_s": p50(http),
    }


# ------------------------------------------------------------------ inputs
def example_person(name: str = "person2"):
    """The bundled example face, description and voice."""
    import cv2
    import soundfile as sf

    folder = REPO / "assets" / "examples"
    face = cv2.cvtColor(cv2.imread(str(folder / f"{name}.png")), cv2.COLOR_BGR2RGB)
    wave, sr = sf.read(folder / f"{name}.wav", dtype="float32")
    return face, (folder / f"{name}.txt").read_text().strip(), (sr, wave)


def webcam_frame(face: np.ndarray, width: int = 640, height: int = 480) -> np.ndarray:
    """A 640x480 frame with the face in the middle, as a webcam would send it."""
    import cv2

    frame = np.full((height, width, 3), (205, 200, 195), np.uint8)
    side = 300
    frame[90 : 90 + side, 170 : 170 + side] = cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC)
    return frame


# ------------------------------------------------------------------ model
def bench_latency(service, runs: int) -> tuple[dict, float]:
    """Per-modality encoding, each frozen extractor, the full analyze (model + map + neighbours +
    figures); returns the model-only analyze median too (the roofline's denominator)."""
    from mmdemo.data.preprocess import prepare_audio, prepare_image
    from mmdemo.extractors.face import read_face
    from mmdemo.extractors.speaker import embed_speech

    face, text, voice = example_person()
    model = service.model
    crop = prepare_image(face, model.config.image_size).crop[None]
    wave = prepare_audio(voice)[0]
    prepared = prepare_image(face, model.config.image_size)
    encoders = {
        "image": lambda: model.encode_inputs(images=crop),
        "text": lambda: model.encode_inputs(texts=[text]),
        "voice": lambda: model.encode_inputs(waves=[wave]),
        # the frozen real-world extractors, which analyze runs when the checkpoint reads them
        "face_detect": lambda: prepare_image(face, model.config.image_size),
        "face_features": lambda: read_face(prepared.image, prepared.tight_box),
        "speaker_features": lambda: embed_speech(wave),
    }
    out = {}
    with torch.inference_mode():
        for m, fn in encoders.items():
            out[f"latency/encode_{m}_ms"] = p50(repeat_ms(fn, runs))
        full, model_times = interleaved_ms(
            [
                lambda: service.analyze(face, text, voice),
                lambda: model.analyze(image=face, text=text, voice=voice),
            ],
            runs,
        )
        model_only = p50(model_times)
    out.update(
        {
            "latency/analyze_ms_p50": p50(full),
            "latency/analyze_ms_p95": p95(full),
            "latency/model_analyze_ms": model_only,
        }
    )
    return out, model_only


def analyze_flops(model) -> int:
    """FLOPs of one model.analyze with all three inputs (matmuls and convolutions, as torch counts them)."""
    from torch.utils.flop_counter import FlopCounterMode

    from mmdemo.data.preprocess import prepare_audio, prepare_text

    face, text, voice = example_person()
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model.analyze(image=face, text=text, voice=voice)
        # the counter sees only this thread: analyze encodes the description and voice in another
        model._heard_inputs(prepare_text(text)[0], prepare_audio(voice)[0])
    return int(counter.get_total_flops())


def matmul_gflops(size: int = 1024, runs: int = 20) -> float:
    """The machine's float32 matmul throughput through torch, with the same thread settings."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    return 2 * size**3 / (p50(repeat_ms(lambda: a @ b, runs)) / 1000) / 1e9


def bench_roofline(model, analyze_ms: float) -> dict:
    flops = analyze_flops(model)
    peak = matmul_gflops()
    achieved = flops / (analyze_ms / 1000) / 1e9
    return {
        "roofline/analyze_gflop": flops / 1e9,
        "roofline/achieved_gflops": achieved,
        "roofline/matmul_gflops": peak,
        "roofline/analyze_efficiency": achieved / peak,
    }


# ------------------------------------------------------------------ placement
def query_embeddings(model, data: Path | None = None, people: int = 240) -> np.ndarray:
    """Latents of people the gallery has not seen, each under one of the seven input subsets in turn:
    from `data` (its test split) when given, else the bundled examples under every subset."""
    if data is not None:
        from mmdemo.data.loaders import open_samples

        chosen = [s for s in open_samples(data, "test") if s.image and s.text and s.audio][:people]
        mus = model.embed(chosen, SUBSETS)  # person i is taken under subset i mod 7
        rows = [mus[SUBSETS[i % len(SUBSETS)]][i] for i in range(len(chosen))]
        return torch.stack(rows).float().cpu().numpy()
    out = []
    for name in ("person1", "person2", "person3", "person4"):
        face, text, voice = example_person(name)
        given = dict(zip(MODALITIES, (face, text, voice)))
        for subset in SUBSETS:
            out.append(model.analyze(**{m: given[m] for m in subset}).embedding)
    return np.stack(out).astype(np.float32)


def map_neighbours(points: np.ndarray, layout: np.ndarray, k: int) -> np.ndarray:
    d = ((points[:, None, :] - layout[None, :, :]) ** 2).sum(-1)
    return np.argsort(d, axis=1)[:, :k]


def neighbour_agreement(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean([len(set(x) & set(y)) / len(x) for x, y in zip(a, b)]))


def placement_agreement(gallery, reducer, queries: np.ndarray, k: int = 10, seed: int = 0) -> dict:
    """Share of each query's k nearest map neighbours that agree with umap-learn's `transform`, for the
    app's placement on the reducer's own layout (so a gallery laid out otherwise, e.g. by PCA in the
    tests, is held to the same map), for each query dropped on a random person's spot (what a placement
    that ignored the query would score) and for umap-learn under another transform seed (the ceiling)."""
    layout = reducer.embedding_.astype(np.float32)
    theirs = map_neighbours(reducer.transform(queries), layout, k)
    ours = map_neighbours(replace(gallery, coords=layout).place(queries), layout, k)
    spots = layout[np.random.default_rng(seed).integers(0, len(layout), len(queries))]
    first_seed = reducer.transform_seed
    reducer.transform_seed = first_seed + 1
    reseeded = map_neighbours(reducer.transform(queries), layout, k)
    reducer.transform_seed = first_seed
    return {
        "knn_agreement": neighbour_agreement(ours, theirs),
        "random_agreement": neighbour_agreement(map_neighbours(spots, layout, k), theirs),
        "umap_self_agreement": neighbour_agreement(reseeded, theirs),
    }


def bench_placement(service, runs: int, k: int = 10, data: Path | None = None) -> dict:
    """The app's placement against umap-learn's `transform` of a UMAP fit with the gallery's own
    settings (and seed, so for a UMAP gallery the layouts are identical): time for one point, and the
    neighbour agreements of `placement_agreement`."""
    from mmdemo.inference.projection import umap_reducer

    gallery = service.gallery
    meta = json.loads((service.checkpoint / "gallery" / "layout.json").read_text())
    reducer = umap_reducer(
        n_components=2,
        n_neighbors=int(meta.get("n_neighbors", 15)),
        min_dist=float(meta.get("min_dist", 0.1)),
        seed=int(meta.get("seed", 0)),
    ).fit(np.stack(gallery.table["embedding"].to_numpy()).astype(np.float32))
    queries = query_embeddings(service.model, data)
    one = queries[:1]
    placement_ms = p50(repeat_ms(lambda: gallery.place(one), runs * 10))
    umap_ms = p50(repeat_ms(lambda: reducer.transform(one), runs, warmup=2))  # warm-up pays its compile
    agreement = placement_agreement(gallery, reducer, queries, k)
    return {
        "placement/projector_ms": placement_ms,
        "placement/umap_transform_ms": umap_ms,
        "placement/speedup": umap_ms / placement_ms,
        **{f"placement/{key}": value for key, value in agreement.items()},
        "placement/queries": len(queries),
        "placement/gallery_layout": meta.get("layout", "umap"),
        "placement/layout_max_abs_diff": float(np.abs(reducer.embedding_ - gallery.coords[:, :2]).max()),
    }


# ------------------------------------------------------------------ map and live
def synthetic_table(table, n: int, seed: int = 0):
    """n map points drawn from the gallery's rows with jittered coordinates (a gallery that size)."""
    rng = np.random.default_rng(seed)
    big = (
        table.iloc[rng.integers(0, len(table), n)]
        .reset_index(drop=True)
        .drop(columns=["face_jpeg", "embedding"])
    )
    for c in ("x2", "y2", "x3", "y3", "z3"):
        big[c] = big[c].to_numpy() + rng.normal(0, 0.05, n).astype(np.float32)
    big["id"] = [f"p{i}" for i in range(n)]
    return big


def bench_map(service, runs: int) -> dict:
    """Building the 2D WebGL map and serialising it as the server sends it (plotly JSON)."""
    from mmdemo.serving.figures import map_figure

    out = {}
    for n, label in ((10_000, "10k"), (100_000, "100k")):
        table = synthetic_table(service.gallery.table, n)
        times = repeat_ms(lambda t=table: map_figure(t, "emotion", 2).to_json(), max(3, runs // 5), warmup=1)
        out[f"map/figure_ms_{label}"] = p50(times)
        if label == "100k":
            out["map/payload_mb_100k"] = len(map_figure(table, "emotion", 2).to_json()) / 1e6
    return out


def bench_live(service, frames: int) -> dict:
    """Frames per second through the live-stream callback's work (detect, encode, fuse, rollout,
    decode the face, place the point and write its map traces; the map itself is drawn once)."""
    from mmdemo.serving.figures import live_traces

    face, _, _ = example_person()
    frame = webcam_frame(face)
    shifted = [np.roll(frame, (i % 7) - 3, axis=1) for i in range(7)]  # a slightly moving head
    counter = iter(range(10**9))
    with torch.inference_mode():

        def one_frame():
            _, _, coords, _ = service.live_frame(shifted[next(counter) % 7])
            return live_traces({"fused": coords}, 2)

        times = repeat_ms(one_frame, frames)
    return {"live/fps": 1000 / p50(times), "live/frame_ms_p95": p95(times)}


# ------------------------------------------------------------------ training
def bench_training(steps: tuple[int, int] = (10, 30)) -> dict:
    """Samples per second of the tiny preset on this machine: the difference of two runs, so dataset
    loading, text caching and process set-up cancel out."""
    from mmdemo.synth.generator import generate_dataset
    from mmdemo.training.loop import PRESETS, train

    with tempfile.TemporaryDirectory() as tmp:
        data = generate_dataset(Path(tmp) / "data", preset="tiny", seed=0)
        seconds = []
        for n in steps:
            t0 = time.perf_counter()
            train(data, Path(tmp) / f"ckpt{n}", preset="tiny", steps=n, device="cpu", progress=False)
            seconds.append(time.perf_counter() - t0)
    batch = PRESETS["tiny"].batch_size
    return {"train/samples_per_s": (steps[1] - steps[0]) * batch / (seconds[1] - seconds[0])}


# ------------------------------------------------------------------ all of it
def run_bench(
    checkpoint: str | Path,
    *,
    runs: int = 30,
    startup_runs: int = 3,
    skip_startup: bool = False,
    data: Path | None = None,
    say: Callable[[str], None] = lambda msg: None,
) -> dict:
    from mmdemo.serving.service import DemoService

    checkpoint = Path(checkpoint)
    default_threads = serve_with_torch_threads()  # as the app serves
    results: dict = {
        "machine/cpus": os.cpu_count(),
        "machine/torch_threads": torch.get_num_threads(),
        "machine/torch": torch.__version__,
        "runs": runs,
    }
    if not skip_startup:
        say("startup (fresh processes)")
        results.update(bench_startup(checkpoint, startup_runs))
    say("loading the model and gallery")
    service = DemoService(checkpoint, "cpu")
    results["memory/rss_mb"] = rss_mb()
    say("latency")
    latency, model_ms = bench_latency(service, runs)
    results.update(latency)
    say("roofline")
    results.update(bench_roofline(service.model, model_ms))
    say("placement (fits UMAP once; its first transform compiles)")
    results.update(bench_placement(service, runs, data=data))
    say("map figures")
    results.update(bench_map(service, runs))
    say("live")
    results.update(bench_live(service, runs * 2))
    say("training (tiny preset)")
    torch.set_num_threads(default_threads)  # as `train` runs
    results.update(bench_training())
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in results.items()}


def profile_analyze(checkpoint: str | Path, runs: int = 20, top: int = 18) -> str:
    """Where one full analyze spends its time: torch operators (self CPU time) and Python functions."""
    import cProfile
    import io
    import pstats

    from torch.profiler import ProfilerActivity, profile

    from mmdemo.serving.service import DemoService

    serve_with_torch_threads()  # as the app serves
    service = DemoService(checkpoint, "cpu")
    face, text, voice = example_person()
    call = lambda: service.analyze(face, text, voice)  # noqa: E731
    repeat_ms(call, 1)
    with torch.inference_mode(), profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(runs):
            call()
    ops = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=top)
    profiler = cProfile.Profile()
    with torch.inference_mode():
        profiler.enable()
        for _ in range(runs):
            call()
        profiler.disable()
    text_out = io.StringIO()
    pstats.Stats(profiler, stream=text_out).sort_stats("cumulative").print_stats(top)
    return (
        f"# torch operators ({runs} analyses)\n{ops}\n# Python functions, cumulative\n{text_out.getvalue()}"
    )
