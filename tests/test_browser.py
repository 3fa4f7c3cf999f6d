"""The app in a real browser: headless Chromium (Debian's, driven by the pip `playwright`
package) with a fake webcam and a fake microphone fed from files this test writes.

A face is captured from the webcam, a description typed, a voice recorded from the
microphone, and "Analyze" pressed; the map, the reconstruction and the attention views
must appear, no script error may happen in the page, and a description made of HTML
must stay text. Every stage is saved as a screenshot under the test's tmp dir; with
MMDEMO_BROWSER_CHECKPOINT set (a trained model), the Analyze and Attention views also
replace the README's pictures in assets/screenshots/.

Without playwright or Chromium the test is skipped, except when CI=true: there it fails, since a
skipped browser test would pass CI unnoticed.

    python -m pytest tests/test_browser.py --run-slow -q
    MMDEMO_BROWSER_CHECKPOINT=checkpoints/default python -m pytest tests/test_browser.py --run-slow -q
        (a trained checkpoint with a gallery instead of the tiny one: nicer README screenshots)
"""

import contextlib
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import cv2
import pytest

from mmdemo.evaluation.app_process import free_port
from mmdemo.evaluation.fake_media import (
    CHROMIUM,
    block,
    launch_browser,
    start_live_stream,
    write_wav,
    write_y4m,
)
from mmdemo.runtime import OFFLINE_ENV

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "assets" / "examples"
SCREENSHOTS = REPO / "assets" / "screenshots"
HOSTILE = '<img src=x onerror="window.__pwned=1"> A sad woman with black hair.'


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def browser_checkpoint(request):
    """$MMDEMO_BROWSER_CHECKPOINT if set, else the tiny checkpoint with a PCA-laid gallery
    (built once; test_app.py may have built it already in this session)."""
    given = os.environ.get("MMDEMO_BROWSER_CHECKPOINT")
    if given:
        ckpt = Path(given).resolve()
        assert (ckpt / "gallery" / "gallery.parquet").is_file(), f"{ckpt} has no gallery"
        return ckpt
    ckpt, data = request.getfixturevalue("tiny_checkpoint"), request.getfixturevalue("tiny_data")
    if not (ckpt / "gallery" / "gallery.parquet").is_file():
        from mmdemo.inference.projection import build_gallery

        build_gallery(ckpt, data, people=120, device="cpu", layout="pca")
    return ckpt


@contextlib.contextmanager
def serving(checkpoint: Path, log_path: Path, **env_extra):
    """`python app.py` in a subprocess on a free port, polled on /config until it answers; yields its URL."""
    port = free_port()
    env = {**os.environ, **OFFLINE_ENV, **env_extra}
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "app.py",
                "--checkpoint",
                str(checkpoint),
                "--port",
                str(port),
                "--device",
                "cpu",
            ],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline, status = time.monotonic() + 90, None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(url + "/config", timeout=2) as r:
                    status = r.status
                if status == 200:
                    break
            except (urllib.error.URLError, OSError) as e:
                status = repr(e)
            time.sleep(0.5)
        if status != 200:
            pytest.fail(
                f"the app did not answer /config with 200 within 90 s (last: {status}, "
                f"exit code: {proc.poll()}); its output:\n{log_path.read_text(errors='replace')}"
            )
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if os.environ.get("MMDEMO_SHOW_APP_LOG"):
            print(log_path.read_text(errors="replace"))


@pytest.fixture(scope="module")
def app_url(browser_checkpoint, tmp_path_factory):
    with serving(browser_checkpoint, tmp_path_factory.mktemp("app") / "app.log") as url:
        yield url


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    from skimage.data import astronaut  # a public-domain NASA portrait: a real face, free to show

    d = tmp_path_factory.mktemp("media")
    portrait = astronaut()[30:240, 122:332]  # head and shoulders, as a webcam frames a person
    cv2.imwrite(str(d / "astronaut.png"), cv2.cvtColor(portrait, cv2.COLOR_RGB2BGR))
    write_y4m(d / "webcam.y4m", d / "astronaut.png")
    write_wav(d / "microphone.wav", EXAMPLES / "person1.wav")
    return d


