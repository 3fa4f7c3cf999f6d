"""How a checkpoint reads the sex of voices from a speech engine it never heard: Festival's voices.

The model's synthetic voices are eSpeak NG's. Festival is another engine (diphone, clustergen and HTS
voices of recorded speakers). Its `kal` and `slt` voices, and flite (the same speakers), are reserved
for the project's independent held-out check and are refused here; the other voices Debian packages
are fair to measure on:

    apt-get install festival festvox-italp16k festvox-itapc16k festvox-czech-dita festvox-czech-machac \
        festvox-ca-ona-hts festvox-suopuhe-lj festvox-suopuhe-mv festvox-kdlpc16k festvox-ru
    python scripts/check_other_engine.py --checkpoint checkpoints/default --json other-engine.json

Each installed voice reads the same English sentences (a Czech or Finnish voice reads them with its
own language's rules: the speaker is what is measured, not the words); each clip is analysed alone
through the public API. Reports each voice's share read as its speaker's sex and the balanced accuracy
(the mean of women's and men's recall). Nothing is trained or tuned on these clips.
"""

from __future__ import annotations

import argparse
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

# voice name -> the speaker's sex as its Debian package describes it (1 = male)
VOICES = {
    "upc_ca_ona_hts": 0,
    "czech_dita": 0,
    "lp_diphone": 0,
    "suo_fi_lj_diphone": 0,
    "czech_machac": 1,
    "czech_ph": 1,
    "ked_diphone": 1,
    "pc_diphone": 1,
    "hy_fi_mv_diphone": 1,
    "msu_ru_nsh_clunits": 1,
}
RESERVED = ("kal", "slt")  # the held-out check's voices
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


def installed_voices() -> list[str]:
    root = Path("/usr/share/festival/voices")
    found = {p.name for p in root.glob("*/*") if p.is_dir()} if root.is_dir() else set()
    return [v for v in VOICES if v in found and not any(r in v for r in RESERVED)]


def synthesise(voice: str, sentence: str, out: Path) -> None:
    text = out.with_suffix(".txt")
    text.write_text(sentence + "\n")
    cmd = ["text2wave", "-eval", f"(voice_{voice})", str(text), "-o", str(out)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="checkpoints/default")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    if shutil.which("text2wave") is None:
        print("festival is not installed (see this script's docstring for the packages)", file=sys.stderr)
        return 2
    voices = installed_voices()
    if not voices:
        print("no measurable festival voice is installed", file=sys.stderr)
        return 2

    from mmdemo.audio import read_audio, to_mono_16k
    from mmdemo.inference.model import load_model

    model = load_model(args.checkpoint, "cpu")
    per_voice, hits = {}, {0: [], 1: []}
    with tempfile.TemporaryDirectory() as tmp:
        for voice in voices:
            male = VOICES[voice]
            read = []
            for i, sentence in enumerate(SENTENCES):
                wav = Path(tmp) / f"{voice}-{i}.wav"
                synthesise(voice, sentence, wav)
                analysis = model.analyze(audio=(16000, to_mono_16k(*read_audio(wav))))
                read.append(int(analysis.attributes["Male"] == 1) == male)
            per_voice[voice] = {"male": male, "clips": len(read), "read_right": sum(read) / len(read)}
            hits[male] += read
            print(f"{voice:22s} {'male' if male else 'female':6s} read right {sum(read)}/{len(read)}")
    recall = {sex: sum(v) / len(v) for sex, v in hits.items() if v}
    result = {
        "checkpoint": str(args.checkpoint),
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
