"""What a person in front of the app feels: the app in headless Chromium with a fake webcam holding a
real photo, timed and weighed in the page itself.

    python scripts/bench_browser.py --json docs/browser-cpu2.json [--checkpoint DIR] [--clicks 20]
    python scripts/bench_browser.py --app-dir ../old-checkout   (the same bench of another checkout)

Measured (medians and p95 of repeated runs, timed by the page's own clock):
- cold start: `python app.py` to HTTP 200, and to the page usable (the Analyze button and the gallery
  map drawn with its points);
- the first analysis after the page loads (a description typed, Analyze clicked);
- click -> every view updated, warm: from the click to the last of (the results arriving, every image
  the results name loaded, the map redrawn), with face, description and voice given;
- the bytes the browser receives per analysis (event stream and files), without the generated voice;
- the Live tab's frame rate as rendered: new reconstructions shown per second, counted in the page.

The photo is skimage's astronaut portrait (public domain). Needs playwright (pip) and Chromium
(apt-get install chromium; never `playwright install`)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mmdemo.evaluation.app_process import free_port, start_app, stop_app  # noqa: E402
from mmdemo.evaluation.bench import p50, p95  # noqa: E402
from mmdemo.evaluation.fake_media import (  # noqa: E402
    COUNT_LIVE_FRAMES,
    block,
    launch_browser,
    start_live_stream,
    write_wav,
    write_y4m,
)
from mmdemo.runtime import DEFAULT_CHECKPOINT, offline_env  # noqa: E402

DESCRIPTIONS = (
    "A smiling woman in her forties with short brown hair and light skin.",
    "A serious young man with black hair and a beard, wearing glasses.",
)

# Installed once per page: when each image finished loading, when each plot was last drawn, and
# whether any of the page's status trackers (one per output component) is busy.
INSTRUMENT = """() => {
  window.__perf = {loads: [], plots: [], srcs: []};
  new MutationObserver(() => window.__perf.srcs.push(performance.now()))
    .observe(document.body, {attributes: true, attributeFilter: ['src'], subtree: true});
  document.addEventListener('load', (e) => {
    if (e.target.tagName === 'IMG') window.__perf.loads.push(performance.now());
  }, true);
  const hook = () => document.querySelectorAll('.js-plotly-plot').forEach((p) => {
    if (p.dataset.perf) return;
    p.dataset.perf = '1';
    p.on('plotly_afterplot', () => window.__perf.plots.push(performance.now()));
  });
  hook();
  new MutationObserver(hook).observe(document.body, {childList: true, subtree: true});
}"""
CLICK = """() => { window.__perf.t0 = performance.now();
  document.querySelector('#analyze-button').click(); }"""
BUSY = """() => [...document.querySelectorAll('[data-testid="status-tracker"]')]
  .some((el) => !/\\bhide\\b/.test(el.className))"""
# Seconds from the click to the last image load or plot redraw after it (or to `idle_at`).
SETTLED = """(idleAt) => { const p = window.__perf, after = (ts) => ts.filter((t) => t >= p.t0);
  const last = (ts) => Math.max(p.t0, ...after(ts)) - p.t0;
  const first = (ts) => Math.min(...after(ts)) - p.t0;
  window.__phases = {results: first(p.srcs), idle: idleAt - p.t0,
                     images: last(p.loads), plots: last(p.plots)};
  return (Math.max(idleAt, ...after(p.loads), ...after(p.plots)) - p.t0) / 1000; }"""
MAP_READY = """() => { const p = document.querySelector('#analyze-map .js-plotly-plot');
  return !!(p && p._fullData && p._fullData.some((d) => (d._length || 0) > 10)); }"""


def write_media(folder: Path) -> dict[str, Path]:
    import cv2
    from skimage.data import astronaut

    portrait = astronaut()[30:240, 122:332]
    face = folder / "astronaut.png"
    cv2.imwrite(str(face), cv2.cvtColor(portrait, cv2.COLOR_RGB2BGR))
    media = {"face": face, "webcam": folder / "webcam.y4m", "microphone": folder / "microphone.wav"}
    write_y4m(media["webcam"], face, sway_px=6)  # moving: each live frame differs
    write_wav(media["microphone"], REPO / "assets" / "examples" / "person1.wav")
    return media


class Traffic:
    """Bytes the page receives, counted by Chromium's DevTools protocol (files and the event stream)."""

    def __init__(self, context, page, skip_suffixes=(".wav",)):
        self.urls, self.bytes, self.skip = {}, {}, skip_suffixes
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.on("Network.requestWillBeSent", self._request)
        cdp.on("Network.dataReceived", self._data)

    def _request(self, e) -> None:
        self.urls[e["requestId"]] = e["request"]["url"]

    def _data(self, e) -> None:
        url = self.urls.get(e["requestId"], "")
        if not url.split("?")[0].endswith(self.skip):
            self.bytes[e["requestId"]] = self.bytes.get(e["requestId"], 0) + e["dataLength"]

    def total(self) -> int:
        return sum(self.bytes.values())


