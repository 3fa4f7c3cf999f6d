"""`python -m mmdemo gallery` over 200,000 people, end to end, timed on this machine.

    python scripts/bench_gallery_200k.py --data data/default --copies 10 --nproc 2 \
        --json docs/gallery-200k-cpu2.json
    python scripts/bench_gallery_200k.py --features cached --json docs/gallery-200k-cached-cpu2.json

No 200,000-person dataset exists here, so one is made of `--copies` copies of `--data` (every sample
becomes a person of its own: `--data`'s 20,000 samples x 10): a metadata.csv whose rows point, through
links, at `--data`'s own images and clips, so nothing is copied. Each copy of a person costs the model
exactly what the original does; what the copies do not show is a cold disk (the files are read from
the page cache after the first copy) or a dataset's real spread of people on the map. The command
runs under torchrun with `--nproc` processes (1: plain `python -m mmdemo`), on a copy of the bundled
checkpoint, and the JSON records its wall time, its own reported time and its stages' progress.

--features: "none" runs `gallery --no-features`; "cached" reads the frozen extractors' features (as
analyze does) from the folder's cache, which gets `--data`'s own cache rows under the copies' ids (the
same files, so the same content keys): what a second gallery of a folder costs, or the first of a
folder whose features `train --real-features` or `python -m mmdemo features` already cached. Computing
them is timed by `python -m mmdemo features --data DATA --workers 2` on `--data` itself.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mmdemo.runtime import DEFAULT_CHECKPOINT, offline_env  # noqa: E402


def copied_dataset(source: Path, copies: int, folder: Path) -> int:
    """`copies` copies of `source`'s samples in `folder`, each sample a person; returns the row count."""
    meta = pd.read_csv(source / "metadata.csv", dtype=str, keep_default_na=False)
    for sub in {Path(p).parts[0] for p in pd.concat([meta["image"], meta["audio"]]) if p}:
        (folder / sub).symlink_to((source / sub).resolve(), target_is_directory=True)
    rows = [meta.assign(id=f"{c}_" + meta["id"], person_id=f"c{c}_" + meta["id"]) for c in range(copies)]
    pd.concat(rows).to_csv(folder / "metadata.csv", index=False)
    return len(meta) * copies


def copied_feature_cache(source: Path, copies: int, folder: Path) -> None:
    """`folder`'s feature caches: every row of `source`'s under each copy's id (same files, same keys)."""
    from mmdemo.data.features import KINDS, FeatureTable
    from mmdemo.data.loaders import open_samples

    ids = [s.id for s in open_samples(source, "all")]
    for kind in KINDS:
        own, copy = FeatureTable(source, kind), FeatureTable(folder, kind)
        missing = [i for i in ids if i not in own.rows or (kind == "face" and i not in own.framing)]
        if missing:
            sys.exit(
                f"{source} lacks {len(missing)} cached {kind} features: run python -m mmdemo features "
                f"--data {source} first"
            )
        for c in range(copies):
            copy.rows.update({f"{c}_{i}": own.rows[i] for i in ids})
            copy.framing.update({f"{c}_{i}": own.framing[i] for i in ids if i in own.framing})
        copy.save()


def main(argv=None) -> None:
    env = offline_env(dict(os.environ))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    ap.add_argument("--data", type=Path, default=REPO / "data" / "default")
    ap.add_argument("--copies", type=int, default=10)
    ap.add_argument("--nproc", type=int, default=2)
    ap.add_argument("--features", choices=["none", "cached"], default="none")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        data, ckpt = Path(tmp) / "data", Path(tmp) / "checkpoint"
        data.mkdir()
        people = copied_dataset(args.data, args.copies, data)
        if args.features == "cached":
            copied_feature_cache(args.data, args.copies, data)
        shutil.copytree(args.checkpoint, ckpt)
        launcher = ["torchrun", "--nproc_per_node", str(args.nproc)] if args.nproc > 1 else [sys.executable]
        cmd = [*launcher, "-m", "mmdemo", "gallery", "--checkpoint", str(ckpt), "--data", str(data)]
        cmd += ["--people", str(people)] + (["--no-features"] if args.features == "none" else [])
        print(" ".join(cmd), flush=True)
        start = time.perf_counter()
        done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - start
        log = done.stdout + done.stderr
        if done.returncode:
            sys.exit(f"gallery failed ({done.returncode}):\n{log[-3000:]}")
        layout = json.loads((ckpt / "gallery" / "layout.json").read_text())
        reported = re.search(r"gallery in \S+ \((\d+) s\)", log)
        bars = {}
        for name in ("embed", "place"):  # the last state of each progress bar: elapsed and rate
            last = re.findall(rf"{name}: 100%.*?\[(\d+:\d+)<.*?,\s*([\d.]+)\s*\w+/s\]", log)
            if last:
                bars[name] = {"elapsed": last[-1][0], "per_s_per_process": float(last[-1][1])}
        out = {
            "people": layout["people"],
            "processes": args.nproc,
            "cpus": os.cpu_count(),
            "wall_s": round(wall, 1),
            "wall_min": round(wall / 60, 2),
            "reported_s": int(reported.group(1)) if reported else None,
            "progress": bars,
            "fit_sample": layout.get("fit_sample"),
            "features": layout["features"],
            "peak_rss_mb_largest_process": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
            "command": " ".join(cmd).replace(tmp, "TMP"),
        }
    print(json.dumps(out, indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
