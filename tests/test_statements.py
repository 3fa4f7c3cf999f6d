"""The generated description of an analysis says only what the attribute heads confirm."""

from __future__ import annotations

from mmdemo.inference.statements import NOTHING_SURE, SURE_FROM, sure_description, sure_statements
from mmdemo.synth.descriptions import parse_description
from mmdemo.synth.descriptions_zh import has_chinese

DECODED = "A photo of a young woman with no glasses and a cheerful expression. She has red hair."
HEADS = {"Male": 0, "age_group": "young", "Eyeglasses": 1, "emotion": "happy", "hair_color": "red"}
SURE = dict.fromkeys(HEADS, 0.99)


def test_statements_the_heads_contradict_or_doubt_are_left_out():
    assert parse_description(DECODED)["Eyeglasses"] == "0"  # the decoder says "no glasses"
    kept = sure_statements(DECODED, HEADS, SURE)
    assert "Eyeglasses" not in kept  # ... the head reads glasses: left out, not turned into "glasses"
    assert kept == {"Male": "0", "age_group": "young", "emotion": "happy", "hair_color": "red"}
    doubtful = SURE | {"emotion": SURE_FROM - 0.01}
    assert "emotion" not in sure_statements(DECODED, HEADS, doubtful)
    assert "emotion" in sure_statements(DECODED, HEADS, SURE | {"emotion": SURE_FROM})


def test_the_rewritten_description_states_exactly_what_was_kept():
    for lang in ("en", "zh"):
        text = sure_description(DECODED, HEADS, SURE, lang)
        assert has_chinese(text) == (lang == "zh")
        assert parse_description(text) == sure_statements(DECODED, HEADS, SURE)
        assert text == sure_description(DECODED, HEADS, SURE, lang)  # one analysis, one wording


def test_confirmed_english_is_the_decoders_own_words():
    heads = HEADS | {"Eyeglasses": 0}
    assert sure_description(DECODED, heads, SURE, "en") == DECODED
    assert has_chinese(sure_description(DECODED, heads, SURE, "zh"))


def test_nothing_sure_says_so_in_the_language_asked():
    unsure = dict.fromkeys(HEADS, 0.4)
    assert sure_description(DECODED, HEADS, unsure, "en") == NOTHING_SURE["en"]
    assert sure_description(DECODED, HEADS, unsure, "zh") == NOTHING_SURE["zh"]
    assert sure_description("", HEADS, SURE, "en") == NOTHING_SURE["en"]
