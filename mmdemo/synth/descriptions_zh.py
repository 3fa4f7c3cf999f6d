"""Chinese descriptions of a person from schema attributes, and the parser that reads them back.

The counterpart of `descriptions.py` (English): `describe_zh` writes one sentence in natural Chinese
word order (a noun phrase with at most one 的-modifier, then clauses: 戴着…, 留着…, 看起来…, 神情…),
with several synonyms per value, stating exactly the attributes it is asked to (`text_mentions` as in
English). `parse_zh` must recover exactly those attributes from every sentence `describe_zh` can write
(a test checks 3,000), and reads common wording it does not write too (digits for ages, 不开心, …).
Only simplified characters are written; `parse_zh` maps the traditional forms of its own vocabulary
to simplified first, so 戴著眼鏡 reads as 戴着眼镜.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet

import numpy as np

# ---------------------------------------------------------------- vocabulary (written and read)
NOUN = {"0": ("女士", "女性", "女子", "女人"), "1": ("男士", "男性", "男子", "先生", "男人"), None: ("人",)}
# nouns that also say the age: used only when both gender and age are stated (or age alone: 老人)
AGED_NOUN = {
    ("0", "young"): ("姑娘", "年轻女孩", "女孩"),
    ("1", "young"): ("小伙子", "年轻小伙", "男孩"),
    ("0", "adult"): ("阿姨", "中年女人"),
    ("1", "adult"): ("大叔", "中年男人"),
    ("0", "senior"): ("老奶奶", "老太太", "奶奶"),
    ("1", "senior"): ("老先生", "老爷爷", "老大爷", "爷爷"),
    (None, "young"): ("年轻人",),
    (None, "senior"): ("老人", "老年人"),
}
AGE = {  # 的-modifiers, or said of the person: 她二十多岁
    "young": ("年轻", "二十多岁", "二十来岁", "二十出头"),
    "adult": ("中年", "三十多岁", "四十来岁", "四十出头"),
    "senior": ("年长", "上了年纪", "六十多岁", "七十多岁", "年迈"),
}
EMOTION_ADJ = {  # take 很 and 的: 看起来很开心, 开心的
    "neutral": ("平静", "严肃", "淡定"),
    "happy": ("开心", "高兴", "快乐"),
    "sad": ("难过", "伤心", "悲伤"),
    "angry": ("生气", "愤怒", "恼火"),
    "surprised": ("惊讶", "吃惊", "诧异"),
}
EMOTION_PHRASE = {  # whole predicates: 他面带微笑
    "neutral": ("面无表情", "神情平静"),
    "happy": ("面带微笑", "笑眯眯的", "笑得很开心"),
    "sad": ("愁眉苦脸", "闷闷不乐"),
    "angry": ("气呼呼的", "怒气冲冲"),
    "surprised": ("目瞪口呆", "一脸惊讶"),
}
HAIR = {  # as a modifier before the noun (红发女士) or after 留着 (留着红发)
    "black": ("黑发", "黑色头发", "乌黑的头发"),
    "brown": ("棕发", "棕色头发", "褐色头发"),
    "blond": ("金发", "金色头发", "淡黄色头发"),
    "red": ("红发", "红色头发", "红头发"),
    "gray": ("灰发", "灰白头发", "银发", "花白头发"),
}
HAIR_COLOUR = {  # the colour alone, for 头发是…的
    "black": ("黑色", "乌黑"),
    "brown": ("棕色", "褐色"),
    "blond": ("金色", "淡黄色"),
    "red": ("红色",),
    "gray": ("灰白", "花白", "银白色"),
}
SKIN = {
    "light": ("皮肤白皙", "肤色白皙"),
    "medium": ("有着小麦色的皮肤", "肤色适中"),
    "dark": ("皮肤黝黑", "有着深色的皮肤"),
}
GLASSES = {"1": ("戴着眼镜", "戴着一副眼镜", "戴眼镜"), "0": ("没戴眼镜", "不戴眼镜")}
BEARD = {"1": ("留着胡子", "留着络腮胡", "蓄着胡须"), "0": ("没有胡子", "胡子刮得很干净")}
HAT = {"1": ("戴着帽子", "戴着一顶帽子", "戴着鸭舌帽"), "0": ("没戴帽子", "不戴帽子")}
PRONOUN = {"0": "她", "1": "他", None: "这个人"}
OPENINGS = ("一位", "这是一位", "照片上是一位", "画面中是一位")
EMOTION_FRAMES = ("看起来很{}", "神情{}", "显得很{}", "表情很{}", "脸上带着{}的表情")


def _pick(rng: np.random.Generator, options: Sequence[str]) -> str:
    return options[int(rng.integers(len(options)))]


def describe_zh(attrs: Mapping[str, str], stated: set[str], rng: np.random.Generator) -> str:
    """One Chinese sentence stating exactly `stated` of `attrs` (schema strings, normalised)."""
    gender = attrs["Male"] if "Male" in stated else None
    age = attrs["age_group"] if "age_group" in stated else None
    modifiers, clauses = [], []  # modifiers: before the noun; clauses: after it, comma-separated
    if (gender, age) in AGED_NOUN and rng.random() < 0.35:
        noun = _pick(rng, AGED_NOUN[(gender, age)])
    else:
        noun = _pick(rng, NOUN[gender])
        if age is not None:  # modifiers[0] is the age
            modifiers.append(_pick(rng, AGE[age]) + "的")
    subject = PRONOUN[gender]
    if "emotion" in stated:
        emotion, roll = attrs["emotion"], rng.random()
        word = _pick(rng, EMOTION_ADJ[emotion])
        if roll < 0.25 and not modifiers:
            modifiers.append(word + "的")
        elif roll < 0.75:
            clauses.append(_pick(rng, EMOTION_FRAMES).format(word))
        else:
            clauses.append(_pick(rng, EMOTION_PHRASE[emotion]))
    hair_before = False
    if "hair_color" in stated:
        word = _pick(rng, HAIR[attrs["hair_color"]])
        if len(word) == 2 and rng.random() < 0.4:  # 红发女士: a two-character compound sits on the noun
            hair_before = True
            noun = word + noun
        elif rng.random() < 0.7:
            clauses.append(_pick(rng, ("留着{}", "有一头{}")).format(word))
        else:
            clauses.append(f"头发是{_pick(rng, HAIR_COLOUR[attrs['hair_color']])}的")
    if "skin_tone" in stated:
        clauses.append(_pick(rng, SKIN[attrs["skin_tone"]]))
    for name, table in (("Eyeglasses", GLASSES), ("Beard", BEARD), ("Wearing_Hat", HAT)):
        if name in stated:
            clauses.append(_pick(rng, table[attrs[name]]))
    order = rng.permutation(len(clauses))
    clauses = [clauses[i] for i in order]
    if hair_before and gender is None and noun.endswith("发人"):  # never 红发人: say 红发的人
        noun = noun[:-1] + "的人"
    roll = rng.random()
    age_modifier = age is not None and bool(modifiers) and modifiers[0].removesuffix("的") in AGE[age]
    if age_modifier and roll < 0.2:  # the age said of the person: 她二十多岁，…
        head = f"{'这个人' if gender is None else subject}{modifiers[0].removesuffix('的')}"
        return head + "".join("，" + c for c in [noun_clause(noun), *clauses] if c) + "。"
    if roll < 0.35:  # 她是一位…的女士 / 这位女士戴着…
        head = f"{subject}是一位{''.join(modifiers)}{noun}" if gender else f"这位{''.join(modifiers)}{noun}"
    else:
        head = f"{_pick(rng, OPENINGS)}{''.join(modifiers)}{noun}"
    if noun == "人" and not modifiers:  # 一个人, not 一位人
        head = head.replace("一位", "一个").replace("这位", "这个")
    if not clauses:
        return head + "。"
    if rng.random() < 0.5:
        return head + "，" + "，".join(clauses) + "。"
    return head + "。" + subject + "，".join(clauses) + "。"


def noun_clause(noun: str) -> str:
    """What is left to say of a noun once the age is said of the person: nothing for a bare noun."""
    return "" if noun in _BARE_NOUNS else f"是{noun}"


_BARE_NOUNS = frozenset(w for words in NOUN.values() for w in words)


# -------------------------------------------------------------------- parser
def _alternation(words) -> str:
    return "|".join(sorted((re.escape(w) for w in words), key=len, reverse=True))


def _lookup(table: Mapping, extra: Mapping[str, Sequence[str]] | None = None) -> dict[str, str]:
    out = {w: value for value, words in table.items() for w in words}
    for value, words in (extra or {}).items():
        out |= {w: value for w in words}
    return out


# wording the writer does not use but people do; all mapped to one schema value
_AGE_READ = _lookup(
    AGE,
    {
        "young": ("年轻", "二十几岁", "20多岁", "青年", "小伙子", "姑娘", "女孩", "男孩"),
        "adult": ("三十来岁", "四十多岁", "30多岁", "40多岁", "中年人", "成年人"),
        "senior": (
            "老人",
            "老年",
            "老先生",
            "老爷爷",
            "老大爷",
            "老奶奶",
            "老太太",
            "60多岁",
            "70多岁",
            "八十多岁",
        ),
    },
)
_AGE_READ |= {w: age for (_, age), words in AGED_NOUN.items() for w in words}
_EMOTION_READ = _lookup(
    EMOTION_ADJ,
    {
        "neutral": ("面无表情", "神情平静", "没什么表情", "冷静"),
        "happy": ("面带微笑", "笑眯眯", "笑得很开心", "微笑", "笑容", "愉快", "喜悦"),
        "sad": ("愁眉苦脸", "闷闷不乐", "不开心", "不高兴", "忧伤", "沮丧"),
        "angry": ("气呼呼", "怒气冲冲", "发火", "暴怒"),
        "surprised": ("目瞪口呆", "一脸惊讶", "震惊", "吓了一跳"),
    },
)
_HAIR_READ = _lookup(
    HAIR,
    {"black": ("黑头发",), "brown": ("棕头发", "栗色头发"), "blond": ("金头发",), "gray": ("白发", "白头发")},
)
_HAIR_COLOUR = _lookup(
    HAIR_COLOUR, {"black": ("黑",), "brown": ("棕",), "blond": ("金",), "gray": ("灰", "白", "银")}
)
_HAIR_COLOUR_RE = re.compile(rf"头发(?:是|为)?({_alternation(_HAIR_COLOUR)})色?的?")
_SKIN_READ = _lookup(SKIN, {"light": ("白皙",), "medium": ("小麦色", "橄榄色"), "dark": ("黝黑", "肤色较深")})
_HAIR_RE, _AGE_RE, _EMOTION_RE, _SKIN_RE = (
    re.compile(_alternation(table)) for table in (_HAIR_READ, _AGE_READ, _EMOTION_READ, _SKIN_READ)
)
_NEGATIVES = {  # checked (and removed) before the positive forms they contain
    "Eyeglasses": "没戴眼镜|不戴眼镜|没有戴眼镜|没有眼镜",
    "Beard": "没有胡子|胡子刮得很干净|不留胡子|没留胡子|没有胡须",
    "Wearing_Hat": "没戴帽子|不戴帽子|没有戴帽子|没有帽子",
}
_POSITIVES = {"Eyeglasses": "眼镜", "Beard": "胡子|胡须|络腮胡", "Wearing_Hat": "帽"}
_FEMALE = "女|她|姑娘|奶奶|太太|阿姨"
_MALE = "男|他|先生|爷爷|大爷|小伙|大叔"
# the traditional forms of the characters this vocabulary uses
_TRADITIONAL = str.maketrans(  # traditional -> simplified, for the characters this vocabulary uses
    "著鏡髮發鬍鬚須頭歲輕紀長氣驚訝詫異難過傷憤惱悶靜嚴開樂興膚麥較適黃紅銀這個畫臉帶頂鴨絡淨沒爺為們僅戲淚歡憂喪鬱厭聲蒼幾來裡",
    "着镜发发胡须须头岁轻纪长气惊讶诧异难过伤愤恼闷静严开乐兴肤麦较适黄红银这个画脸带顶鸭络净没爷为们仅戏泪欢忧丧郁厌声苍几来里",
)


def has_chinese(text: str) -> bool:
    return bool(re.search(r"[\u4e00-\u9fff]", text))


def parse_zh(text: str) -> dict[str, str]:
    """Attributes a Chinese description states, as schema strings; unstated or conflicting ones absent."""
    t = text.translate(_TRADITIONAL)
    out: dict[str, str] = {}
    female, male = bool(re.search(_FEMALE, t)), bool(re.search(_MALE, t))
    if female != male:
        out["Male"] = "1" if male else "0"
    hair = {_HAIR_COLOUR[m] for m in _HAIR_COLOUR_RE.findall(t)}
    rest = _HAIR_COLOUR_RE.sub("，", t)
    hair |= {_HAIR_READ[m] for m in _HAIR_RE.findall(rest)}
    rest = _HAIR_RE.sub("，", rest)  # 白发 must not read as a skin, 黑发 as 黝黑
    for name, values in (
        ("hair_color", hair),
        ("age_group", {_AGE_READ[m] for m in _AGE_RE.findall(rest)}),
        ("emotion", {_EMOTION_READ[m] for m in _EMOTION_RE.findall(rest)}),
        ("skin_tone", {_SKIN_READ[m] for m in _SKIN_RE.findall(rest)}),
    ):
        if len(values) == 1:
            out[name] = next(iter(values))
    return out | binary_cues(t, _NEGATIVES, _POSITIVES, "，")


def binary_cues(text: str, negatives: Mapping[str, str], positives: Mapping[str, str], blank: str) -> dict:
    """{name: "1" or "0"} for each yes/no attribute `text` states one way only: its negative forms
    ("no hat", 没戴帽子) are found and blanked out first, since they contain the positive ones."""
    out = {}
    for name, negative in negatives.items():
        stripped = re.sub(negative, blank, text)
        has_neg, has_pos = stripped != text, bool(re.search(positives[name], stripped))
        if has_neg != has_pos:
            out[name] = "1" if has_pos else "0"
    return out


FUNCTION_WORDS = ("的", "很", "看起来", "神情", "留着", "头发是", "有着", "戴着", "一位", "这是")


def _lexicon() -> frozenset[str]:
    words = set(FUNCTION_WORDS) | set(PRONOUN.values()) | set(OPENINGS)
    tables = (NOUN, AGED_NOUN, AGE, EMOTION_ADJ, EMOTION_PHRASE, HAIR, HAIR_COLOUR, SKIN, GLASSES, BEARD, HAT)
    for table in tables:
        words |= {w for ws in table.values() for w in ws}
    return frozenset(words | set(_AGE_READ) | set(_EMOTION_READ) | set(_HAIR_READ) | set(_SKIN_READ))


# Every word this module writes or reads: what a Chinese description is segmented into (anything else
# falls back to single characters).
LEXICON = _lexicon()
_LONGEST = max(map(len, LEXICON))  # no segmenter's word is longer: they are all lexicon words


def segment(text: str, words: AbstractSet[str] = LEXICON) -> list[str]:
    """Greedy longest-match word segmentation over `words` (a subset of the lexicon), after mapping
    traditional characters to simplified; other Chinese characters stand alone, a run of Latin
    letters or digits is one token, whitespace separates."""
    t = text.translate(_TRADITIONAL)
    out, i = [], 0
    while i < len(t):
        if t[i].isspace():
            i += 1
            continue
        lengths = range(min(_LONGEST, len(t) - i), 1, -1)
        word = next((t[i : i + n] for n in lengths if t[i : i + n] in words), None)
        if word is None and t[i].isascii() and t[i].isalnum():
            j = i
            while j < len(t) and t[j].isascii() and t[j].isalnum():
                j += 1
            word = t[i:j].lower()
        word = word or t[i]
        out.append(word)
        i += len(word)
    return out
