"""The attribute schema: names, values, which modality can observe each, and
conversions between attribute dictionaries and integer class indices.

The names are CelebA-compatible (see DESIGN.md); everything else in the
package reads the schema from here, never from literals of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from itertools import combinations

MODALITIES: tuple[str, ...] = ("image", "text", "voice")
SPLITS: tuple[str, ...] = ("train", "val", "test")  # a dataset's splits, by person


def subsets_of(available: tuple[str, ...] | list[str]) -> list[tuple[str, ...]]:
    """Every non-empty subset of `available`, singles first, each in MODALITIES order."""
    ordered = [m for m in MODALITIES if m in available]
    return [c for k in range(1, len(ordered) + 1) for c in combinations(ordered, k)]


# The seven input subsets the model is trained, evaluated and embedded under.
SUBSETS: tuple[tuple[str, ...], ...] = tuple(subsets_of(MODALITIES))


def subset_name(subset: tuple[str, ...] | list[str]) -> str:
    """("image", "text") -> "image+text", the key used in metrics and tables."""
    return "+".join(subset)


@dataclass(frozen=True)
class Attribute:
    name: str
    values: tuple[str, ...]  # class labels, index = class id
    observable_from: tuple[str, ...]  # modalities that carry this attribute

    @property
    def binary(self) -> bool:
        return self.values == ("0", "1")

    def index(self, value: str | int) -> int:
        """Class id of `value`; raises ValueError naming the attribute."""
        text = str(value).strip()
        if text not in self.values:
            raise ValueError(
                f"{self.name}={value!r} is not a known value; expected one of {', '.join(self.values)}"
            )
        return self.values.index(text)


ATTRIBUTES: tuple[Attribute, ...] = (
    Attribute("Male", ("0", "1"), ("image", "text", "voice")),
    Attribute("age_group", ("young", "adult", "senior"), ("image", "text", "voice")),
    Attribute("emotion", ("neutral", "happy", "sad", "angry", "surprised"), ("image", "text", "voice")),
    Attribute("hair_color", ("black", "brown", "blond", "red", "gray"), ("image", "text")),
    Attribute("Eyeglasses", ("0", "1"), ("image", "text")),
    Attribute("Beard", ("0", "1"), ("image", "text")),
    Attribute("Wearing_Hat", ("0", "1"), ("image", "text")),
    Attribute("skin_tone", ("light", "medium", "dark"), ("image", "text")),
)
BY_NAME: dict[str, Attribute] = {a.name: a for a in ATTRIBUTES}
NAMES: tuple[str, ...] = tuple(a.name for a in ATTRIBUTES)
# how many values each attribute has: the widths of its slice of the attribute logits, in schema order
ATTRIBUTE_SIZES: tuple[int, ...] = tuple(len(a.values) for a in ATTRIBUTES)
VOICE_ATTRIBUTES: tuple[str, ...] = tuple(a.name for a in ATTRIBUTES if "voice" in a.observable_from)

# Age ranges behind each age group (years), used by the renderer and descriptions.
AGE_RANGES: dict[str, tuple[int, int]] = {"young": (18, 30), "adult": (31, 55), "senior": (56, 85)}

UNKNOWN = -1  # class id of an attribute a sample does not label (e.g. CelebA has no skin tone)


def observable(modality: str) -> tuple[str, ...]:
    """Attribute names that a given modality carries."""
    if modality not in MODALITIES:
        raise ValueError(f"unknown modality {modality!r}; expected one of {', '.join(MODALITIES)}")
    return tuple(a.name for a in ATTRIBUTES if modality in a.observable_from)


def to_indices(attrs: Mapping[str, str | int | None]) -> list[int]:
    """Attribute dict -> class ids in schema order; missing or empty -> UNKNOWN."""
    out = []
    for a in ATTRIBUTES:
        value = attrs.get(a.name)
        out.append(UNKNOWN if value is None or str(value).strip() == "" else a.index(value))
    return out


def from_indices(indices) -> dict[str, str | int]:
    """Class ids in schema order -> attribute dict (binary attributes as int 0/1)."""
    out: dict[str, str | int] = {}
    for a, i in zip(ATTRIBUTES, indices):
        i = int(i)
        if i == UNKNOWN:
            continue
        out[a.name] = int(a.values[i]) if a.binary else a.values[i]
    return out


def normalise(attrs: Mapping[str, str | int]) -> dict[str, str]:
    """Attribute dict with every value as its schema string ("0"/"1" for binary)."""
    return {k: BY_NAME[k].values[BY_NAME[k].index(v)] for k, v in attrs.items() if k in BY_NAME}


def celeba_view(attrs: Mapping[str, str | int]) -> dict[str, int]:
    """CelebA-style binary attributes derived from the schema (Young, Smiling, No_Beard ...)."""
    a = normalise(attrs)
    out: dict[str, int] = {}
    if "Male" in a:
        out["Male"] = int(a["Male"])
    if "age_group" in a:
        out["Young"] = int(a["age_group"] == "young")
    if "emotion" in a:
        out["Smiling"] = int(a["emotion"] == "happy")
    if "Beard" in a:
        out["No_Beard"] = 1 - int(a["Beard"])
    for name in ("Eyeglasses", "Wearing_Hat"):
        if name in a:
            out[name] = int(a[name])
    if "hair_color" in a:
        for colour in ("black", "brown", "blond", "gray"):
            out[f"{colour.capitalize()}_Hair"] = int(a["hair_color"] == colour)
    if "skin_tone" in a:
        out["Pale_Skin"] = int(a["skin_tone"] == "light")
    return out


# Named directions users can slide along: attribute, value to move towards.
DIRECTIONS = {
    "older": ("age_group", "senior"),
    "younger": ("age_group", "young"),
    "smiling": ("emotion", "happy"),
    "sad": ("emotion", "sad"),
    "angry": ("emotion", "angry"),
    "surprised": ("emotion", "surprised"),
    "glasses": ("Eyeglasses", "1"),
    "beard": ("Beard", "1"),
    "hat": ("Wearing_Hat", "1"),
    "male": ("Male", "1"),
    "female": ("Male", "0"),
    "gray hair": ("hair_color", "gray"),
    "red hair": ("hair_color", "red"),
    "blond hair": ("hair_color", "blond"),
    "dark skin": ("skin_tone", "dark"),
    "light skin": ("skin_tone", "light"),
}
