"""How well descriptions in wording the generator never writes are read: the robustness figure.

`heldback_wording.json` beside this file holds 20 English and 20 Chinese descriptions written by hand
in words and orders the generator does not use ("specs", "bloke", 满头白发, 老花镜, 二十岁出头), each with
the attributes it states. They are only ever scored, never trained or tuned on. Each is analysed
alone through the public API (`analyze(text=...)`, as the app reads it), and the figure is the share
of stated attributes read right.
"""

from __future__ import annotations

import json
from pathlib import Path

from mmdemo.inference.model import MultimodalModel

HELDBACK_FILE = Path(__file__).with_name("heldback_wording.json")


def heldback_descriptions(lang: str) -> list[tuple[str, dict[str, str]]]:
    items = json.loads(HELDBACK_FILE.read_text(encoding="utf-8"))[lang]
    return [(text, attrs) for text, attrs in items]


def wording_accuracy(model: MultimodalModel, lang: str) -> tuple[float, list[dict]]:
    """(share of stated attributes read right, one row per description: text, stated, read, misses)."""
    right = total = 0
    rows = []
    for text, stated in heldback_descriptions(lang):
        read = model.analyze(text=text).attributes
        misses = {k: str(read[k]) for k, v in stated.items() if str(read[k]) != v}
        right += len(stated) - len(misses)
        total += len(stated)
        rows.append({"text": text, "stated": stated, "misses": misses})
    return right / total, rows
