"""The real app over HTTP with gradio_client: every endpoint called and its answer checked, an upload over
the size limit, concurrent callers, and the re-projection's progress bar reaching the client. Runs on a
tiny checkpoint with a PCA-laid gallery; every bad input is in test_bad_input.py."""

import base64
import io
import json
import os
import re
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from mmdemo.schema import NAMES

REPO = Path(__file__).resolve().parents[1]
ENDPOINTS = (
    "/analyze",
    "/analyze_view",
    "/sample",
    "/person",
    "/interpolate",
    "/steer",
    "/reproject",
    "/add_to_map",
    "/download_samples",
    "/live",
)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("uploads")
    ex = REPO / "assets" / "examples"
    out = {"face": ex / "person2.png", "voice": ex / "person2.wav", "text": (ex / "person2.txt").read_text()}
    cv2.imwrite(
        str(d / "big.png"), np.random.default_rng(1).integers(0, 255, (2100, 2100, 3), dtype=np.uint8)
    )
    out["too_big"] = d / "big.png"  # ~13 MB of noise: over the 12 MB limit of this test server
    return out


@pytest.fixture(scope="module")
def gallery(tiny_app_checkpoint):
    return pd.read_parquet(tiny_app_checkpoint / "gallery" / "gallery.parquet")


def pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), np.int16)


def plot_points(plot: dict) -> dict[str, tuple[float, float]]:
    """A map returned by the app ({"type": "plotly", "plot": JSON}) -> {gallery person id: (x, y)}."""

    def values(v):  # plotly 7 sends numpy arrays as {dtype, bdata}
        if isinstance(v, dict) and "bdata" in v:
            return np.frombuffer(base64.b64decode(v["bdata"]), np.dtype(v["dtype"]))
        return np.asarray(v)

    assert plot["type"] == "plotly"
    traces = json.loads(plot["plot"])["data"]
    return {
        str(pid): (float(x), float(y))
        for t in traces
        if "customdata" in t
        for pid, x, y in zip(values(t["customdata"]), values(t["x"]), values(t["y"]))
    }


# ------------------------------------------------------------------ without a server
def test_refuse_keeps_the_signature_so_gradio_injects_progress():
    """Gradio finds `progress=gr.Progress()` by inspecting the function it was given: the wrapper must
    expose the handler's own signature (a bare *args wrapper hides it and the bar never moves)."""
    import gradio as gr
    from gradio.helpers import special_args

    from webapp.errors import refuse
    from webapp.tabs.explore import reproject

    _, progress_index, _, _ = special_args(reproject, [15, 0.1, "emotion", "2D"])
    assert progress_index == 4
    assert reproject.__name__ == "reproject" and "UMAP" in reproject.__doc__

    @refuse
    def picky(x):
        raise ValueError(f"no {x}")

    with pytest.raises(gr.Error, match="no thing"):
        picky("thing")


def test_the_service_leaves_torch_threads_alone(tiny_app_checkpoint):
    """Only a serving process (app.py, the bench) sets torch's threads: a service made in a process that
    also trains must not change its speed or its floating-point sums."""
    import torch

    from mmdemo.runtime import SMALL_MACHINE_CPUS, serve_with_torch_threads
    from mmdemo.serving.service import DemoService

    before = torch.get_num_threads()
    DemoService(tiny_app_checkpoint, "cpu")
    assert torch.get_num_threads() == before
    assert serve_with_torch_threads() == before  # what a serving process sets, and the count to restore
    small = (os.cpu_count() or 1) <= SMALL_MACHINE_CPUS
    assert torch.get_num_threads() == (1 if small else before)
    torch.set_num_threads(before)


# ------------------------------------------------------------------ over HTTP
def test_analyze_all_three(client, files):
    from gradio_client import handle_file

    face, text, voice, summary = client.predict(
        handle_file(files["face"]), files["text"], handle_file(files["voice"]), api_name="/analyze"
    )
    assert Path(face).exists() and Path(voice).exists() and isinstance(text, str)
    assert summary["inputs"] == ["image", "text", "voice"]
    assert set(summary["map"]) == {"fused", "image", "text", "voice"}
    assert abs(sum(summary["modality_share"].values()) - 1) < 1e-4
    assert (
        set(summary["same_person"])
        == set(summary["agreement"])
        == {"image-text", "image-voice", "text-voice"}
    )


