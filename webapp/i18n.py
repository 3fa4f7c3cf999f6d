"""The page in English or Chinese (简体中文).

Two halves, because Gradio translates only what the page was built with:
- **Static text** (labels, tabs, buttons, placeholders, headings): `T(key)` marks it for Gradio's
  own i18n, which picks the language from the browser and from the page's Settings -> Language, and
  translates Gradio's own controls too.
- **What the server says** (errors, warnings, notes, table rows, the generated description and voice):
  each handler asks `language()`. The page's script `HEAD` adds the language the page is showing
  (`document.documentElement.lang`, which Settings -> Language changes) to each request as
  `X-UI-Lang`; without it the browser's Accept-Language decides, and an API client that sends
  neither gets English, as before.

Library messages stay English in `mmdemo` (API users and logs read them); `webapp.messages`
translates the ones a visitor can meet.
"""

from __future__ import annotations

from collections.abc import Iterable

import gradio as gr

from mmdemo.schema import DIRECTIONS, NAMES

# ------------------------------------------------------------------ static text
STATIC = {
    # key: (English, Chinese)
    "header": (
        "## mmdemo — face, words and voice in one learned space\n"
        "Give any of the three; see where the person lands, what the model makes of them and where it "
        "looks. Nothing you give is stored. 中文界面：页面底部 Settings → Language → 简体中文。",
        "## mmdemo —— 人脸、文字和声音，同在一个学习到的空间里\n"
        "三者任给其一即可：看看这个人落在空间的哪里、模型从中读出了什么、它的注意力落在哪里。"
        "你提供的任何内容都不会被保存。English: Settings (设置) → Language at the bottom of the page.",
    ),
    "tab_analyze": ("Analyze", "分析"),
    "tab_live": ("Live", "实时"),
    "tab_explore": ("Explore", "探索"),
    "tab_about": ("About", "关于"),
    "face": ("Face", "人脸"),
    "use_face": ("use the face", "使用人脸"),
    "description": ("Description", "描述"),
    "description_hint": (
        "A cheerful young woman with red hair and glasses.",
        "一位二十多岁的红发女士，戴着眼镜，笑得很开心",
    ),
    "use_text": ("use the description", "使用描述"),
    "voice": ("Voice", "声音"),
    "use_voice": ("use the voice", "使用声音"),
    "analyze": ("Analyze", "分析"),
    "examples": ("Examples", "示例"),
    "colour_map_by": ("colour the map by", "地图着色依据"),
    "map": ("map", "地图"),
    "where_you_land": ("Where you land (UMAP of the gallery)", "你在哪里（图库的 UMAP 投影）"),
    "add_to_map": ("Add to map", "加入地图"),
    "download_samples": ("Download my samples (Parquet)", "下载我的样本（Parquet）"),
    "neighbours": ("Nearest gallery people (cosine similarity)", "图库中最相近的人（余弦相似度）"),
    "tab_reconstruct": ("Reconstruct and generate", "重建与生成"),
    "tab_attention": ("Attention", "注意力"),
    "seen": ("the face as the model saw it", "模型看到的人脸"),
    "recon": ("reconstruction from the given inputs", "由所给输入重建"),
    "from_text": ("face from the description alone", "仅由描述生成的人脸"),
    "from_voice": ("face from the voice alone", "仅由声音生成的人脸"),
    "gen_text": ("generated description", "生成的描述"),
    "gen_voice": ("generated voice", "生成的声音"),
    "attrs": ("predicted attributes", "预测的特征"),
    "agreement": (
        "do the inputs agree? (does this voice fit this face? fitted on unseen people)",
        "这些输入一致吗？（这个声音配这张脸吗？在未见过的人上拟合）",
    ),
    "word": ("word", "词语"),
    "word_map": ("where this word looks on the face", "这个词在脸上看向哪里"),
    "rollout": ("attention rollout over the face", "人脸上的注意力汇总（rollout）"),
    "word_grid": ("every word of the description", "描述中的每个词"),
    "shares": ("modality shares", "各模态的占比"),
    "voice_attn": ("voice attention", "声音注意力"),
    "live_intro": (
        "Start the webcam: each frame is reconstructed, its attention drawn and its point moved on the map.",
        "打开摄像头：每一帧都会被重建，画出注意力，并在地图上移动它的点。",
    ),
    "webcam": ("webcam", "摄像头"),
    "live_recon": ("live reconstruction", "实时重建"),
    "live_overlay": ("attention over the face", "人脸上的注意力"),
    "live_map": ("live position", "实时位置"),
    "colour_by": ("colour by", "着色依据"),
    "gallery_map": ("the gallery — click a point", "图库 —— 点击一个点"),
    "face_small": ("face", "人脸"),
    "description_small": ("description", "描述"),
    "voice_small": ("voice", "声音"),
    "person_id": ("person id", "人物编号"),
    "generate_people": ("Generate new people from the prior", "从先验中生成新的人"),
    "seed": ("seed (empty: random)", "随机种子（留空：随机）"),
    "sample_four": ("Sample four people", "生成四个人"),
    "sampled": ("sampled", "生成的人"),
    "first_description": ("first description", "第一个人的描述"),
    "first_voice": ("first voice", "第一个人的声音"),
    "interpolate": ("Interpolate between two people", "在两个人之间插值"),
    "person_a": ("person A id", "人物 A 编号"),
    "person_b": ("person B id", "人物 B 编号"),
    "a_to_b": ("A → B", "A → B"),
    "steer": ("Slide along an attribute", "沿某个特征滑动"),
    "direction": ("direction", "方向"),
    "amount": ("amount", "幅度"),
    "reproject": ("Re-project the gallery", "重新投影图库"),
    "n_neighbors": ("UMAP n_neighbors", "UMAP 近邻数 n_neighbors"),
    "min_dist": ("UMAP min_dist", "UMAP 最小距离 min_dist"),
    "reproject_button": ("Re-project", "重新投影"),
}

