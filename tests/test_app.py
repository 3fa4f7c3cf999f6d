"""The real app over HTTP with gradio_client: every endpoint, every bad input, and the
server still answering afterwards. Runs on a tiny checkpoint with a PCA-laid gallery."""
import os
import socket
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def tiny_app_checkpoint(tiny_checkpoint, tiny_data):
    from mmdemo.projection import build_gallery
    build_gallery(tiny_checkpoint, tiny_data, people=120, device="cpu", layout="pca")
    return tiny_checkpoint


@pytest.fixture(scope="module")
def server(tiny_app_checkpoint):
    import app
    app.RUNTIME.configure(tiny_app_checkpoint, "cpu")
    port = _free_port()
    app.demo.queue(default_concurrency_limit=2)
    app.demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                    max_file_size="12mb")
    yield f"http://127.0.0.1:{port}"
    app.demo.close()


@pytest.fixture(scope="module")
def client(server):
    from gradio_client import Client
    return Client(server, verbose=False)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("uploads")
    ex = REPO / "assets" / "examples"
    out = {"face": ex / "person2.png", "voice": ex / "person2.wav", "text": (ex / "person2.txt").read_text()}
    (d / "not_an_image.png").write_text("this is not a picture")
    out["not_image"] = d / "not_an_image.png"
    png = (ex / "person2.png").read_bytes()
    (d / "corrupt.png").write_bytes(png[:200] + b"\x00" * 300)
    out["corrupt"] = d / "corrupt.png"
    cv2.imwrite(str(d / "huge.png"), np.full((10000, 10000, 3), 200, np.uint8))
    out["huge"] = d / "huge.png"
    cv2.imwrite(str(d / "noface.png"), np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8))
    out["noface"] = d / "noface.png"
    sf.write(d / "silent.wav", np.zeros(32000, np.float32), 16000)
    out["silent"] = d / "silent.wav"
    wave, sr = sf.read(ex / "person2.wav")
    sf.write(d / "five_minutes.wav", np.tile(wave, int(300 * sr / len(wave)) + 1)[: 300 * sr], sr, subtype="PCM_16")
    out["long"] = d / "five_minutes.wav"
    cv2.imwrite(str(d / "big.png"), np.random.default_rng(1).integers(0, 255, (2100, 2100, 3), dtype=np.uint8))
    out["too_big"] = d / "big.png"   # ~13 MB of noise: over the 12 MB limit of this test server
    return out


def _alive(client):
    """The server still answers a normal request."""
    _, text, _, summary = client.predict(None, "A happy young woman with red hair.", None, api_name="/analyze")
    assert summary["inputs"] == ["text"] and isinstance(text, str)


def test_analyze_all_three(client, files):
    from gradio_client import handle_file
    face, text, voice, summary = client.predict(handle_file(files["face"]), files["text"], handle_file(files["voice"]),
                                                api_name="/analyze")
    assert Path(face).exists() and Path(voice).exists() and isinstance(text, str)
    assert summary["inputs"] == ["image", "text", "voice"]
    assert set(summary["map"]) == {"fused", "image", "text", "voice"}
    assert abs(sum(summary["modality_share"].values()) - 1) < 1e-4


def test_every_endpoint(client, files, tiny_app_checkpoint):
    from gradio_client import handle_file
    import pandas as pd
    api = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    for name in ("/analyze", "/analyze_view", "/sample", "/person", "/interpolate", "/steer", "/reproject",
                 "/add_to_map", "/download_samples", "/live"):
        assert name in api, name
    gallery = pd.read_parquet(tiny_app_checkpoint / "gallery" / "gallery.parquet")
    a, b = gallery["id"].iloc[0], gallery["id"].iloc[1]
    face, text, voice, pid = client.predict(a, api_name="/person")
    assert text == gallery["description"].iloc[0] and Path(voice).exists()
    sampled, first_text, first_voice = client.predict(3, api_name="/sample")
    assert len(sampled) == 4 and isinstance(first_text, str)
    assert isinstance(client.predict(a, b, 0.5, api_name="/interpolate")[1], str)
    assert isinstance(client.predict(a, "older", 1.0, api_name="/steer")[1], str)
    out = client.predict(handle_file(files["face"]), files["text"], handle_file(files["voice"]), True, True, True,
                         "emotion", "2D", [], api_name="/analyze_view")
    assert len(out) == 16 and out[6]   # every output but the session state; [6] = generated description


@pytest.mark.parametrize("kind, inputs, message", [
    ("non-image file", ("not_image", None, None), "not a readable image"),
    ("corrupt PNG", ("corrupt", None, None), "not a readable image"),
    ("10000x10000 image", ("huge", None, None), "megapixels"),
    ("silent audio", (None, None, "silent"), "no voice detected"),
    ("nothing at all", (None, None, None), "nothing to analyze"),
])
def test_bad_input_gets_a_clear_message_and_the_server_keeps_serving(client, files, kind, inputs, message):
    from gradio_client import handle_file
    args = [handle_file(files[v]) if v else None for v in inputs]
    with pytest.raises(Exception, match=message):
        client.predict(*args, api_name="/analyze")
    _alive(client)


@pytest.mark.parametrize("kind, inputs, warning", [
    ("photo with no face", ("noface", None, None), "no face was found"),
    ("5-minute recording", (None, None, "long"), "longer than 30 s"),
])
def test_odd_input_is_analyzed_with_a_warning(client, files, kind, inputs, warning):
    from gradio_client import handle_file
    args = [handle_file(files[v]) if v else None for v in inputs]
    *_, summary = client.predict(*args, api_name="/analyze")
    assert any(warning in w for w in summary["warnings"])
    _alive(client)


def test_long_and_hostile_descriptions(client):
    *_, summary = client.predict(None, "a calm man with glasses " * 220, None, api_name="/analyze")
    assert any("longer than 1000 characters" in w for w in summary["warnings"])
    hostile = '<script>alert("x")</script><img src=x onerror=alert(1)> A sad woman; DROP TABLE people;--'
    _, text, _, summary = client.predict(None, hostile, None, api_name="/analyze")
    assert summary["inputs"] == ["text"]
    _alive(client)


def test_upload_over_the_size_limit_is_refused(client, files):
    from gradio_client import handle_file
    with pytest.raises(Exception, match="(?i)size|large|limit"):
        client.predict(handle_file(files["too_big"]), None, None, api_name="/analyze")
    _alive(client)


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