def test_a_chinese_description_over_http(client, still_serving):
    """Mixed scripts and full-width punctuation are taken as text; a checkpoint without a Chinese
    encoder says it reads English only instead of guessing silently, and the server keeps serving."""
    mixed = "一位戴着眼镜的女士，A smiling woman！"
    _, text, voice, summary = client.predict(None, mixed, None, api_name="/analyze")
    assert summary["inputs"] == ["text"] and isinstance(text, str) and Path(voice).exists()
    assert any("fit-chinese" in w for w in summary["warnings"])
    still_serving()


def test_every_endpoint(client, gallery):
    """Every endpoint API clients rely on is published; the gallery's people are found by id."""
    api = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert set(ENDPOINTS) <= set(api), set(ENDPOINTS) - set(api)
    # The handlers' own parameter names (a signature-hiding wrapper publishes param_0, param_1, ...)
    names = [p["parameter_name"] for p in api["/reproject"]["parameters"]]
    assert names == ["n_neighbors", "min_dist", "colour_by", "dims"], names
    a = gallery["id"].iloc[0]
    face, text, voice, pid = client.predict(a, api_name="/person")
    assert text == gallery["description"].iloc[0] and Path(voice).exists() and pid == a
    assert pixels(face).shape[:2] == (256, 256)
    sampled, first_text, first_voice = client.predict(3, api_name="/sample")
    assert len(sampled) == 4 and isinstance(first_text, str) and Path(first_voice).exists()
    again, _, _ = client.predict(3, api_name="/sample")  # a seed gives the same people
    assert np.array_equal(pixels(sampled[0]["image"]), pixels(again[0]["image"]))


def test_interpolate_and_steer(client, gallery):
    a, b = gallery["id"].iloc[0], gallery["id"].iloc[1]
    at_a = client.predict(a, b, 0.0, api_name="/interpolate")
    at_b = client.predict(a, b, 1.0, api_name="/interpolate")
    assert not np.array_equal(pixels(at_a[0]), pixels(at_b[0])), "t=0 and t=1 decode the same face"
    assert all(isinstance(out[1], str) and Path(out[2]).exists() for out in (at_a, at_b))

    unmoved = client.predict(a, "older", 0.0, api_name="/steer")
    older = client.predict(a, "older", 2.0, api_name="/steer")
    # amount 0 decodes A's own embedding, as interpolation at t=0 does
    assert np.array_equal(pixels(unmoved[0]), pixels(at_a[0]))
    assert not np.array_equal(pixels(older[0]), pixels(unmoved[0])), "steering 'older' changed nothing"
    with pytest.raises(Exception, match="sideways"):  # not one of the dropdown's directions
        client.predict(a, "sideways", 1.0, api_name="/steer")


def test_analyze_view_names_every_output(client, files):
    """`/analyze_view` answers {component: value}; API clients still get the 16 visible outputs in order."""
    from gradio_client import handle_file

    out = client.predict(
        handle_file(files["face"]),
        files["text"],
        handle_file(files["voice"]),
        True,
        True,
        True,
        "emotion",
        "2D",
        api_name="/analyze_view",
    )
    assert len(out) == 16  # every output but the session states
    the_map, neighbours, seen, recon, from_text, from_voice, gen_text, gen_voice = out[:8]
    attrs, agreement, word, word_map, word_grid, rollout, shares, voice_attn = out[8:]
    assert "you are here" in the_map["plot"]
    assert len(neighbours) == 8
    for image in (seen, recon, from_text, from_voice, word_map, word_grid, rollout):
        assert Path(image).exists()
    assert gen_text and Path(gen_voice).exists()
    assert [row[0] for row in attrs["data"]] == list(NAMES)
    assert {row[0] for row in agreement["data"]} == {"face-text", "face-voice", "text-voice"}
    assert agreement["headers"] == ["pair", "cosine", "same person?", "verdict"]
    for _, _, probability, verdict in agreement["data"]:  # the fixture's checkpoint is calibrated
        assert 0 <= probability <= 1 and verdict == ("agree" if probability >= 0.75 else verdict)
        assert verdict in ("agree", "unsure", "disagree")
    assert word["value"] == word["choices"][0][0] and word["value"].lower() in files["text"].lower()
    assert all(p["type"] == "plotly" for p in (shares, voice_attn))