# Attribute names and values as the page shows them (tables, menus).
ATTRIBUTE_ZH = {
    "Male": "性别",
    "age_group": "年龄段",
    "emotion": "表情",
    "skin_tone": "肤色",
    "hair_color": "发色",
    "Eyeglasses": "眼镜",
    "Wearing_Hat": "帽子",
    "Beard": "胡子",
}
VALUE_ZH = {
    "female": "女",
    "male": "男",
    "young": "年轻",
    "adult": "中年",
    "senior": "老年",
    "neutral": "平静",
    "happy": "开心",
    "sad": "难过",
    "angry": "生气",
    "surprised": "惊讶",
    "light": "浅",
    "medium": "中等",
    "dark": "深",
    "black": "黑色",
    "brown": "棕色",
    "blond": "金色",
    "red": "红色",
    "gray": "灰白",
    "Eyeglasses": "戴眼镜",
    "no Eyeglasses": "不戴眼镜",
    "Wearing_Hat": "戴帽子",
    "no Wearing_Hat": "不戴帽子",
    "Beard": "有胡子",
    "no Beard": "没有胡子",
}
DIRECTION_ZH = {
    "older": "更老",
    "younger": "更年轻",
    "smiling": "微笑",
    "sad": "难过",
    "angry": "生气",
    "surprised": "惊讶",
    "glasses": "戴眼镜",
    "beard": "留胡子",
    "hat": "戴帽子",
    "male": "男性",
    "female": "女性",
    "gray hair": "灰白头发",
    "red hair": "红头发",
    "blond hair": "金发",
    "dark skin": "深色皮肤",
    "light skin": "浅色皮肤",
}
TABLE_ZH = {
    "attribute": "特征",
    "predicted": "预测",
    "confidence": "置信度",
    "pair": "输入对",
    "cosine": "余弦",
    "same person?": "同一个人？",
    "verdict": "结论",
    "agree": "一致",
    "disagree": "不一致",
    "unsure": "不确定",
    "face-text": "人脸-描述",
    "face-voice": "人脸-声音",
    "text-voice": "描述-声音",
}
ATTRIBUTE_HEADERS = ["attribute", "predicted", "confidence"]
AGREEMENT_HEADERS = ["pair", "cosine", "same person?", "verdict"]

