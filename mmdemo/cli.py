"""The `python -m mmdemo` command line: one subcommand per job.

Each subcommand imports its implementation only when it runs, so `--help`
and the cheap commands start fast. A ValueError from the library becomes one
clear line on stderr and exit status 2, never a traceback.
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path


def _folder_size_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def cmd_data(args: argparse.Namespace) -> int:
    from tqdm import tqdm
    from .datagen import PRESETS, generate_dataset

    total = args.count or PRESETS.get(args.preset, 0)
    start = time.perf_counter()
    with tqdm(total=total, unit="sample", desc=f"data {args.preset}", disable=args.quiet) as bar:
        def progress(done: int, _total: int) -> None:
            bar.update(done - bar.n)
        out = generate_dataset(args.out, preset=args.preset, count=args.count, seed=args.seed,
                               overwrite=args.overwrite, workers=args.workers, progress=progress)
    seconds = time.perf_counter() - start
    print(f"wrote {total} samples to {out} in {seconds:.1f} s ({_folder_size_mb(out):.0f} MB)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mmdemo",
                                     description="Face, words and voice in one learned space.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("data", help="generate the synthetic face/text/voice dataset")
    p.add_argument("--preset", choices=["tiny", "default"], default="tiny",
                   help="tiny: ~300 samples for tests; default: 20,000 samples")
    p.add_argument("--out", required=True, type=Path, help="folder to create")
    p.add_argument("--seed", type=int, default=0, help="same seed, byte-identical output")
    p.add_argument("--count", type=int, default=None, help="number of samples (overrides the preset)")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_data)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except ValueError as e:  # bad input: one clear line, no traceback
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
