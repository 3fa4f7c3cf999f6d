"""The description writer and its parser: every stated attribute is read back exactly, wording varies,
about 30% of descriptions state a subset, and hand-written sentences parse as a person would read them."""

import numpy as np
import pytest

from mmdemo.schema import NAMES
from mmdemo.synth.descriptions import applicable_attributes, choose_mentions, describe, parse_description
from mmdemo.synth.generator import sample_attributes


def test_parser_recovers_exactly_the_stated_attributes():
    rng = np.random.default_rng(0)
    for _ in range(3000):
        attrs = sample_attributes(rng)
        text, mentions = describe(attrs, rng)
        assert parse_description(text) == {k: attrs[k] for k in mentions}, text


def test_wording_varies_but_mentions_are_kept():
    rng = np.random.default_rng(1)
    attrs = sample_attributes(rng)
    mentions = applicable_attributes(attrs)
    texts = {describe(attrs, rng, mentions=mentions)[0] for _ in range(40)}
    assert len(texts) > 20
    assert all(set(parse_description(t)) == set(mentions) for t in texts)


def test_about_thirty_percent_state_a_subset():
    rng = np.random.default_rng(2)
    partial = 0
    for _ in range(2000):
        attrs = sample_attributes(rng)
        partial += len(choose_mentions(attrs, rng)) < len(applicable_attributes(attrs))
    assert 0.25 < partial / 2000 < 0.35


def test_women_are_never_described_by_beard():
    attrs = {
        "Male": "0",
        "age_group": "young",
        "emotion": "happy",
        "hair_color": "red",
        "Eyeglasses": "1",
        "Beard": "0",
        "Wearing_Hat": "0",
        "skin_tone": "light",
    }
    assert "Beard" not in applicable_attributes(attrs)
    text, mentions = describe(attrs, np.random.default_rng(0), mentions=NAMES)
    assert "beard" not in text.lower() and "Beard" not in mentions


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "A cheerful young woman with red hair and glasses.",
            {"Male": "0", "age_group": "young", "emotion": "happy", "hair_color": "red", "Eyeglasses": "1"},
        ),
        (
            "This older man looks angry; he has a gray beard and wears a hat.",
            {"Male": "1", "age_group": "senior", "emotion": "angry", "Beard": "1", "Wearing_Hat": "1"},
        ),
        (
            "A middle-aged person, clean-shaven, no hat.",
            {"age_group": "adult", "Beard": "0", "Wearing_Hat": "0"},
        ),
        ("He and she", {}),  # conflicting cues state nothing
    ],
)
def test_parser_on_hand_written_sentences(text, expected):
    assert parse_description(text) == expected


def test_describe_refuses_nothing_to_say():
    with pytest.raises(ValueError, match="at least one attribute"):
        describe({"Male": "1"}, np.random.default_rng(0), mentions=["Beard"])