def analysis_seconds(page, start, quiet_ms: int = 700) -> float:
    """Runs `start` (which sets window.__perf.t0), waits until the page is busy, idle again and quiet
    for `quiet_ms` (late images and redraws are counted), and returns click -> last update."""
    start()
    page.wait_for_function(BUSY, timeout=30_000, polling=5)
    page.wait_for_function(f"() => !({BUSY})()", timeout=90_000, polling=5)
    idle_at = page.evaluate("() => performance.now()")
    if page.locator('[data-testid="toast-body"].error').count():
        texts = page.locator('[data-testid="toast-body"]').all_inner_texts()
        raise RuntimeError(f"the app showed an error: {texts}")
    page.wait_for_timeout(quiet_ms)
    return page.evaluate(SETTLED, idle_at)


# Pans the Analyze map by small steps, each drawn before the next; the time of each drawn frame.
PAN = """async (steps) => {
  const plot = document.querySelector('#analyze-map .js-plotly-plot');
  const [x0, x1] = plot._fullLayout.xaxis.range, [y0, y1] = plot._fullLayout.yaxis.range;
  const frames = [];
  for (let i = 1; i <= steps; i++) {
    const dx = (x1 - x0) * 0.01 * i, t = performance.now();
    await window.Plotly.relayout(plot, {'xaxis.range': [x0 + dx, x1 + dx], 'yaxis.range': [y0, y1]});
    await new Promise((r) => requestAnimationFrame(r));
    frames.push(performance.now() - t);
  }
  await window.Plotly.relayout(plot, {'xaxis.range': [x0, x1], 'yaxis.range': [y0, y1]});
  return {frames, points: plot._fullData.reduce((n, d) => n + (d._length || 0), 0)};
}"""


def map_pan(page, steps: int = 30) -> dict:
    """Frame times while the gallery map is panned (each step drawn before the next)."""
    pan = page.evaluate(PAN, steps)
    frames = np.array(pan["frames"][2:])  # the first steps warm plotly's caches
    return {"map_points": pan["points"], "pan_frame_ms_p50": p50(frames), "pan_frame_ms_p95": p95(frames)}


