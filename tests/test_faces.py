"""The procedural face renderer: shape, determinism, and that every attribute shows where it should."""

import numpy as np
import pytest

from mmdemo.synth.faces import FaceIdentity, FaceNuisance, render_face

BASE = {
    "Male": "1",
    "age_group": "adult",
    "emotion": "neutral",
    "hair_color": "brown",
    "Eyeglasses": "0",
    "Beard": "0",
    "Wearing_Hat": "0",
    "skin_tone": "medium",
}

# Boxes (y0, y1, x0, x1) on the 128x128 neutral-pose image where a flipped attribute must show.
# Male changes the whole person (hair, face, build), so it has a test of its own below.
FLIPS = [
    ("age_group", "senior", (30, 105, 30, 98)),
    ("emotion", "happy", (40, 105, 30, 98)),  # mouth, cheeks, eyes and brows
    ("emotion", "sad", (40, 105, 30, 98)),
    ("hair_color", "blond", (0, 70, 20, 108)),
    ("Eyeglasses", "1", (48, 72, 24, 104)),
    ("Beard", "1", (68, 118, 28, 100)),
    ("Wearing_Hat", "1", (0, 60, 0, 128)),
    ("skin_tone", "dark", (30, 105, 30, 98)),
]


def _person(seed=0, attrs=BASE):
    return FaceIdentity.sample(attrs, np.random.default_rng(seed))


def _changed(a, b, threshold=12):
    return np.abs(a.astype(int) - b.astype(int)).max(axis=2) > threshold


def test_shape_dtype_and_size():
    ident, nuisance = _person(), FaceNuisance.sample(np.random.default_rng(1))
    img = render_face(BASE, ident, nuisance)
    assert img.shape == (128, 128, 3) and img.dtype == np.uint8
    assert render_face(BASE, ident, nuisance, size=64).shape == (64, 64, 3)
    assert 40 < img.mean() < 230 and img.std() > 20  # a picture, not a blank


def test_deterministic_for_equal_inputs():
    a = render_face(BASE, _person(3), FaceNuisance.sample(np.random.default_rng(4)))
    b = render_face(dict(BASE), _person(3), FaceNuisance.sample(np.random.default_rng(4)))
    assert a.tobytes() == b.tobytes()
    c = render_face(BASE, _person(5), FaceNuisance.sample(np.random.default_rng(4)))
    assert not np.array_equal(a, c)  # another person with the same attributes looks different


@pytest.mark.parametrize("name,value,box", FLIPS, ids=[f"{n}={v}" for n, v, _ in FLIPS])
def test_every_attribute_changes_its_region(name, value, box):
    ident, neutral = _person(2), FaceNuisance.neutral()
    before = render_face(BASE, ident, neutral)
    after = render_face({**BASE, name: value}, ident, neutral)
    changed = _changed(before, after)
    y0, y1, x0, x1 = box
    inside = changed[y0:y1, x0:x1].sum()
    assert inside >= 40, f"{name}={value} changed only {inside} pixels in its region"
    assert inside >= 0.8 * changed.sum(), f"{name}={value} changed mostly outside {box}"


@pytest.mark.parametrize("seed", [0, 3, 6], ids=["long-hair", "bob", "ponytail"])
def test_male_changes_face_and_build_but_not_the_background(seed):
    """Flipping Male must change the face itself (not only the hairstyle) and the shoulders,
    and nothing beside the head: the person changes, the frame does not."""
    ident, neutral = _person(seed), FaceNuisance.neutral()
    changed = _changed(render_face(BASE, ident, neutral), render_face({**BASE, "Male": "0"}, ident, neutral))
    face = changed[56:92, 42:86].sum()  # eyes to mouth, inside any hairstyle's side locks
    assert face >= 150, f"Male changed only {face} pixels between the eyes and the mouth"
    for side, cols in (("left", slice(0, 20)), ("right", slice(108, 128))):
        shoulder = changed[112:, cols].sum()
        assert shoulder >= 20, f"Male changed only {shoulder} pixels of the {side} shoulder"
    beside = changed[:100, :12].sum() + changed[:100, 116:].sum()  # background left and right of the head
    assert beside == 0, f"Male changed {beside} background pixels beside the head"


def test_hair_stays_visible_under_a_hat():
    ident = _person(2)
    neutral = FaceNuisance.neutral()
    hat = {**BASE, "Wearing_Hat": "1"}
    black, blond = (render_face({**hat, "hair_color": c}, ident, neutral) for c in ("black", "blond"))
    assert _changed(black, blond)[40:70].sum() > 40  # sides of the head, below the hat


def test_beard_only_for_men():
    ident, neutral = _person(2), FaceNuisance.neutral()
    woman = {**BASE, "Male": "0"}
    assert np.array_equal(
        render_face(woman, ident, neutral), render_face({**woman, "Beard": "1"}, ident, neutral)
    )


def test_nuisance_varies_the_sample_not_the_person():
    ident = _person(6)
    neutral = render_face(BASE, ident, FaceNuisance.neutral())
    sampled = [render_face(BASE, ident, FaceNuisance.sample(np.random.default_rng(s))) for s in (7, 8)]
    assert not np.array_equal(neutral, sampled[0]) and not np.array_equal(sampled[0], sampled[1])
    # still the same framing: the sampled pose moves the face by a few pixels at most
    centre = (slice(44, 84), slice(44, 84))
    assert np.abs(neutral[centre].astype(int) - sampled[0][centre].astype(int)).mean() < 40


def test_int_and_string_binary_values_agree():
    ident, nuisance = _person(9), FaceNuisance.sample(np.random.default_rng(9))
    as_str = {**BASE, "Eyeglasses": "1", "Beard": "1", "Wearing_Hat": "0"}
    as_int = {**as_str, "Male": 1, "Eyeglasses": 1, "Beard": 1, "Wearing_Hat": 0}
    assert np.array_equal(render_face(as_str, ident, nuisance), render_face(as_int, ident, nuisance))


def test_missing_or_empty_attributes_take_defaults():
    ident, neutral = _person(), FaceNuisance.neutral()
    full = render_face(BASE, ident, neutral)
    partial = {k: v for k, v in BASE.items() if k not in ("Eyeglasses", "Wearing_Hat")}
    assert np.array_equal(full, render_face({**partial, "skin_tone": "medium", "Beard": ""}, ident, neutral))


def test_bad_value_raises_value_error_naming_it():
    with pytest.raises(ValueError, match="emotion"):
        render_face({**BASE, "emotion": "bored"}, _person(), FaceNuisance.neutral())


def test_sampled_nuisance_stays_in_range():
    for seed in range(200):
        n = FaceNuisance.sample(np.random.default_rng(seed))
        assert abs(n.rotation_deg) <= 6 and abs(n.shift_x) <= 4 and abs(n.shift_y) <= 4
        assert 0.93 <= n.scale <= 1.06 and 0 <= n.noise_sigma <= 2
