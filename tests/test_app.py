"""The real app over HTTP with gradio_client: every endpoint, an upload over the size limit, concurrent
callers. Runs on a tiny checkpoint with a PCA-laid gallery; every bad input is in test_bad_input.py."""

from pathlib import Path

import cv2
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


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


def test_analyze_all_three(client, files):
    from gradio_client import handle_file

    face, text, voice, summary = client.predict(
        handle_file(files["face"]), files["text"], handle_file(files["voice"]), api_name="/analyze"
    )
    assert Path(face).exists() and Path(voice).exists() and isinstance(text, str)
    assert summary["inputs"] == ["image", "text", "voice"]
    assert set(summary["map"]) == {"fused", "image", "text", "voice"}
    assert abs(sum(summary["modality_share"].values()) - 1) < 1e-4


def test_every_endpoint(client, files, tiny_app_checkpoint):
    import pandas as pd
    from gradio_client import handle_file

    api = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    for name in (
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
    ):
        assert name in api, name
    gallery = pd.read_parquet(tiny_app_checkpoint / "gallery" / "gallery.parquet")
    a, b = gallery["id"].iloc[0], gallery["id"].iloc[1]
    face, text, voice, pid = client.predict(a, api_name="/person")
    assert text == gallery["description"].iloc[0] and Path(voice).exists()
    sampled, first_text, first_voice = client.predict(3, api_name="/sample")
    assert len(sampled) == 4 and isinstance(first_text, str)
    assert isinstance(client.predict(a, b, 0.5, api_name="/interpolate")[1], str)
    assert isinstance(client.predict(a, "older", 1.0, api_name="/steer")[1], str)
    out = client.predict(
        handle_file(files["face"]),
        files["text"],
        handle_file(files["voice"]),
        True,
        True,
        True,
        "emotion",
        "2D",
        [],
        api_name="/analyze_view",
    )
    assert len(out) == 16 and out[6]  # every output but the session state; [6] = generated description


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