@pytest.fixture(scope="module")
def sync_api():
    """playwright's sync API, once Chromium is known to be there. Without either the test is skipped,
    except in CI (CI=true), where a skip would pass unnoticed: there it fails and says what is missing."""
    missing = None
    try:
        from playwright import sync_api
    except ImportError:
        missing = (
            "the playwright package is not installed (pip install playwright; never `playwright install`)"
        )
    if missing is None and not Path(CHROMIUM).is_file():
        missing = f"no Chromium at {CHROMIUM} (apt-get install chromium, or set MMDEMO_CHROMIUM)"
    if missing is None:
        return sync_api
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must run the browser test, but {missing}", pytrace=False)
    pytest.skip(missing)


@pytest.fixture
def browser_page(sync_api, media, tmp_path):
    """A Chromium page whose webcam and microphone are the fake media files."""
    with sync_api.sync_playwright() as pw:
        context = launch_browser(pw, tmp_path / "profile", media / "webcam.y4m", media / "microphone.wav")
        try:
            pg = context.pages[0] if context.pages else context.new_page()
            pg.set_default_timeout(60_000)
            pg.errors = []
            pg.on("pageerror", lambda e: pg.errors.append(str(e)))
            yield pg
        finally:
            context.close()


# ------------------------------------------------------------------ helpers
# Records the text of every toast (gr.Warning / gr.Error) that appears, even after it fades.
WATCH_TOASTS = """() => {
  window.__toasts = [];
  new MutationObserver(() => document.querySelectorAll('[data-testid="toast-body"]').forEach((t) => {
    if (t.dataset.seen) return;
    t.dataset.seen = '1';
    const kind = t.className.replace(/svelte-\\S+/g, '').trim();
    window.__toasts.push(kind + ': ' + t.innerText.replace(/\\s+/g, ' '));
  })).observe(document.body, {childList: true, subtree: true});
}"""
# Records every class change of the map's status tracker: 'hide' when idle, without it while busy.
WATCH_MAP = """() => {
  const el = document.querySelector('#analyze-map [data-testid="status-tracker"]');
  window.__mapStates = [el.className];
  new MutationObserver(() => window.__mapStates.push(el.className))
    .observe(el, {attributes: true, attributeFilter: ['class']});
}"""
# True once the map has been busy and is idle again since the last reset; an error toast stops the wait.
ANALYSIS_DONE = """() => {
  if (document.querySelector('[data-testid="toast-body"].error')) return true;
  const s = window.__mapStates, idle = (c) => /\\bhide\\b/.test(c);
  return s.some((c) => !idle(c)) && idle(s[s.length - 1]);
}"""


def wait_for_analysis(page, action, what):
    """Run `action` and wait until the analysis it starts has finished; fail on an error toast."""
    page.evaluate("() => { window.__mapStates = []; }")
    t = time.perf_counter()
    action()
    page.wait_for_function(ANALYSIS_DONE, timeout=90_000)
    errors = page.locator('[data-testid="toast-body"].error')
    assert errors.count() == 0, f"{what}: the app showed an error: {errors.all_inner_texts()}"
    return time.perf_counter() - t


def map_traces(page):
    return page.evaluate(
        "() => { const p = document.querySelector('#analyze-map .js-plotly-plot');"
        " return p && p._fullData ? p._fullData.map((d) => d.name) : []; }"
    )


LIVE_TRACES = """() => { const p = document.querySelector('#analyze-map .js-plotly-plot');
  return p.data.map((t, i) => [t, p._fullData[i]]).filter(([t]) => t.meta === 'live')
    .map(([, f]) => [f.name, Array.from(f.x || []), Array.from(f.y || [])]); }"""


def image_src(page, selector):
    return page.evaluate(
        f"() => {{ const i = document.querySelector({selector!r}); return i ? i.src : ''; }}"
    )


