"""How a checkpoint reads the sex of voices from a speech engine other than eSpeak: Festival's voices.

The model's synthetic voices are eSpeak NG's. Festival is another engine (diphone, clustergen and HTS
voices of recorded speakers). Its `kal` and `slt` voices, and flite (the same speakers), are reserved
for the project's independent held-out check and are refused here; the other voices Debian packages
are fair to measure on (`mmdemo.data.other_engine`):

    apt-get install festival festvox-italp16k festvox-itapc16k festvox-czech-dita festvox-czech-machac \
        festvox-czech-ph festvox-ca-ona-hts festvox-suopuhe-lj festvox-suopuhe-mv festvox-kdlpc16k festvox-ru
    python scripts/check_other_engine.py --checkpoint checkpoints/default --json other-engine.json

Each installed voice reads the same eight English sentences (a Czech or Finnish voice reads them with
its own language's rules: the speaker is what is measured, not the words), none of them a sentence the
voice set for training reads; each clip is analysed alone through the public API. Reports each voice's
share read as its speaker's sex and the balanced accuracy (the mean of women's and men's recall).

The bundled checkpoint's voice readers learn from Festival's voices too (`data/festival`, built by
`scripts/build_other_engine_set.py`), so reading them with it measures nothing new. `--leave-one-out`
measures what it would do with a voice it never heard: for each voice, a copy of the checkpoint has its
voice readers refitted as the bundled ones were but on the Festival set without that voice, and reads
that voice alone (one refit a voice; ~3.5 minutes each on 2 cores):

    python scripts/check_other_engine.py --leave-one-out --festival-set data/festival \
        --data data/synth6k data/real --json other-engine-loo.json
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mmdemo.data.other_engine import FESTIVAL_PACKAGES, FESTIVAL_VOICES, installed_voices, synthesise  # noqa: E402

SENTENCES = [
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "Please call me back when you have a minute to talk about the plan.",
    "It was a bright cold day in April, and the clocks were striking thirteen.",
    "I would like a cup of tea with milk and two sugars, thank you.",
    "Our train leaves at half past seven, so we should pack tonight.",
    "She sells sea shells by the sea shore on sunny summer mornings.",
    "Turn left at the second light and the library is on your right.",
    "Every morning he walks the dog before breakfast and reads the news.",
]
# how the bundled checkpoint's voice readers are refitted (README, "Real people")
REFIT = ["fit-readers", "--only", "voice", "--no-source-balance", "--quiet"]


def read_voice(model, clips: list[Path]) -> list[bool]:
    """Whether each clip alone is read as male."""
    from mmdemo.audio import read_audio, to_mono_16k

    return [model.analyze(audio=(16000, to_mono_16k(*read_audio(c)))).attributes["Male"] == 1 for c in clips]


def without_voice(festival_set: Path, voice: str, out: Path) -> Path:
    """A dataset folder at `out`: `festival_set` without `voice`'s rows (the clips linked, not copied)."""
    out.mkdir(parents=True)
    (out / "audio").symlink_to((festival_set / "audio").resolve())
    with open(festival_set / "metadata.csv", newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        rows = [r for r in reader if r["person_id"] != f"festival:{voice}"]
        columns = reader.fieldnames
    with open(out / "metadata.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return out


def refit_without(checkpoint: Path, data: list[Path], festival: Path, voice: str, tmp: Path) -> Path:
    """A copy of `checkpoint` with its voice readers refitted on `data` and the Festival set less `voice`."""
    fold = without_voice(festival, voice, tmp / f"festival-without-{voice}")
    copy = tmp / f"checkpoint-without-{voice}"
    shutil.copytree(checkpoint, copy)
    mmdemo = [sys.executable, "-m", "mmdemo"]
    subprocess.run([*mmdemo, "features", "--data", str(fold)], check=True, capture_output=True)
    subprocess.run(
        [*mmdemo, *REFIT, "--checkpoint", str(copy), "--data", *map(str, data), str(fold)], check=True
    )
    return copy


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="checkpoints/default", type=Path)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--leave-one-out", action="store_true", help="each voice read by readers fitted without it"
    )
    parser.add_argument(
        "--festival-set", type=Path, default=Path("data/festival"), help="with --leave-one-out"
    )
    parser.add_argument("--data", type=Path, nargs="+", default=[], help="the refit's other folders")
    args = parser.parse_args(argv)
    if shutil.which("text2wave") is None:
        print(f"festival is not installed: apt-get install {FESTIVAL_PACKAGES}", file=sys.stderr)
        return 2
    voices = installed_voices()
    if not voices:
        print(
            f"no measurable festival voice is installed: apt-get install {FESTIVAL_PACKAGES}", file=sys.stderr
        )
        return 2
    if args.leave_one_out and not (args.data and (args.festival_set / "metadata.csv").is_file()):
        parser.error(
            "--leave-one-out needs --data and a --festival-set folder (scripts/build_other_engine_set.py)"
        )

    from mmdemo.inference.model import load_model

    model = None if args.leave_one_out else load_model(args.checkpoint, "cpu")
    per_voice, hits = {}, {0: [], 1: []}
    with tempfile.TemporaryDirectory() as tmp:
        for voice in voices:
            male = FESTIVAL_VOICES[voice]
            clips = [Path(tmp) / f"{voice}-{i}.wav" for i in range(len(SENTENCES))]
            for sentence, clip in zip(SENTENCES, clips):
                synthesise(voice, sentence, clip)
            if args.leave_one_out:
                fitted = refit_without(args.checkpoint, args.data, args.festival_set, voice, Path(tmp))
                read = [m == male for m in read_voice(load_model(fitted, "cpu"), clips)]
                shutil.rmtree(fitted)
            else:
                read = [m == male for m in read_voice(model, clips)]
            per_voice[voice] = {"male": male, "clips": len(read), "read_right": sum(read) / len(read)}
            hits[male] += read
            print(
                f"{voice:22s} {'male' if male else 'female':6s} read right {sum(read)}/{len(read)}",
                flush=True,
            )
    recall = {sex: sum(v) / len(v) for sex, v in hits.items() if v}
    result = {
        "checkpoint": str(args.checkpoint),
        "mode": "leave-one-voice-out" if args.leave_one_out else "as is",
        **(
            {"refit": [*REFIT, "--data", *map(str, args.data), "<festival set less the voice>"]}
            if args.leave_one_out
            else {}
        ),
        "voices": per_voice,
        "female_recall": recall.get(0),
        "male_recall": recall.get(1),
        "balanced_accuracy": sum(recall.values()) / len(recall),
    }
    print(f"balanced accuracy {result['balanced_accuracy']:.3f} over {len(voices)} voices")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
