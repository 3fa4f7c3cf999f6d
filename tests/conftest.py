"""Shared fixtures: offline environment, the --run-slow switch, a tiny dataset and checkpoint,
the real app served over HTTP."""

import os
import sys
from pathlib import Path

# Before any library that might reach the internet is imported.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import pytest  # noqa: E402

from mmdemo.evaluation.app_process import free_port  # noqa: E402


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", help="also run tests marked slow")
    parser.addoption(
        "--load-seconds",
        type=float,
        default=20.0,
        help="length of the 16-caller load test (CI: 20; the full test: 120)",
    )


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes more than a few seconds; run with --run-slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow: pass --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """The tiny preset, generated once per test session (seed 0)."""
    from mmdemo.synth.generator import generate_dataset

    return generate_dataset(tmp_path_factory.mktemp("data") / "tiny", preset="tiny", seed=0)


@pytest.fixture(scope="session")
def tiny_checkpoint(tiny_data, tmp_path_factory):
    """A checkpoint trained briefly on the tiny dataset: real weights, real files, seconds to make."""
    from mmdemo.training.loop import train

    return train(
        tiny_data,
        tmp_path_factory.mktemp("ckpt") / "tiny",
        preset="tiny",
        steps=30,
        device="cpu",
        progress=False,
    )


# ------------------------------------------------------------------ the app over HTTP
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def tiny_app_checkpoint(tiny_checkpoint, tiny_data):
    """The tiny checkpoint with a PCA-laid gallery, as the app needs, calibrated as `train` leaves it."""
    from mmdemo.evaluation.calibrate import calibrate_checkpoint
    from mmdemo.inference.projection import build_gallery

    build_gallery(tiny_checkpoint, tiny_data, people=120, device="cpu", layout="pca")
    calibrate_checkpoint(tiny_checkpoint, [tiny_data], device="cpu")
    return tiny_checkpoint


@pytest.fixture(scope="module")
def server(tiny_app_checkpoint):
    """app.py's demo on a free local port, uploads limited to 12 MB."""
    sys.path.insert(0, str(REPO))  # app.py lives beside the package, not in it
    import app

    app.RUNTIME.configure(tiny_app_checkpoint, "cpu")
    port = free_port()
    app.demo.queue(default_concurrency_limit=2)
    app.demo.launch(
        server_name="127.0.0.1",
        server_port=port,
        prevent_thread_lock=True,
        quiet=True,
        max_file_size="12mb",
        **app.PAGE,
    )
    yield f"http://127.0.0.1:{port}"
    app.demo.close()


@pytest.fixture(scope="module")
def client(server):
    from gradio_client import Client

    return Client(server, verbose=False)


@pytest.fixture(scope="module")
def still_serving(client):
    """A check to call after a bad request: the server still answers a normal one."""

    def check():
        _, text, _, summary = client.predict(
            None, "A happy young woman with red hair.", None, api_name="/analyze"
        )
        assert summary["inputs"] == ["text"] and isinstance(text, str)

    return check