def test_a_chinese_page_is_answered_in_chinese(server, files):
    """A page showing Chinese (its X-UI-Lang header) gets the description, the tables, the map's legend
    and every refusal in Chinese; the same call without the header is answered in English."""
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    from mmdemo.synth.descriptions_zh import has_chinese

    chinese = Client(server, verbose=False, headers={"X-UI-Lang": "zh-CN"})
    view = (handle_file(files["face"]), files["text"], None, True, True, True, "emotion", "2D")
    out = chinese.predict(*view, api_name="/analyze_view")
    the_map, gen_text, attrs, agreement = out[0], out[6], out[8], out[9]
    assert has_chinese(gen_text)  # an English description, answered in the page's language
    assert attrs["headers"] == ["特征", "预测", "置信度"] and attrs["data"][0][0] == "性别"
    assert agreement["data"][0][0] == "人脸-描述" and agreement["headers"][0] == "输入对"
    assert "你在这里" in the_map["plot"] and "表情" in the_map["plot"]
    with pytest.raises(AppError, match="没有可分析的内容"):
        chinese.predict(None, "", None, True, True, True, "emotion", "2D", api_name="/analyze_view")
    fresh = Client(server, verbose=False, headers={"X-UI-Lang": "zh-CN"})  # nothing analyzed yet
    with pytest.raises(AppError, match="请先分析一个人"):
        fresh.predict(api_name="/add_to_map")
    with pytest.raises(AppError, match="nothing to analyze"):  # no header: English, as before
        Client(server, verbose=False).predict(None, "", None, api_name="/analyze")


def test_add_to_map_then_download(server, files):
    """A session's analyzed people are added to its map and come back as a Parquet file."""
    from gradio_client import Client, handle_file

    session = Client(server, verbose=False)  # a fresh session: nothing analyzed or added yet
    with pytest.raises(Exception, match="analyze someone first"):
        session.predict(api_name="/add_to_map")
    with pytest.raises(Exception, match="nothing to download yet"):
        session.predict(api_name="/download_samples")
    view = (handle_file(files["face"]), files["text"], None, True, True, True, "emotion", "2D")
    session.predict(*view, api_name="/analyze_view")
    assert session.predict(api_name="/add_to_map").startswith("1 of your samples")
    session.predict(None, "A sad old man with gray hair.", None, *view[3:], api_name="/analyze_view")
    assert session.predict(api_name="/add_to_map").startswith("2 of your samples")
    table = pd.read_parquet(session.predict(api_name="/download_samples"))
    assert list(table.columns) == ["label", "x", "y", "x3", "y3", "z3"] and len(table) == 2
    assert table[["x", "y", "x3", "y3", "z3"]].notna().all().all()
    assert table["label"].str.count(",").eq(2).all()  # "age, emotion, hair colour"
    assert table.iloc[0].to_dict() != table.iloc[1].to_dict()


def test_upload_over_the_size_limit_is_refused(client, still_serving, files):
    from gradio_client import handle_file

    with pytest.raises(Exception, match="(?i)size|large|limit"):
        client.predict(handle_file(files["too_big"]), None, None, api_name="/analyze")
    still_serving()


def test_concurrent_callers(client, server):
    """Several callers at once all get answers (the full 60 s load test is scripts/load_test.py)."""
    from concurrent.futures import ThreadPoolExecutor

    from gradio_client import Client

    def call(i):
        c = Client(server, verbose=False)
        return c.predict(None, f"A person number {i} with gray hair.", None, api_name="/analyze")[3]["inputs"]

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(call, range(8)))
    assert all(r == ["text"] for r in results)


def stream_once(server: str, api_name: str, data: list) -> list:
    """One chunk through a streaming endpoint, as the browser's webcam sends it: the raw HTTP protocol
    (gradio_client does not speak it): join, read the first streamed output, close the stream."""
    import httpx

    base = f"{server}/gradio_api"
    event_id = httpx.post(f"{base}/call/{api_name}", json={"data": data}, timeout=30).json()["event_id"]
    with httpx.stream("GET", f"{base}/call/{api_name}/{event_id}", timeout=120) as reply:
        event = None
        for line in reply.iter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event in ("generating", "complete", "error"):
                httpx.post(f"{base}/stream/{event_id}/close", timeout=30)
                assert event != "error", line
                return json.loads(line.split(":", 1)[1])
    raise AssertionError(f"{api_name} streamed nothing")


