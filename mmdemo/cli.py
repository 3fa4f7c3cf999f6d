"""The `python -m mmdemo` command line: one subcommand per job, its flags declared here and what it
does in `commands.py` (which imports each implementation only when it runs, so `--help` and the cheap
commands start fast). A ValueError from the library becomes one
clear line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from mmdemo.commands import (  # noqa: F401  (the parser binds them; tests replace them here)
    cmd_bench,
    cmd_calibrate,
    cmd_data,
    cmd_embed,
    cmd_evaluate,
    cmd_evaluate_real,
    cmd_features,
    cmd_fit_chinese,
    cmd_fit_face_decoder,
    cmd_fit_lone_readers,
    cmd_fit_readers,
    cmd_gallery,
    cmd_live,
    cmd_train,
    cmd_train_staged,
)
from mmdemo.runtime import DEFAULT_CHECKPOINT, usable_cores  # torch-free: `--help` answers at once


def _parent(flag: str, **options) -> argparse.ArgumentParser:
    """A flag shared by several subcommands, declared once, as an argparse parent parser."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(flag, **options)
    return parent


DEVICE = _parent("--device", default="auto", help="auto (GPU when there is one), cpu or cuda")
QUIET = _parent("--quiet", action="store_true", help="no progress output")
CHECKPOINT = _parent(
    "--checkpoint", required=True, type=Path, help="checkpoint folder (config.json and model.safetensors)"
)
BUNDLED_CHECKPOINT = _parent(
    "--checkpoint", type=Path, default=DEFAULT_CHECKPOINT, help="checkpoint folder (default: the bundled one)"
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mmdemo", description="Face, words and voice in one learned space."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (
        _add_data,
        _add_features,
        _add_train,
        _add_train_staged,
        _add_fit_readers,
        _add_fit_lone_readers,
        _add_fit_face_decoder,
        _add_calibrate,
        _add_fit_chinese,
        _add_evaluate,
        _add_evaluate_real,
        _add_gallery,
        _add_embed,
        _add_bench,
        _add_live,
    ):
        add(sub)
    return parser


def _add_data(sub) -> None:
    p = sub.add_parser("data", parents=[QUIET], help="generate the synthetic face/text/voice dataset")
    p.add_argument(
        "--preset",
        choices=["tiny", "default"],
        default="tiny",
        help="tiny: ~300 samples for tests; default: 20,000 samples",
    )
    p.add_argument("--out", required=True, type=Path, help="folder to create")
    p.add_argument("--seed", type=int, default=0, help="same seed, byte-identical output")
    p.add_argument("--count", type=int, default=None, help="number of samples (overrides the preset)")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    help_ = "descriptions in English, Chinese, or each sample's at random (the model reads English only)"
    p.add_argument("--lang", choices=["en", "zh", "both"], default="en", help=help_)
    p.set_defaults(func=cmd_data)


def _add_features(sub) -> None:
    p = sub.add_parser(
        "features",
        parents=[QUIET],
        help="cache the frozen real-world face and speaker features of dataset folders (train does it too)",
    )
    p.add_argument("--data", required=True, type=Path, nargs="+", help="dataset folders")
    p.add_argument("--workers", type=int, default=usable_cores(), help="processes")
    p.set_defaults(func=cmd_features)


def _add_train(sub) -> None:
    p = sub.add_parser("train", parents=[DEVICE, QUIET], help="train the fusion autoencoder")
    p.add_argument(
        "--data",
        required=True,
        type=Path,
        nargs="+",
        help="dataset folder(s) (metadata.csv or CelebA layout); several are trained on together",
    )
    p.add_argument("--preset", choices=["tiny", "default"], default="tiny")
    p.add_argument("--out", required=True, type=Path, help="checkpoint folder to write")
    p.add_argument("--gan", action="store_true", help="add the PatchGAN hinge loss on faces")
    p.add_argument(
        "--resume", action="store_true", help="continue from the newest complete checkpoint in --out"
    )
    p.add_argument("--steps", type=int, default=None, help="override the preset's number of steps")
    p.add_argument(
        "--init",
        type=Path,
        default=None,
        help="fine-tune from this checkpoint (e.g. checkpoints/default) instead of starting afresh",
    )
    p.add_argument(
        "--real-features",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="read faces and voices with the frozen real-world extractors too, for real people (default: "
        "off for a fresh run; a checkpoint given to --init that has them keeps them)",
    )
    p.add_argument(
        "--critic",
        type=float,
        default=None,
        help="weight of the face critic's loss on faces generated from a description or a voice (0: off)",
    )
    p.add_argument(
        "--private-dim",
        type=int,
        default=None,
        help="width of the face's private latent, the detail the shared one leaves out (0: none; with "
        "--init it is added to a checkpoint that has none)",
    )
    p.add_argument(
        "--face-decoder-steps",
        type=int,
        default=None,
        help="after the last step, fit the face decoder on the frozen latents for this many batches "
        "(fit-face-decoder; default: the preset's, 2500 for default, 0 for tiny; 0: none)",
    )
    p.set_defaults(func=cmd_train)


