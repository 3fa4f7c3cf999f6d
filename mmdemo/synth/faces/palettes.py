"""The fixed tables the face renderer draws from: the reference frame every coordinate is
written in, the skin, hair, eye, frame, hat and background colours, the hair styles of each
gender and the eye and brow geometry of each emotion. Data only: it imports nothing from the
package, so the identity, the pen and the drawing can all read it.
"""

Colour = tuple[float, float, float]
REF = 256.0  # the reference frame every coordinate below is written in

SKIN: dict[str, Colour] = {"light": (240, 208, 184), "medium": (196, 144, 100), "dark": (118, 80, 54)}
HAIR: dict[str, Colour] = {
    "black": (30, 26, 24),
    "brown": (104, 64, 36),
    "blond": (226, 190, 118),
    "red": (184, 70, 30),
    "gray": (176, 176, 178),
}
GRAY_STRAND: Colour = (214, 214, 216)
EYE_COLOURS: tuple[Colour, ...] = ((92, 60, 36), (52, 38, 28), (78, 118, 168), (88, 124, 80), (132, 100, 56))
# Frames are darker than any skin tone, so they always read as frames.
FRAME_COLOURS: tuple[Colour, ...] = (
    (18, 18, 20),
    (74, 42, 24),
    (58, 62, 70),
    (104, 22, 36),
    (24, 36, 84),
    (26, 62, 46),
)
FEMALE_STYLES = (
    ("long_middle", 0.25),
    ("long_fringe", 0.45),
    ("long_side", 0.62),
    ("bob", 0.82),
    ("ponytail", 1.0),
)
MALE_STYLES = (("crew", 0.35), ("side_part", 0.6), ("textured", 0.8), ("swept", 1.0))

# Per emotion (reference pixels). Eyes: upper-lid height at the inner and outer third, lower-lid
# height, outer-corner drop, iris scale. Brows: lift (negative = up), extra at the inner and
# outer ends, arch.
_EMO_KEYS = ("up_in", "up_out", "lo", "drop", "iris", "lift", "inner", "outer", "arch")
EMOTION: dict[str, dict[str, float]] = {
    name: dict(zip(_EMO_KEYS, values))
    for name, values in {
        "neutral": (7.0, 7.0, 5.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0),
        "happy": (5.5, 5.5, -1.0, -1.5, 1.0, -2.0, 0.0, 0.0, 1.0),
        "sad": (5.0, 1.5, 4.0, 4.5, 1.0, -1.0, -11.0, 4.0, -3.0),
        "angry": (2.5, 5.5, 3.5, -1.5, 1.0, 2.0, 10.0, -3.0, -1.0),
        "surprised": (11.0, 11.0, 9.0, 0.0, 0.8, -11.0, 0.0, 0.0, 5.0),
    }.items()
}
HAT_COLOURS: tuple[Colour, ...] = (
    (28, 30, 36),
    (30, 46, 96),
    (172, 36, 40),
    (86, 98, 50),
    (210, 190, 150),
    (120, 122, 128),
    (36, 112, 122),
    (222, 120, 40),
    (110, 40, 90),
)
PLAIN_BACKGROUND: Colour = (212, 218, 226)
BG_KINDS: tuple[str, ...] = ("flat", "gradient", "stripes", "blotches")
