"""How well descriptions in wording the generator never writes are read: the robustness figure.

`heldback_wording.json` beside this file holds 20 English and 20 Chinese descriptions written by hand
in words and orders the generator does not use ("specs", "bloke", 满头白发, 老花镜, 二十岁出头), each with
the attributes it states. They are only ever scored, never trained or tuned on. Each is analysed
alone through the public API (`analyze(text=...)`, as the app reads it), and the figure is the share
of stated attributes read right; beside it, the share of generated descriptions written in the
description's language (`wording/<lang>/in_language`) and of those that also contradict none of its
statements (`wording/<lang>/faithful`).
"""

from __future__ import annotations

import json
from pathlib import Path

from mmdemo.inference.model import MultimodalModel
from mmdemo.synth.descriptions import parse_description
from mmdemo.synth.descriptions_zh import has_chinese

HELDBACK_FILE = Path(__file__).with_name("heldback_wording.json")


def heldback_descriptions(lang: str) -> list[tuple[str, dict[str, str]]]:
    items = json.loads(HELDBACK_FILE.read_text(encoding="utf-8"))[lang]
    return [(text, attrs) for text, attrs in items]


def wording_accuracy(model: MultimodalModel, lang: str) -> tuple[float, list[dict]]:
    """(share of stated attributes read right, one row per description: text, stated, misses, the
    generated description, whether it is in the description's language and whether it is faithful:
    in that language and contradicting nothing the description stated)."""
    right = total = 0
    rows = []
    for text, stated in heldback_descriptions(lang):
        a = model.analyze(text=text)
        read = {k: str(v) for k, v in a.attributes.items()}
        misses = {k: read[k] for k, v in stated.items() if read[k] != v}
        right += len(stated) - len(misses)
        total += len(stated)
        said = parse_description(a.text)
        in_language = has_chinese(a.text) == lang.startswith("zh")
        faithful = in_language and all(said.get(k, v) == v for k, v in stated.items())
        rows.append({"text": text, "stated": stated, "misses": misses, "answer": a.text})
        rows[-1] |= {"in_language": in_language, "faithful": faithful}
    return right / total, rows
