"""The page in English and Chinese: every text has both, every message a visitor can meet translates,
and the server answers in the language the page shows."""

from __future__ import annotations

import re

import pytest

from mmdemo.schema import BY_NAME, DIRECTIONS, NAMES
from mmdemo.serving.figures import map_figure, value_label
from mmdemo.synth.descriptions_zh import has_chinese
from webapp import i18n, messages


def test_every_text_of_the_page_has_english_and_chinese():
    for key, (en, zh) in i18n.STATIC.items():
        assert en.strip() and zh.strip(), key
        assert has_chinese(zh) or key == "a_to_b", key
    for n in NAMES:
        assert has_chinese(i18n.ATTRIBUTE_ZH[n])
        values = [value_label(n, v) for v in BY_NAME[n].values]
        assert all(has_chinese(i18n.VALUE_ZH[v]) for v in values), n
    assert all(has_chinese(i18n.DIRECTION_ZH[d]) for d in DIRECTIONS)
    with pytest.raises(KeyError):
        i18n.T("no such text")


def filled(template: str) -> tuple[str, dict]:
    values = {name: f"<{name}:7>" for name in re.findall(r"\{(\w+)\}", template)}
    return template.format(**values), values


@pytest.mark.parametrize("template", list(messages.MESSAGES))
def test_each_message_translates_with_its_values(template):
    english, values = filled(template)
    chinese = messages.say(english, "zh")
    assert chinese == messages.MESSAGES[template].format(**values)
    assert has_chinese(chinese) and all(v in chinese for v in values.values())
    assert messages.say(english, "en") == english
    assert messages.message(template, "zh", **{k: v for k, v in values.items()}) == chinese


def test_an_unknown_message_is_left_as_it_is():
    assert messages.say("something no template knows", "zh") == "something no template knows"
    assert messages.say("", "zh") == ""


def test_the_request_language():
    assert i18n.language_of(None) == "en"
    assert i18n.language_of({}) == "en"
    assert i18n.language_of({"accept-language": "zh-CN,zh;q=0.9"}) == "zh"
    assert i18n.language_of({"accept-language": "en-US", "x-ui-lang": "zh-TW"}) == "zh"
    # the page's own setting wins over the browser's
    assert i18n.language_of({"accept-language": "zh-CN", "x-ui-lang": "en"}) == "en"
    assert i18n.language() == "en"  # outside a request


def test_tables_translate_names_and_values_but_not_numbers():
    rows = [["Eyeglasses", "Eyeglasses", 0.91], ["Male", "female", 0.99], ["face-voice", 0.4, 0.8, "agree"]]
    assert i18n.table_rows(rows, "en") == rows
    zh = i18n.table_rows(rows, "zh")
    assert zh[0] == ["眼镜", "戴眼镜", 0.91]  # an attribute's name, then its value
    assert zh[1] == ["性别", "女", 0.99]
    assert zh[2] == ["人脸-声音", 0.4, 0.8, "一致"]
    assert i18n.headers(i18n.AGREEMENT_HEADERS, "zh") == ["输入对", "余弦", "同一个人？", "结论"]


def test_the_map_legend_in_chinese():
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    table = pd.DataFrame({c: rng.random(12) for c in ("x2", "y2", "x3", "y3", "z3")})
    table["emotion"] = ["happy", "sad", "neutral"] * 4
    for n in NAMES:
        if n not in table:
            table[n] = BY_NAME[n].values[0]
    table["id"], table["description"] = [f"p{i}" for i in range(12)], "A person."
    live = {m: rng.random(5) for m in ("fused", "image", "text")}
    english = map_figure(table, "emotion", 2, live=live)
    chinese = map_figure(table, "emotion", 2, live=live, **i18n.map_legend("zh"))
    assert [t.name for t in english.data][:3] == ["neutral", "happy", "sad"]
    assert [t.name for t in chinese.data][:3] == ["平静", "开心", "难过"]
    assert chinese.layout.legend.title.text == "表情"
    assert "你在这里" in [t.name for t in chinese.data]
    assert len(english.data) == len(chinese.data) and i18n.map_legend("en") == {}
