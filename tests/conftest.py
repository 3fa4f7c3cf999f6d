"""Shared fixtures: offline environment, the --run-slow switch, a tiny dataset."""
import os

# Before any library that might reach the internet is imported.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import pytest  # noqa: E402


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", help="also run tests marked slow")


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
    from mmdemo.datagen import generate_dataset
    return generate_dataset(tmp_path_factory.mktemp("data") / "tiny", preset="tiny", seed=0)


@pytest.fixture(scope="session")
def tiny_checkpoint(tiny_data, tmp_path_factory):
    """A checkpoint trained briefly on the tiny dataset: real weights, real files, seconds to make."""
    from mmdemo.train import train
    return train(tiny_data, tmp_path_factory.mktemp("ckpt") / "tiny", preset="tiny", steps=30,
                 device="cpu", progress=False)