# ------------------------------------------------------------------ the test
@pytest.mark.slow
def test_webcam_microphone_analyze_in_a_real_browser(sync_api, browser_page, app_url, tmp_path):
    # sync_api first: a missing browser is reported before a checkpoint is trained and the app started
    page = browser_page
    shots = tmp_path / "screenshots"
    shots.mkdir()
    timings = {}

    def shot(name, stage_dir=shots):
        path = stage_dir / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    t0 = time.perf_counter()
    page.goto(app_url, wait_until="domcontentloaded")
    page.locator("#analyze-button").wait_for()
    page.locator("#analyze-map .js-plotly-plot").wait_for()  # the gallery map from demo.load
    page.evaluate(WATCH_MAP)
    page.evaluate(WATCH_TOASTS)
    timings["page"] = time.perf_counter() - t0
    shot("0-loaded")

    # Face from the webcam: switch the source, open the camera, wait for frames, capture.
    face = block(page, "Face")

    def capture():
        face.locator("button[aria-label='Capture from camera']").click()
        face.get_by_text("Click to Access Webcam").click()
        page.wait_for_function(
            "(v) => v.videoWidth > 0", arg=face.locator("video").element_handle(), timeout=30_000
        )
        face.locator("button[aria-label='capture photo']").click()
        face.locator("img[src]:not([src=''])").first.wait_for()

    timings["face"] = wait_for_analysis(page, capture, "webcam capture")  # face.change analyzes at once
    shot("1-face")

    page.get_by_role("textbox", name="Description", exact=True).fill(
        "A smiling woman in her forties with short brown hair and light skin."
    )

    # Voice from the microphone: Record, wait for Stop (recording really started), 2 s, Stop.
    voice = block(page, "Voice")

    def record():
        voice.get_by_role("button", name="Record", exact=True).click()
        stop = voice.locator("button.stop-button")
        stop.wait_for(state="visible")
        page.wait_for_timeout(2000)
        stop.click()
        voice.locator("[data-testid='download-link']").wait_for()  # the recording is a value now

    timings["voice"] = wait_for_analysis(page, record, "microphone recording")  # voice.change analyzes
    shot("2-recorded")

    timings["analyze"] = wait_for_analysis(page, lambda: page.locator("#analyze-button").click(), "Analyze")
    names = map_traces(page)
    assert "you are here" in names, f"no 'you are here' point on the map; traces: {names}"
    for single in ("face only", "description only", "voice only"):  # all three inputs reached the model
        assert single in names, f"no '{single}' point on the map (that input was not used); traces: {names}"
    # The analyses put only their own points on the map drawn at page load, each replacing the last;
    # a full redraw (3D, then 2D again) must show exactly the points the incremental updates left.
    assert names.count("you are here") == 1, f"the earlier analyses' points were left behind: {names}"
    # Another description, the same inputs: the same points move (plotly animates them in place)
    before = page.evaluate(LIVE_TRACES)
    description = page.get_by_role("textbox", name="Description", exact=True)
    description.fill("A sad old man with gray hair and a beard.")
    wait_for_analysis(page, lambda: page.locator("#analyze-button").click(), "Analyze again")
    swapped_in = page.evaluate(LIVE_TRACES)
    assert [t[0] for t in swapped_in] == [t[0] for t in before] and swapped_in != before, (before, swapped_in)
    dims = page.locator("#analyze-dims")
    wait_for_analysis(page, lambda: dims.get_by_label("3D").check(), "3D map")
    wait_for_analysis(page, lambda: dims.get_by_label("2D").check(), "2D map")
    assert page.evaluate(LIVE_TRACES) == swapped_in
    readme_shots = bool(
        os.environ.get("MMDEMO_BROWSER_CHECKPOINT")
    )  # a trained model: refresh the README's pictures
    if readme_shots:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot("3-analyzed"), SCREENSHOTS / "app_analyze.png")

    page.get_by_role("tab", name="Reconstruct and generate").click()
    page.wait_for_function("() => { const i = document.querySelector('#recon img'); return i && i.src; }")
    assert image_src(page, "#recon img")
    shot("4-reconstruction")

    page.get_by_role("tab", name="Attention").click()
    page.wait_for_function(
        "() => ['#rollout img', '#word-grid img'].every((s) => {"
        " const i = document.querySelector(s); return i && i.src && i.complete; })"
    )
    assert image_src(page, "#rollout img") and image_src(page, "#word-grid img")
    path = shot("5-attention")
    if readme_shots:
        shutil.copy(path, SCREENSHOTS / "app_attention.png")

    # A description made of HTML is analyzed as text and never runs.
    page.get_by_role("tab", name="Reconstruct and generate").click()
    box = page.get_by_role("textbox", name="Description", exact=True)
    box.fill(HOSTILE)
    timings["hostile"] = wait_for_analysis(
        page, lambda: page.locator("#analyze-button").click(), "HTML description"
    )
    generated = page.get_by_role("textbox", name="generated description", exact=True).input_value()
    assert generated.strip(), "the generated description is empty"
    page.get_by_role("tab", name="Attention").click()  # the words of the description are shown there
    page.wait_for_timeout(500)
    shot("6-hostile")
    assert page.evaluate("() => window.__pwned") is None, "a description's HTML was executed in the page"
    assert box.input_value() == HOSTILE

    # The Explore tab's map is not part of the page load: it is drawn when the tab is first opened.
    assert page.locator("#explore-map .js-plotly-plot").count() == 0
    page.get_by_role("tab", name="Explore").click()
    page.wait_for_function(
        "() => { const p = document.querySelector('#explore-map .js-plotly-plot');"
        " return !!(p && p._fullData && p._fullData.some((d) => (d._length || 0) > 10)); }"
    )
    shot("7-explore")

    # The Live tab: webcam frames streamed and answered, the point on its map, and no uncaught error
    # in the page (the final check below covers the stream too).
    start_live_stream(page)
    # the rate the tab shows counts the frames answered in the last 3 s: a few seconds of them
    page.get_by_text(re.compile(r"^\s*([1-9]|0\.[1-9])[0-9.]* frames per second")).wait_for(timeout=60_000)
    page.wait_for_timeout(3000)
    live_points = (
        "() => document.querySelector('#live-map .js-plotly-plot').data.filter((t) => t.meta === 'live')"
    )
    assert page.evaluate(live_points + ".length") >= 1, "the live point is not on the live map"
    shot("8-live")

    toasts = page.evaluate("() => window.__toasts")
    bad = [t for t in toasts if re.search(r"(?i)no face|no voice|error", t)]
    assert not bad, f"the fake webcam/microphone input was not usable: {bad}"
    assert page.errors == [], f"uncaught errors in the page: {page.errors}"
    print(
        f"\nbrowser timings (s): { {k: round(v, 1) for k, v in timings.items()} }; toasts: {toasts}; "
        f"screenshots in {shots}"
    )


