"""Chinese descriptions: every stated attribute is read back exactly, the wording varies in natural
Chinese word order, wording people use that the writer does not is read too (traditional characters,
digits, mixed scripts), and the generator writes Chinese beside English without changing English."""

import csv

import numpy as np
import pytest

from mmdemo.synth.descriptions import applicable_attributes, describe, parse_description
from mmdemo.synth.descriptions_zh import has_chinese
from mmdemo.synth.generator import generate_dataset, sample_attributes


def test_parser_recovers_exactly_the_stated_attributes_of_chinese_descriptions():
    rng = np.random.default_rng(0)
    for _ in range(3000):
        attrs = sample_attributes(rng)
        text, mentions = describe(attrs, rng, lang="zh")
        assert has_chinese(text) and not any(c.isascii() and c.isalpha() for c in text), text
        assert parse_description(text) == {k: attrs[k] for k in mentions}, text


def test_chinese_wording_varies_but_mentions_are_kept():
    rng = np.random.default_rng(1)
    attrs = sample_attributes(rng)
    mentions = applicable_attributes(attrs)
    texts = {describe(attrs, rng, mentions=mentions, lang="zh")[0] for _ in range(40)}
    assert len(texts) > 30
    assert all(set(parse_description(t)) == set(mentions) for t in texts)
    assert all(t.endswith("。") for t in texts)


@pytest.mark.parametrize(
    "text, expected",
    [
        (  # the issue's own example
            "一位二十多岁的红发女士，戴着眼镜，笑得很开心",
            {"Male": "0", "age_group": "young", "hair_color": "red", "Eyeglasses": "1", "emotion": "happy"},
        ),
        (
            "一位戴眼镜的年轻女性，看起来很开心",
            {"Male": "0", "age_group": "young", "Eyeglasses": "1", "emotion": "happy"},
        ),
        (  # traditional characters
            "一位戴著眼鏡的老先生，頭髮花白",
            {"Male": "1", "age_group": "senior", "Eyeglasses": "1", "hair_color": "gray"},
        ),
        (
            "他30多岁，留着络腮胡，没戴帽子",
            {"Male": "1", "age_group": "adult", "Beard": "1", "Wearing_Hat": "0"},
        ),
        (
            "她不开心，皮肤黝黑，头发是黑色的",
            {"Male": "0", "emotion": "sad", "skin_tone": "dark", "hair_color": "black"},
        ),
        ("A smiling woman 戴着帽子", {"Male": "0", "emotion": "happy", "Wearing_Hat": "1"}),  # mixed scripts
        ("一位白发苍苍的老奶奶", {"Male": "0", "age_group": "senior", "hair_color": "gray"}),
        ("他看起来很开心，she looks sad", {}),  # gender and emotion both contradict themselves
        ("一个人", {}),
    ],
)
def test_chinese_wording_people_use(text, expected):
    assert parse_description(text) == expected


def test_the_generator_writes_chinese_beside_english_and_leaves_english_unchanged(tmp_path):
    en = generate_dataset(tmp_path / "en", count=30, seed=3, workers=1)
    both = generate_dataset(tmp_path / "both", count=30, seed=3, workers=1, lang="both")
    zh = generate_dataset(tmp_path / "zh", count=30, seed=3, workers=1, lang="zh")
    folders = {"en": en, "both": both, "zh": zh}
    rows = {name: list(csv.DictReader(open(d / "metadata.csv"))) for name, d in folders.items()}
    assert "lang" not in rows["en"][0]
    assert all(r["lang"] == "zh" and has_chinese(r["text"]) for r in rows["zh"])
    langs = [r["lang"] for r in rows["both"]]
    assert 5 <= langs.count("zh") <= 25
    for e, b, z in zip(rows["en"], rows["both"], rows["zh"]):
        assert e["text_mentions"] == b["text_mentions"] == z["text_mentions"]
        if b["lang"] == "en":
            assert b["text"] == e["text"]
        assert parse_description(b["text"]) == parse_description(e["text"])
        assert (en / e["image"]).read_bytes() == (zh / z["image"]).read_bytes()  # only the words change
    with pytest.raises(ValueError, match="lang"):
        generate_dataset(tmp_path / "fr", count=5, lang="fr")