def test_live_reconstructs_a_frame(server, files):
    import httpx

    with open(files["face"], "rb") as f:
        uploaded = httpx.post(f"{server}/gradio_api/upload", files={"files": f}, timeout=30).json()[0]
    frame = {"path": uploaded, "meta": {"_type": "gradio.FileData"}}
    recon, overlay, live_map, _state, fps = stream_once(
        server, "live", [frame]
    )  # the state stays on the server
    for image in (recon, overlay):
        assert pixels(image["path"]).shape[:2] == (256, 256)
    assert "you are here" in live_map["plot"] and re.fullmatch(r"\d+\.\d frames per second", fps)


def test_the_page_reads_each_new_frame_once_and_a_still_one_twice_a_second(server, files):
    """The page's live stream: pictures inline and small, and a frame the camera has not changed is
    not read again until STILL_REREAD_S has passed (it would only delay the next new one)."""
    import gradio as gr

    from webapp.tabs.live import PAGE_PICTURE_PX, STILL_REREAD_S, live_page_step

    frame = pixels(files["face"]).astype(np.uint8)
    recon, overlay, live_map, point, state, fps = live_page_step(frame, None)
    for picture in (recon, overlay):
        head, data = picture.split(",", 1)
        assert head == "data:image/jpeg;base64"
        decoded = Image.open(io.BytesIO(base64.b64decode(data)))
        assert decoded.size == (PAGE_PICTURE_PX, PAGE_PICTURE_PX)
    assert "you are here" in str(live_map) and point["traces"] and "frames per second" in fps
    assert live_page_step(frame.copy(), state) == (gr.skip(),) * 6  # the same picture: not read again
    moved = live_page_step(np.roll(frame, 4, axis=1), state)
    assert moved[0].startswith("data:image/jpeg") and moved[0] != recon
    time.sleep(STILL_REREAD_S)
    assert live_page_step(np.roll(frame, 4, axis=1), state)[0].startswith("data:image/jpeg")  # still: read


@pytest.mark.slow
def test_reproject_reports_progress_and_moves_points(client, gallery):
    """The progress bar's updates reach an API client while UMAP runs, and the answer is a new layout.

    Gradio 6 sends `progress(...)` calls through its request context even when it did not inject the
    tracker, so this guards the feature end to end; the injection itself (`refuse` keeping the
    signature) is checked by test_refuse_keeps_the_signature_so_gradio_injects_progress."""
    job = client.submit(5, 0.1, "emotion", "2D", api_name="/reproject")
    seen = []
    while not job.done():
        status = job.status()
        if status.progress_data:
            seen += [(p.progress, p.desc) for p in status.progress_data if (p.progress, p.desc) not in seen]
        time.sleep(0.005)
    moved = plot_points(job.result())
    assert seen and seen[0][1].startswith("UMAP 2D"), f"no progress update during the fit: {seen}"
    fractions = [fraction for fraction, _ in seen]
    assert fractions == sorted(fractions) and 0 < fractions[0] and fractions[-1] <= 1, seen
    before = {r.id: (r.x2, r.y2) for r in gallery.itertuples()}
    assert set(moved) == set(before)
    ids = sorted(before)
    assert not np.allclose([moved[i] for i in ids], [before[i] for i in ids], atol=1e-3)


def test_gallery_faces_reach_the_page_as_static_files_at_one_address(server, tiny_app_checkpoint):
    """The page's neighbours are the gallery's own faces, each written once under a name made from its
    content and served as a static file: the same person is the same address (the browser keeps it),
    and nothing is copied into Gradio's cache per analysis."""
    import urllib.request

    from gradio.utils import is_static_file

    from mmdemo.inference.projection import load_gallery
    from webapp.files import GALLERY_FACES, gallery_face_file

    jpegs = load_gallery(tiny_app_checkpoint).table["face_jpeg"]
    first, again, other = (
        gallery_face_file(jpegs.iat[0]),
        gallery_face_file(jpegs.iat[0]),
        gallery_face_file(jpegs.iat[1]),
    )
    assert first == again != other and Path(first).parent == GALLERY_FACES
    assert is_static_file(first)
    want = cv2.imdecode(np.frombuffer(jpegs.iat[0], np.uint8), cv2.IMREAD_COLOR)[..., ::-1]
    with urllib.request.urlopen(f"{server}/gradio_api/file={first}") as r:
        assert r.status == 200
        shown = np.asarray(Image.open(io.BytesIO(r.read())).convert("RGB"))
    assert shown.shape == want.shape and np.abs(shown.astype(int) - want).mean() < 6  # lossy WebP
    assert not [p for p in GALLERY_FACES.iterdir() if p.name.startswith(".")]  # no half-written file left
