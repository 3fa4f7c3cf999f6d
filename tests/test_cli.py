"""The command line is a public contract: every subcommand answers --help, and the flags several
subcommands share are on each of them."""

import subprocess
import sys
from pathlib import Path

import pytest

from mmdemo.cli import build_parser, main

REPO = Path(__file__).resolve().parents[1]
SUBCOMMANDS = [
    "data",
    "features",
    "train",
    "train-staged",
    "fit-readers",
    "fit-lone-readers",
    "fit-face-decoder",
    "calibrate",
    "fit-chinese",
    "evaluate",
    "evaluate-real",
    "gallery",
    "embed",
    "bench",
    "live",
]
SHARED = {  # flag -> the subcommands that take it
    "--device": set(SUBCOMMANDS) - {"data", "features", "bench"},
    "--quiet": {
        "data",
        "features",
        "train",
        "train-staged",
        "fit-readers",
        "fit-lone-readers",
        "fit-face-decoder",
        "fit-chinese",
        "evaluate-real",
        "gallery",
        "embed",
        "bench",
    },
    "--checkpoint": set(SUBCOMMANDS) - {"data", "features", "train", "train-staged"},
}


def subparsers() -> dict:
    return build_parser()._subparsers._group_actions[0].choices


def test_python_m_mmdemo_help_lists_every_subcommand():
    run = subprocess.run(
        [sys.executable, "-m", "mmdemo", "--help"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    for name in SUBCOMMANDS:
        assert name in run.stdout


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_each_subcommand_answers_help(name, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([name, "--help"])
    assert exit_.value.code == 0
    assert f"python -m mmdemo {name}" in capsys.readouterr().out


def test_subcommands_are_exactly_the_documented_ones():
    assert list(subparsers()) == SUBCOMMANDS


@pytest.mark.parametrize("flag", sorted(SHARED))
def test_shared_flags_are_on_the_subcommands_that_take_them(flag):
    having = {name for name, p in subparsers().items() if flag in p._option_string_actions}
    assert having == SHARED[flag]


def test_shared_flag_defaults():
    parsers = subparsers()
    for name in SHARED["--device"]:
        assert parsers[name].get_default("device") == "auto"
    for name in SHARED["--quiet"]:
        assert parsers[name].get_default("quiet") is False
    for name in ("fit-readers", "fit-lone-readers", "calibrate", "evaluate", "gallery", "embed"):
        assert parsers[name]._option_string_actions["--checkpoint"].required


def test_bench_and_live_default_to_the_bundled_checkpoint(monkeypatch):
    import mmdemo.cli as cli
    from mmdemo.runtime import DEFAULT_CHECKPOINT

    seen = {}

    def recorder(name):
        def command(args):
            seen[name] = args.checkpoint
            return 0

        return command

    monkeypatch.setattr(cli, "cmd_bench", recorder("bench"))
    monkeypatch.setattr(cli, "cmd_live", recorder("live"))
    monkeypatch.setattr(cli, "cmd_evaluate_real", recorder("evaluate-real"))
    assert main(["bench"]) == 0 and main(["live", "--headless"]) == 0
    assert main(["evaluate-real", "--data", "somewhere"]) == 0
    assert seen == {
        "bench": DEFAULT_CHECKPOINT,
        "live": DEFAULT_CHECKPOINT,
        "evaluate-real": DEFAULT_CHECKPOINT,
    }
    assert DEFAULT_CHECKPOINT.is_absolute()


def test_main_returns_the_exit_status_of_a_refused_command(tmp_path, capsys):
    status = main(["data", "--out", str(tmp_path / "d"), "--count", "-1", "--quiet"])
    assert status == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_refitting_readers_of_a_checkpoint_without_them_is_refused_and_changes_nothing(
    tiny_checkpoint, tiny_data, capsys
):
    weights = (tiny_checkpoint / "model.safetensors").read_bytes()
    status = main(["fit-readers", "--checkpoint", str(tiny_checkpoint), "--data", str(tiny_data), "--quiet"])
    assert status == 2
    assert "--real-features" in capsys.readouterr().err
    assert (tiny_checkpoint / "model.safetensors").read_bytes() == weights
    assert not (tiny_checkpoint / "readers.json").exists()
