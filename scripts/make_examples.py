"""Writes the app's example people (face PNG, description TXT, voice WAV) to assets/examples/.

python scripts/make_examples.py [--seed 11]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing

import argparse
from pathlib import Path

import cv2
import numpy as np

from mmdemo.audio import write_wav
from mmdemo.synth.descriptions import applicable_attributes, describe
from mmdemo.synth.faces.render import FaceIdentity, FaceNuisance, render_face
from mmdemo.synth.voices import PHRASES, emotion_text, sample_person_voice, synthesize, voice_params

PEOPLE = [
    {
        "Male": "0",
        "age_group": "young",
        "emotion": "happy",
        "hair_color": "red",
        "Eyeglasses": "1",
        "Beard": "0",
        "Wearing_Hat": "0",
        "skin_tone": "light",
    },
    {
        "Male": "1",
        "age_group": "senior",
        "emotion": "angry",
        "hair_color": "gray",
        "Eyeglasses": "0",
        "Beard": "1",
        "Wearing_Hat": "1",
        "skin_tone": "medium",
    },
    {
        "Male": "0",
        "age_group": "adult",
        "emotion": "sad",
        "hair_color": "black",
        "Eyeglasses": "0",
        "Beard": "0",
        "Wearing_Hat": "0",
        "skin_tone": "dark",
    },
    {
        "Male": "1",
        "age_group": "young",
        "emotion": "surprised",
        "hair_color": "blond",
        "Eyeglasses": "1",
        "Beard": "0",
        "Wearing_Hat": "0",
        "skin_tone": "light",
    },
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("assets/examples"))
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    for i, attrs in enumerate(PEOPLE):
        face = render_face(attrs, FaceIdentity.sample(attrs, rng), FaceNuisance.neutral())
        stem = args.out / f"person{i + 1}"
        cv2.imwrite(str(stem.with_suffix(".png")), cv2.cvtColor(face, cv2.COLOR_RGB2BGR))
        text, _ = describe(attrs, rng, mentions=applicable_attributes(attrs))
        stem.with_suffix(".txt").write_text(text + "\n")
        params = voice_params(attrs, sample_person_voice(attrs, rng), rng)
        write_wav(stem.with_suffix(".wav"), synthesize(emotion_text(PHRASES[i], attrs["emotion"]), params))
        print(stem.with_suffix(".png"), "|", text)


if __name__ == "__main__":
    main()