@pytest.mark.slow
def test_the_page_in_chinese_and_back(sync_api, app_url, tmp_path):
    """A browser set to Chinese gets the page in Chinese: labels, tabs, the generated description, the
    tables and an error. Settings -> Language -> English switches the page, and what the server says
    follows it."""
    from mmdemo.evaluation.fake_media import CHROMIUM_ARGS
    from mmdemo.synth.descriptions_zh import has_chinese

    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(locale="zh-CN", viewport={"width": 1400, "height": 1000}).new_page()
            page.set_default_timeout(60_000)
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(app_url, wait_until="domcontentloaded")
            page.locator("#analyze-map .js-plotly-plot").wait_for()
            page.evaluate(WATCH_MAP)
            page.evaluate(WATCH_TOASTS)
            for name in ("分析", "实时", "探索", "关于", "重建与生成", "注意力"):
                assert page.get_by_role("tab", name=name, exact=True).count() == 1, name
            assert page.locator("#analyze-button").inner_text().strip() == "分析"
            assert "地图着色依据" in page.locator("body").inner_text()

            box = page.get_by_role("textbox", name="描述", exact=True)
            box.fill("一位二十多岁的红发女士，戴着眼镜，笑得很开心")
            wait_for_analysis(page, lambda: page.locator("#analyze-button").click(), "Chinese description")
            generated = page.get_by_role("textbox", name="生成的描述", exact=True).input_value()
            assert has_chinese(generated), generated
            body = page.locator("body").inner_text()
            assert "特征" in body and "性别" in body and "置信度" in body
            page.screenshot(path=str(tmp_path / "chinese.png"), full_page=True)

            page.get_by_role("button", name="下载我的样本（Parquet）").click()
            page.wait_for_function("() => window.__toasts.some((t) => t.includes('还没有可下载的内容'))")

            # Settings (设置) -> Language -> English: the page, and then the server, speak English
            page.get_by_role("button", name="设置").click()
            page.locator("input[aria-label=Language], input[aria-label=语言]").first.click()
            page.get_by_role("option", name="English").click()
            page.locator("[role=dialog] button").first.click()  # close the settings
            page.locator("#analyze-button", has_text="Analyze").wait_for()
            page.get_by_role("button", name="Download my samples (Parquet)").click()
            page.wait_for_function("() => window.__toasts.some((t) => t.includes('nothing to download'))")
            assert errors == [], f"uncaught errors in the page: {errors}"
        finally:
            browser.close()


