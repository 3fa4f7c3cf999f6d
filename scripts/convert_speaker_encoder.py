"""Writes the GE2E speaker encoder's weights as safetensors, from the Resemblyzer wheel.

Resemblyzer (Apache-2.0) ships `pretrained.pt`, a torch pickle holding the model, optimiser state
and step. The project loads no pickles at run time, so this script reads it once, weights-only,
keeps the LSTM and linear layers (dropping the optimiser and the GE2E similarity scale) and
writes `mmdemo/extractors/weights/speaker_encoder.safetensors`, which is committed.

    pip install Resemblyzer==0.1.4 --no-deps && python scripts/convert_speaker_encoder.py
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "mmdemo" / "extractors" / "weights" / "speaker_encoder.safetensors"


def main() -> int:
    spec = importlib.util.find_spec("resemblyzer")
    if spec is None or spec.origin is None:
        print("install the wheel first: pip install Resemblyzer==0.1.4 --no-deps", file=sys.stderr)
        return 2
    source = Path(spec.origin).parent / "pretrained.pt"
    state = torch.load(source, map_location="cpu", weights_only=True)["model_state"]
    tensors = {k: v.contiguous() for k, v in state.items() if not k.startswith("similarity_")}
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, OUT, metadata={"source": "Resemblyzer 0.1.4 pretrained.pt", "source_sha256": digest})
    print(f"wrote {OUT} ({OUT.stat().st_size / 1e6:.1f} MB) from {source} (sha256 {digest[:12]}...)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