def bench_page(pw, url: str, media: dict, clicks: int, live_seconds: float, verbose=False) -> dict:
    profile = Path(tempfile.mkdtemp(prefix="mmdemo-bench-profile-"))
    context = launch_browser(pw, profile, media["webcam"], media["microphone"])
    try:
        page = context.pages[0] if context.pages else context.new_page()
        page.set_default_timeout(90_000)
        errors, phase = [], ["page load"]  # each error with the phase it came in, and its stack
        page.on(
            "pageerror", lambda e: errors.append(f"{phase[0]}: {e} {getattr(e, 'stack', '') or ''}".strip())
        )
        traffic = Traffic(context, page)
        t0 = time.perf_counter()
        page.goto(url, wait_until="domcontentloaded")
        page.locator("#analyze-button").wait_for()
        page.wait_for_function(MAP_READY, timeout=90_000, polling=20)
        out = {"page_usable_s": time.perf_counter() - t0, "page_load_kb": traffic.total() / 1024}
        phase[0] = "map pan"
        out.update(map_pan(page))
        page.evaluate(INSTRUMENT)
        phase[0] = "first analysis"

        # the first analysis: a description typed, Analyze clicked
        page.get_by_role("textbox", name="Description", exact=True).fill(DESCRIPTIONS[0])
        out["first_analysis_s"] = analysis_seconds(page, lambda: page.evaluate(CLICK))

        # a face from the webcam (analyzed at once) and a voice file (analyzed at once)
        phase[0] = "webcam capture"
        face = block(page, "Face")
        face.locator("button[aria-label='Capture from camera']").click()
        face.get_by_text("Click to Access Webcam").click()
        page.wait_for_function("(v) => v.videoWidth > 0", arg=face.locator("video").element_handle())
        analysis_seconds(
            page,
            lambda: (
                page.evaluate("() => { window.__perf.t0 = performance.now(); }")
                or face.locator("button[aria-label='capture photo']").click()
            ),
        )
        phase[0] = "voice upload"
        voice = block(page, "Voice")
        voice.get_by_role("button", name="Upload file").click() if voice.get_by_role(
            "button", name="Upload file"
        ).count() else None
        analysis_seconds(
            page,
            lambda: (
                page.evaluate("() => { window.__perf.t0 = performance.now(); }")
                or voice.locator("input[type=file]").set_input_files(
                    str(REPO / "assets/examples/person1.wav")
                )
            ),
        )

        phase[0] = "timed clicks"
        box = page.get_by_role("textbox", name="Description", exact=True)
        seconds, payload = [], []
        for i in range(clicks + 2):  # two warm-up clicks
            box.fill(DESCRIPTIONS[i % 2])
            before = traffic.total()
            s = analysis_seconds(page, lambda: page.evaluate(CLICK))
            if i >= 2:
                if verbose:
                    print("click", i, round(s, 3), page.evaluate("() => window.__phases"), flush=True)
                seconds.append(s)
                payload.append((traffic.total() - before) / 1024)
        out.update(
            click_to_views_s_p50=p50(seconds),
            click_to_views_s_p95=p95(seconds),
            click_to_views_s_max=float(np.max(seconds)),
            payload_kb_p50=p50(payload),
            payload_kb_max=float(np.max(payload)),
            clicks=len(seconds),
        )
        if live_seconds > 0:
            phase[0] = "live tab"
            out.update(bench_live(page, live_seconds))
        out["page_errors"] = errors
        return out
    finally:
        context.close()


def bench_live(page, seconds: float) -> dict:
    """Frames the Live tab shows per second: each new reconstruction drawn, counted on animation frames."""
    start_live_stream(page)
    page.wait_for_timeout(2000)  # warm-up frames
    page.evaluate(COUNT_LIVE_FRAMES)
    page.wait_for_timeout(int(seconds * 1000))
    times = np.array(page.evaluate("() => { cancelAnimationFrame(window.__liveRaf); return window.__live; }"))
    if len(times) < 2:
        return {"live_fps_rendered": 0.0, "live_frame_ms_p95": float("nan")}
    gaps = np.diff(times)
    return {
        "live_fps_rendered": float((len(times) - 1) / (times[-1] - times[0]) * 1000),
        "live_frame_ms_p95": p95(gaps),
    }


def main(argv=None) -> None:
    offline_env()
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    ap.add_argument("--app-dir", type=Path, default=REPO, help="checkout whose app.py is run")
    ap.add_argument("--clicks", type=int, default=20)
    ap.add_argument("--starts", type=int, default=3, help="fresh app processes timed to HTTP 200")
    ap.add_argument("--live-seconds", type=float, default=10.0)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--verbose", action="store_true", help="print each click's phases (ms after the click)")
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    http = []
    for _ in range(max(args.starts - 1, 0)):
        proc, s = start_app(args.checkpoint.resolve(), free_port(), app_dir=args.app_dir)
        stop_app(proc)
        http.append(s)
    port = free_port()
    proc, s = start_app(args.checkpoint.resolve(), port, app_dir=args.app_dir)
    http.append(s)
    try:
        with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
            media = write_media(Path(tmp))
            result = {"http_ready_s_p50": p50(http), "http_ready_s": http}
            result.update(
                bench_page(
                    pw, f"http://127.0.0.1:{port}", media, args.clicks, args.live_seconds, args.verbose
                )
            )
    finally:
        stop_app(proc)
    result["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version()}
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