# ids of the gallery people drawn on the Analyze map (its WebGL traces), and the view's ranges
GALLERY_IDS = """() => { const p = document.querySelector('#analyze-map .js-plotly-plot');
  if (!p || !p._fullData) return null;
  const ids = p._fullData.filter((d) => d.type === 'scattergl')
    .flatMap((d) => Array.from(d.customdata || []));
  return {ids, x: p._fullLayout.xaxis.range, y: p._fullLayout.yaxis.range}; }"""
# true once the map draws everyone in `must` and nobody outside `may`
SHOWS = f"""([must, may]) => {{ const g = ({GALLERY_IDS})(); if (!g) return false;
  const ids = new Set(g.ids);
  return must.every((i) => ids.has(i)) && g.ids.every((i) => may.includes(i)); }}"""


def wait_until_shown(page, must, may, sync_api) -> None:
    """Waits until the Analyze map draws every person in `must` and nobody outside `may`; fails saying
    what it draws instead."""
    try:
        page.wait_for_function(SHOWS, arg=[list(must), list(may)], timeout=30_000)
    except sync_api.TimeoutError:
        now = page.evaluate(GALLERY_IDS)
        missing, extra = set(must) - set(now["ids"]), set(now["ids"]) - set(may)
        pytest.fail(
            f"the map draws {len(now['ids'])} people: {len(missing)} of {len(must)} missing, "
            f"{len(extra)} it should not; view {now['x']} x {now['y']}"
        )


ZOOM = """([x, y]) => window.Plotly.relayout(document.querySelector('#analyze-map .js-plotly-plot'),
  {'xaxis.range': x, 'yaxis.range': y})"""


@pytest.mark.slow
def test_a_map_of_more_people_than_it_draws_shows_everyone_in_view_when_zoomed(
    sync_api, browser_checkpoint, tmp_path
):
    """The app drawing at most 40 points (MMDEMO_MAP_POINTS) over a larger gallery: the page draws 40,
    zoomed in it shows exactly the people inside the view (asked of the server), and the whole map
    brings back the first 40."""
    import pandas as pd

    from mmdemo.evaluation.fake_media import CHROMIUM_ARGS

    table = pd.read_parquet(browser_checkpoint / "gallery" / "gallery.parquet", columns=["id", "x2", "y2"])
    assert len(table) > 80
    with serving(browser_checkpoint, tmp_path / "app.log", MMDEMO_MAP_POINTS="40") as url:
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.set_default_timeout(60_000)
                errors = []
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.goto(url, wait_until="domcontentloaded")
                page.wait_for_function(f"() => {{ const g = ({GALLERY_IDS})(); return g && g.ids.length; }}")
                first = page.evaluate(GALLERY_IDS)
                assert len(first["ids"]) == 40 and set(first["ids"]) <= set(table["id"])

                # zoom in around one person until the view, and the half view the page adds on each side,
                # hold fewer people than the map draws
                cx, cy = (float(v) for v in table.iloc[len(table) // 2][["x2", "y2"]])
                span = float(table.x2.max() - table.x2.min())
                for _ in range(8):
                    page.evaluate(ZOOM, [[cx - span / 2, cx + span / 2], [cy - span / 2, cy + span / 2]])
                    time.sleep(0.5)
                    view = page.evaluate(GALLERY_IDS)  # the ranges plotly settled on (it keeps the aspect)
                    (x0, x1), (y0, y1) = sorted(view["x"]), sorted(view["y"])
                    dx, dy = x1 - x0, y1 - y0
                    near = table[table.x2.between(x0 - dx, x1 + dx) & table.y2.between(y0 - dy, y1 + dy)]
                    if len(near) <= 40:
                        break
                    span /= 2
                inside = table[table.x2.between(x0, x1) & table.y2.between(y0, y1)]
                assert 0 < len(inside) and len(near) <= 40, "a view holding fewer people than the map draws"
                assert set(inside["id"]) - set(first["ids"]), "someone in view the whole map did not draw"
                # everyone in view, and nobody beyond the half view the page adds on each side
                wait_until_shown(page, inside["id"], near["id"], sync_api)

                page.evaluate(ZOOM, [first["x"], first["y"]])  # the whole map again
                wait_until_shown(page, first["ids"], first["ids"], sync_api)
                assert errors == [], f"uncaught errors in the page: {errors}"
            finally:
                browser.close()
