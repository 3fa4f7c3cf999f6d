"""English descriptions of a person from schema attributes, and the parser
that reads attributes back out of a description (Chinese ones: `descriptions_zh`).

`describe` writes natural sentences with many templates, synonyms and word
orders, and reports which attributes the sentence states (`text_mentions`).
`parse_description` is the inverse used to score generated text: it must
recover exactly the stated attributes of every sentence `describe` can write
(a test checks this over thousands of samples).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence

import numpy as np

from mmdemo.schema import NAMES, normalise
from mmdemo.synth.descriptions_zh import binary_cues, describe_zh, has_chinese, parse_zh

LANGUAGES = ("en", "zh")

# ---------------------------------------------------------------- vocabulary
# Each synonym list maps to exactly one schema value; the parser below uses the
# same lists, so a word added here is understood both ways.
AGE_ADJ = {
    "young": ("young", "youthful"),
    "adult": ("middle-aged", "adult", "grown-up"),
    "senior": ("older", "elderly", "senior", "old", "aged"),
}
AGE_DECADE = {
    "young": ("twenties", "early twenties", "late twenties"),
    "adult": ("thirties", "forties", "late thirties", "early forties"),
    "senior": ("sixties", "seventies", "eighties", "late sixties"),
}
NOUN = {"0": ("woman", "lady"), "1": ("man", "gentleman", "guy"), None: ("person", "individual")}
EMOTION_ADJ = {
    "neutral": ("calm", "composed", "expressionless", "neutral-looking", "serious"),
    "happy": ("happy", "cheerful", "smiling", "joyful", "beaming"),
    "sad": ("sad", "unhappy", "gloomy", "downcast", "sorrowful"),
    "angry": ("angry", "furious", "irate", "annoyed", "enraged"),
    "surprised": ("surprised", "astonished", "amazed", "startled", "shocked"),
}
EXPRESSION_NOUN = {
    "neutral": ("neutral", "blank", "calm"),
    "happy": ("happy", "joyful", "cheerful"),
    "sad": ("sad", "sorrowful", "gloomy"),
    "angry": ("angry", "furious"),
    "surprised": ("surprised", "astonished"),
}
HAIR = {
    "black": ("black", "jet-black", "raven"),
    "brown": ("brown", "chestnut", "brunette"),
    "blond": ("blond", "blonde", "golden"),
    "red": ("red", "ginger", "auburn", "copper"),
    "gray": ("gray", "grey", "silver"),
}
SKIN = {"light": ("light", "pale", "fair"), "medium": ("olive", "medium", "tan"), "dark": ("dark", "ebony")}
PRONOUNS = {
    "0": ("she", "her", "is", "has", "looks", "wears"),
    "1": ("he", "his", "is", "has", "looks", "wears"),
    None: ("they", "their", "are", "have", "look", "wear"),
}

# Binary accessories: (with-list items, clause predicates, adjective), per value.
GLASSES = {
    "1": (("glasses", "spectacles", "a pair of glasses"), ("{wear} glasses",), "bespectacled"),
    "0": (("no glasses",), ("{wear} no glasses",), None),
}
BEARD = {
    "1": (("a beard", "a full beard", "a thick beard"), ("{has} a beard",), "bearded"),
    "0": (("no beard",), ("{is} clean-shaven",), "clean-shaven"),
}
HAT = {
    "1": (("a hat", "a cap"), ("{wear} a hat", "{is} wearing a cap"), None),
    "0": (("no hat",), ("{is} bare-headed",), "bare-headed"),
}

SUBSET_SHARE = 0.3  # share of descriptions that state only a random subset of the attributes


def _pick(rng: np.random.Generator, options: Sequence[str]) -> str:
    return options[int(rng.integers(len(options)))]


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def applicable_attributes(attrs: Mapping[str, str]) -> list[str]:
    """Attributes a description could state (a woman's missing beard is never remarked on)."""
    names = [n for n in NAMES if n in attrs]
    if attrs.get("Male") == "0":
        names.remove("Beard") if "Beard" in names else None
    return names


def choose_mentions(
    attrs: Mapping[str, str], rng: np.random.Generator, subset_share: float = SUBSET_SHARE
) -> tuple[str, ...]:
    """All applicable attributes, or (with probability subset_share) a random non-empty subset."""
    names = applicable_attributes(attrs)
    if len(names) > 1 and rng.random() < subset_share:
        k = int(rng.integers(1, len(names)))
        keep = set(rng.choice(names, size=k, replace=False).tolist())
        names = [n for n in names if n in keep]
    return tuple(names)


def describe(
    attrs: Mapping[str, str | int],
    rng: np.random.Generator,
    mentions: Sequence[str] | None = None,
    lang: str = "en",
) -> tuple[str, tuple[str, ...]]:
    """A description of `attrs` stating exactly `mentions` (chosen at random when None), in English
    ("en") or Chinese ("zh", `descriptions_zh`).

    Returns (sentence, mentions in schema order)."""
    if lang not in LANGUAGES:
        raise ValueError(f"lang must be one of {', '.join(LANGUAGES)}, not {lang!r}")
    a = normalise(attrs)
    if mentions is None:
        mentions = choose_mentions(a, rng)
    stated = set(mentions) & set(applicable_attributes(a))
    if not stated:
        raise ValueError("a description needs at least one attribute to state")
    sentence = describe_zh(a, stated, rng) if lang == "zh" else _Writer(a, stated, rng).sentence()
    return sentence, tuple(n for n in NAMES if n in stated)


class _Writer:
    """Builds one description: a subject phrase plus features in a with-list or clauses."""

    def __init__(self, attrs: dict[str, str], stated: set[str], rng: np.random.Generator):
        self.a, self.stated, self.rng = attrs, stated, rng
        gender = attrs["Male"] if "Male" in stated else None
        self.subj, self.poss, *verbs = PRONOUNS[gender]
        self.verbs = dict(zip(("is", "has", "look", "wear"), verbs))
        self.noun = _pick(rng, NOUN[gender])

    def sentence(self) -> str:
        rng, adjs, items, clauses = self.rng, [], [], []
        if "emotion" in self.stated:
            self._place_emotion(adjs, items, clauses)
        age_clause = None
        if "age_group" in self.stated:
            age = self.a["age_group"]
            if rng.random() < 0.25:
                age_clause = f"in {self.poss} {_pick(rng, AGE_DECADE[age])}"
            else:
                adjs.append(_pick(rng, AGE_ADJ[age]))
        for name in ("hair_color", "skin_tone", "Eyeglasses", "Beard", "Wearing_Hat"):
            if name in self.stated:
                self._place_feature(name, adjs, items, clauses)
        return self._assemble(adjs, age_clause, items, clauses)

    def _place_emotion(self, adjs, items, clauses) -> None:
        emotion, roll = self.a["emotion"], self.rng.random()
        if roll < 0.45:
            adjs.append(_pick(self.rng, EMOTION_ADJ[emotion]))
        elif roll < 0.75:
            clauses.append(f"{self.verbs['look']} {_pick(self.rng, EMOTION_ADJ[emotion])}")
        else:
            word = _pick(self.rng, EXPRESSION_NOUN[emotion])
            items.append(f"{_article(word)} {word} expression")

    def _place_feature(self, name: str, adjs, items, clauses) -> None:
        rng, value, roll = self.rng, self.a[name], self.rng.random()
        if name in ("hair_color", "skin_tone"):
            word = _pick(rng, (HAIR if name == "hair_color" else SKIN)[value])
            part = "hair" if name == "hair_color" else "skin"
            if roll < 0.15:
                adjs.append(f"{word}-{'haired' if part == 'hair' else 'skinned'}")
            elif roll < 0.7:
                items.append(f"{word} {part}")
            else:
                clauses.append(f"{self.verbs['has']} {word} {part}")
            return
        table = {"Eyeglasses": GLASSES, "Beard": BEARD, "Wearing_Hat": HAT}[name]
        with_items, predicates, adjective = table[value]
        if adjective and roll < 0.15:
            adjs.append(adjective)
        elif roll < 0.65:
            items.append(_pick(rng, with_items))
        else:
            clauses.append(_pick(rng, predicates).format(**self.verbs))

    def _assemble(self, adjs, age_clause, items, clauses) -> str:
        rng = self.rng
        rng.shuffle(items)
        rng.shuffle(clauses)
        adjs = _order_adjectives(adjs)
        head = " ".join([*adjs, self.noun])
        np_ = f"{_article(head)} {head}" + (f" {age_clause}" if age_clause else "")
        with_part = f" with {_join(items)}" if items else ""
        style = int(rng.integers(4))
        if style == 0 or not (items or clauses):
            text = f"{np_}{with_part}."
        elif style == 1:
            text = f"this is {np_}{with_part}."
        elif style == 2 and items:
            text = f"portrait of {np_}: {', '.join(items)}."
        else:
            text = f"{np_}{with_part}." if style != 3 else f"a photo of {np_}{with_part}."
        if clauses:
            text += f" {self.subj} {_join(clauses)}."
        return _capitalise_sentences(text)


def _order_adjectives(adjs: list[str]) -> list[str]:
    """Opinion/emotion words before age before colour-compounds, as English orders them."""

    def rank(word: str) -> int:
        if any(word in v for v in EMOTION_ADJ.values()):
            return 0
        if any(word in v for v in AGE_ADJ.values()):
            return 1
        return 2

    return sorted(adjs, key=rank)


def _join(parts: Sequence[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _capitalise_sentences(text: str) -> str:
    return re.sub(r"(^|[.!?]\s+)([a-z])", lambda m: m.group(1) + m.group(2).upper(), text)


# -------------------------------------------------------------------- parser
def _alternation(words) -> str:
    return "|".join(sorted((re.escape(w) for w in words), key=len, reverse=True))


def _lookup(table: Mapping[str, Sequence[str]]) -> dict[str, str]:
    return {w: value for value, words in table.items() for w in words}


_NEGATIVES = {  # checked (and removed) before the positive forms they contain
    "Eyeglasses": r"\bno glasses\b|\bwithout glasses\b|\bwears? no glasses\b",
    "Beard": r"\bno beard\b|\bclean-shaven\b|\bwithout a beard\b|\bbeardless\b",
    "Wearing_Hat": r"\bno hat\b|\bbare-headed\b|\bwithout a hat\b|\bhatless\b",
}
_POSITIVES = {
    "Eyeglasses": r"\bglasses\b|\bspectacles\b|\bbespectacled\b",
    "Beard": r"\bbeard\b|\bbearded\b",
    "Wearing_Hat": r"\bhat\b|\bcap\b|\bbeanie\b",
}
_HAIR_RE = re.compile(rf"\b({_alternation(_lookup(HAIR))})(?:\s+hair\b|-haired\b)")
_SKIN_RE = re.compile(rf"\b({_alternation(_lookup(SKIN))})(?:\s+skin\b|-skinned\b)")
_DECADE_RE = re.compile(rf"\bin (?:his|her|their) ({_alternation(_lookup(AGE_DECADE))})\b")
_AGE_RE = re.compile(rf"\b({_alternation(_lookup(AGE_ADJ))})\b")
_EMOTION_RE = re.compile(rf"\b({_alternation(_lookup(EMOTION_ADJ) | _lookup(EXPRESSION_NOUN))})\b")
_FEMALE_RE = re.compile(r"\b(woman|lady|girl|she|her)\b")
_MALE_RE = re.compile(r"\b(man|gentleman|guy|boy|he|his)\b")


def parse_description(text: str) -> dict[str, str]:
    """Attributes a description states (English, Chinese or a mix), as schema strings; unstated ones
    are absent. Conflicting cues (e.g. both "he" and "she", or 他 and "she") leave that attribute out."""
    if not has_chinese(text):
        return _parse_english(text)
    chinese, english = parse_zh(text), _parse_english(text)
    both = {n: v for n, v in chinese.items() if english.get(n, v) == v}
    return {n: both.get(n, english.get(n)) for n in NAMES if n in both or (n in english and n not in chinese)}


def in_chinese(description: str) -> str:
    """The same statements in Chinese: the attributes `description` states, written by `describe_zh`
    (the wording drawn from a seed the text fixes, so one description always gives one translation).
    What it does not state stays unstated; a description stating nothing comes back as it was."""
    stated = parse_description(description)
    if not stated:
        return description
    return describe_zh(stated, set(stated), wording_rng(description))


def wording_rng(text: str) -> np.random.Generator:
    """A generator seeded by `text`: a rewriting of one text always picks the same wording."""
    return np.random.default_rng(
        int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")
    )


def _parse_english(text: str) -> dict[str, str]:
    t = " " + text.lower() + " "
    out: dict[str, str] = {}
    female, male = bool(_FEMALE_RE.search(t)), bool(_MALE_RE.search(t))
    if female != male:
        out["Male"] = "1" if male else "0"
    decade = _DECADE_RE.search(t)
    t_no_decade = _DECADE_RE.sub(" ", t)
    ages = {_lookup(AGE_ADJ)[m] for m in _AGE_RE.findall(t_no_decade)}
    if decade:
        ages.add(_lookup(AGE_DECADE)[decade.group(1)])
    for name, words, pattern in (
        ("age_group", ages, None),
        ("emotion", None, _EMOTION_RE),
        ("hair_color", None, _HAIR_RE),
        ("skin_tone", None, _SKIN_RE),
    ):
        if pattern is not None:
            table = {
                "emotion": _lookup(EMOTION_ADJ) | _lookup(EXPRESSION_NOUN),
                "hair_color": _lookup(HAIR),
                "skin_tone": _lookup(SKIN),
            }[name]
            words = {table[m] for m in pattern.findall(t_no_decade)}
        if len(words) == 1:
            out[name] = next(iter(words))
    return out | binary_cues(t, _NEGATIVES, _POSITIVES, " ")
