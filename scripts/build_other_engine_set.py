"""Builds the Festival voice set the voice readers learn another engine from (`mmdemo.data.other_engine`).

    apt-get install festival festvox-italp16k festvox-itapc16k festvox-czech-dita festvox-czech-machac \
        festvox-czech-ph festvox-ca-ona-hts festvox-suopuhe-lj festvox-suopuhe-mv festvox-kdlpc16k festvox-ru
    python scripts/build_other_engine_set.py --out data/festival
    python -m mmdemo features --data data/festival

Every installed voice but the held-out check's reads the synthetic voices' sentences at three speaking
rates (750 clips from the ten voices, ~3.5 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing

from tqdm import tqdm  # noqa: E402

from mmdemo.data.other_engine import FESTIVAL_VOICES, build_festival_set  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("data/festival"))
    voices = sorted(FESTIVAL_VOICES)
    parser.add_argument("--leave-out", nargs="+", default=[], choices=voices, help="voices to skip")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing folder at --out")
    args = parser.parse_args(argv)
    with tqdm(desc="festival clips", unit="clip") as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        try:
            out = build_festival_set(
                args.out, leave_out=args.leave_out, overwrite=args.overwrite, progress=progress
            )
        except ValueError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