def _add_train_staged(sub) -> None:
    help_ = (
        "train as the bundled checkpoint was: synthetic people, then a fine-tune with real ones, then fits"
    )
    p = sub.add_parser("train-staged", parents=[DEVICE, QUIET], help=help_)
    help_ = "synthetic folder(s): the first stage's steps and the calibration"
    p.add_argument("--data", required=True, type=Path, nargs="+", help=help_)
    help_ = "folders of the fine-tune, the readers and the face decoder (synthetic and real together)"
    p.add_argument("--fine-tune-data", required=True, type=Path, nargs="+", help=help_)
    p.add_argument("--preset", choices=["tiny", "default"], default="default")
    p.add_argument("--out", required=True, type=Path, help="checkpoint folder to write")
    p.add_argument("--steps", type=int, default=None, help="first stage's steps (default: the preset's)")
    p.add_argument("--fine-tune-steps", type=int, default=700, help="the fine-tune's steps")
    help_ = "continue a staged run in --out: skip the stages it finished, continue the steps of the next"
    p.add_argument("--resume", action="store_true", help=help_)
    help_ = "batches of the face decoder's fit (default: the preset's)"
    p.add_argument("--face-decoder-steps", type=int, default=None, help=help_)
    help_ = "passes of the pixel reader's fit over the training faces (default: 6)"
    p.add_argument("--pixel-epochs", type=int, default=None, help=help_)
    p.set_defaults(func=cmd_train_staged)


def _add_fit_readers(sub) -> None:
    help_ = "re-solve a checkpoint's attribute readers on its frozen-feature data (train does it last)"
    p = sub.add_parser("fit-readers", parents=[CHECKPOINT, DEVICE, QUIET], help=help_)
    p.add_argument("--data", required=True, type=Path, nargs="+", help="folders: fit on train, choose on val")
    p.add_argument("--l2", type=float, default=None, help="the L2 penalty (default: chosen on val)")
    p.add_argument("--add-pixel-reader", dest="pixel_reader", action="store_true", help="add a pixel reader")
    help_ = "add gates on how far the latent's reading of a lone face or voice is trusted (fitted too)"
    p.add_argument("--add-latent-gates", dest="latent_gates", action="store_true", help=help_)
    help_ = "weigh rows by their attribute value only, not each dataset alike within a value"
    p.add_argument("--no-source-balance", dest="balance_sources", action="store_false", help=help_)
    help_ = "refit only these modalities' readers (default: all); --only voice reads no face"
    p.add_argument("--only", nargs="+", choices=["image", "voice"], default=None, help=help_)
    p.set_defaults(func=cmd_fit_readers)


def _add_fit_lone_readers(sub) -> None:
    help_ = (
        "fit a checkpoint's lone readers, how each input alone is read (train does it last); "
        "recalibrates a calibrated checkpoint"
    )
    p = sub.add_parser("fit-lone-readers", parents=[CHECKPOINT, DEVICE, QUIET], help=help_)
    p.add_argument("--data", required=True, type=Path, nargs="+", help="folders: fit on train, choose on val")
    p.set_defaults(func=cmd_fit_lone_readers)


def _add_fit_face_decoder(sub) -> None:
    help_ = "fit a checkpoint's face decoder and private face latent on its frozen latents"
    p = sub.add_parser("fit-face-decoder", parents=[CHECKPOINT, DEVICE, QUIET], help=help_)
    p.add_argument("--data", required=True, type=Path, nargs="+", help="folders: fit on train, score on val")
    p.add_argument("--steps", type=int, default=2500, help="batches of 64 faces")
    p.add_argument("--private-dim", type=int, default=32, help="width of the face's private latent")
    p.set_defaults(func=cmd_fit_face_decoder)


def _add_calibrate(sub) -> None:
    help_ = "fit where new people are sampled from and how likely two inputs are one person (train does it)"
    p = sub.add_parser("calibrate", parents=[CHECKPOINT, DEVICE], help=help_)
    help_ = "folders it trained on: the mixture is fitted on train, the curves on val"
    p.add_argument("--data", required=True, type=Path, nargs="+", help=help_)
    p.set_defaults(func=cmd_calibrate)


def _add_fit_chinese(sub) -> None:
    help_ = "teach a checkpoint to read Chinese descriptions (an encoder distilled from its English reading)"
    p = sub.add_parser("fit-chinese", parents=[CHECKPOINT, DEVICE, QUIET], help=help_)
    p.add_argument("--pairs", type=int, default=20000, help="English/Chinese description pairs to learn from")
    p.add_argument("--epochs", type=int, default=8, help="passes (the best on held-out pairs is kept)")
    p.set_defaults(func=cmd_fit_chinese)