_ENGLISH = {key: en for key, (en, _) in STATIC.items()} | {f"attr_{n}": n for n in NAMES}
_CHINESE = {key: zh for key, (_, zh) in STATIC.items()} | {f"attr_{n}": ATTRIBUTE_ZH[n] for n in NAMES}
_ENGLISH |= {f"dir_{d}": d for d in DIRECTIONS}
_CHINESE |= {f"dir_{d}": DIRECTION_ZH[d] for d in DIRECTIONS}
# Gradio matches the browser's locale exactly or by its language: zh-TW and zh-HK readers get
# simplified Chinese for this app's own text (Gradio's controls keep their traditional wording).
I18N = gr.I18n(en=_ENGLISH, zh=_CHINESE, **{"zh-CN": _CHINESE, "zh-TW": _CHINESE, "zh-HK": _CHINESE})


def T(key: str):
    """`key`'s text in the page's language (translated in the browser)."""
    if key not in _ENGLISH:
        raise KeyError(f"no text {key!r} in webapp/i18n.py")
    return I18N(key)


def attribute_choices() -> list[tuple]:
    """Menu entries for the schema's attributes: (translated name, schema name)."""
    return [(T(f"attr_{n}"), n) for n in NAMES]


def direction_choices() -> list[tuple]:
    return [(T(f"dir_{d}"), d) for d in DIRECTIONS]


# ------------------------------------------------------------------ the page's language, per request
# Sent with every request the page makes, so the server answers in the language the page shows.
HEAD = """<script>
(() => {
  const send = window.fetch;
  window.fetch = (input, init = {}) => {
    const headers = new Headers(init.headers || (input instanceof Request ? input.headers : undefined));
    headers.set("X-UI-Lang", document.documentElement.lang || navigator.language || "");
    return send(input, { ...init, headers });
  };
})();
</script>"""


def language_of(headers) -> str:
    """ "zh" or "en" from a request's headers (X-UI-Lang first, then Accept-Language)."""
    if headers is None:
        return "en"
    tag = headers.get("x-ui-lang") or headers.get("accept-language") or ""
    return "zh" if tag.strip().lower().startswith("zh") else "en"


def language() -> str:
    """The language of the request being handled ("en" outside a request)."""
    # Gradio keeps the request of the event being handled in a context variable (its gr.Info and
    # gr.Warning use it); reading it spares every handler a `request` parameter that would shift
    # the positions Gradio fills.
    from gradio.context import LocalContext

    request = LocalContext.request.get(None)
    return language_of(getattr(request, "headers", None))


def table_rows(rows: Iterable[list], lang: str | None = None) -> list[list]:
    """Attribute or agreement table rows with their words in `lang` (numbers as they are). The first
    column names an attribute or a pair; the others hold values ("Eyeglasses" is 眼镜 there, 戴眼镜 here)."""
    if (lang or language()) != "zh":
        return [list(r) for r in rows]
    first, rest = ATTRIBUTE_ZH | TABLE_ZH, VALUE_ZH | TABLE_ZH
    return [
        [(first if i == 0 else rest).get(v, v) if isinstance(v, str) else v for i, v in enumerate(r)]
        for r in rows
    ]


MAP_ZH = VALUE_ZH | {
    "your samples": "你的样本",
    "modalities": "各模态",
    "face only": "仅人脸",
    "description only": "仅描述",
    "voice only": "仅声音",
    "you are here": "你在这里",
    "you are here (all inputs fused)": "你在这里（融合全部输入）",
}


def map_legend(lang: str | None = None) -> dict:
    """`names` and `words` for `DemoService.map` / `map_figure`: the map's legend in `lang`."""
    return {"names": ATTRIBUTE_ZH, "words": MAP_ZH} if (lang or language()) == "zh" else {}


def headers(names: list[str], lang: str | None = None) -> list[str]:
    return [TABLE_ZH.get(n, n) for n in names] if (lang or language()) == "zh" else list(names)