def _add_evaluate(sub) -> None:
    p = sub.add_parser(
        "evaluate", parents=[CHECKPOINT, DEVICE], help="measure a checkpoint on a dataset split"
    )
    p.add_argument("--data", required=True, type=Path)
    p.add_argument("--split", choices=["test", "val", "train", "all"], default="test")
    p.add_argument("--json", type=Path, default=None, help="also write the metrics here")
    p.add_argument("--limit", type=int, default=None, help="evaluate at most this many samples")
    p.add_argument(
        "--train-evaluator-on-data",
        action="store_true",
        help="if the model's training data is gone, train the evaluator on --data's train split",
    )
    p.set_defaults(func=cmd_evaluate)


def _add_evaluate_real(sub) -> None:
    p = sub.add_parser(
        "evaluate-real",
        parents=[BUNDLED_CHECKPOINT, DEVICE, QUIET],
        help="how well a checkpoint reads real faces and voices (a real set from scripts/build_real_set.py)",
    )
    p.add_argument("--data", required=True, type=Path, help="the real set's folder")
    p.add_argument("--split", choices=["val", "train", "all"], default="val")
    p.add_argument("--per-source", type=int, default=None, help="at most this many files per source")
    p.add_argument(
        "--only", choices=["image", "voice"], default=None, help="only the faces or only the voices"
    )
    p.add_argument("--json", type=Path, default=None, help="also write the metrics here")
    p.set_defaults(func=cmd_evaluate_real)


def _add_gallery(sub) -> None:
    p = sub.add_parser(
        "gallery",
        parents=[CHECKPOINT, DEVICE, QUIET],
        help="embed held-out people and lay out the map (UMAP) for the app",
    )
    p.add_argument("--data", required=True, type=Path, help="people the model did not train on")
    p.add_argument("--people", type=int, default=2500)
    p.add_argument(
        "--features",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="read faces and voices with the frozen extractors, as analyze does, computing what the "
        "folder's features cache lacks first (--no-features: as the live view does, without them: a "
        "quick first map of a very large folder)",
    )
    p.add_argument("--n-neighbors", type=int, default=15)
    p.add_argument("--min-dist", type=float, default=0.1)
    p.add_argument("--layout", choices=["umap", "pca"], default="umap", help="pca: a fast linear preview")
    p.add_argument(
        "--fit-sample", type=int, help="fit UMAP on at most this many people, place the rest (20000)"
    )
    p.set_defaults(func=cmd_gallery)


def _add_embed(sub) -> None:
    p = sub.add_parser(
        "embed",
        parents=[CHECKPOINT, DEVICE, QUIET],
        help="write embeddings (every sample x input subset) to Parquet and the Embedding Projector",
    )
    p.add_argument(
        "--data", required=True, type=Path, help="dataset folder, CelebA folder or a plain folder of images"
    )
    p.add_argument("--out", required=True, type=Path, help="FILE.parquet to write")
    p.add_argument(
        "--projector",
        type=Path,
        default=None,
        help="also write TensorFlow Embedding Projector files (vectors.tsv, metadata.tsv, sprite) here",
    )
    p.add_argument("--split", choices=["train", "val", "test", "all"], default="all")
    p.add_argument("--limit", type=int, default=None, help="embed at most this many samples")
    p.set_defaults(func=cmd_embed)


def _add_bench(sub) -> None:
    p = sub.add_parser(
        "bench",
        parents=[BUNDLED_CHECKPOINT, QUIET],
        help="measure startup, latency, placement, map, live and training speed here",
    )
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    p.add_argument("--runs", type=int, default=30, help="timed repetitions per latency figure")
    p.add_argument("--startup-runs", type=int, default=3, help="fresh processes per startup figure")
    p.add_argument("--skip-startup", action="store_true", help="leave out the fresh-process startup figures")
    p.add_argument(
        "--data",
        type=Path,
        default=None,
        help="held-out people (a dataset's test split) to place on the map; default: the bundled examples",
    )
    p.add_argument("--profile", action="store_true", help="print where one analyze spends its time instead")
    p.set_defaults(func=cmd_bench)


def _add_live(sub) -> None:
    p = sub.add_parser(
        "live",
        parents=[BUNDLED_CHECKPOINT, DEVICE],
        help="live window: camera face, reconstruction, attention and a moving map point",
    )
    source = p.add_mutually_exclusive_group()
    source.add_argument("--camera", type=int, default=0, help="camera index (default 0)")
    source.add_argument("--source", type=Path, default=None, help="a video file instead of the camera")
    p.add_argument(
        "--headless", action="store_true", help="no window: write the composed frames to --out as PNGs"
    )
    p.add_argument(
        "--frames", type=int, default=None, help="stop after N frames (default: end of video or q)"
    )
    p.add_argument("--out", type=Path, default=Path("."), help="folder for headless frames and s snapshots")
    p.add_argument("--colour-by", default="emotion", help="attribute that colours the map")
    p.set_defaults(func=cmd_live)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return args.func(args)
    except ValueError as e:  # bad input: one clear line, no traceback
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
