import numpy as np

from mmdemo.data import augment


def _face():
    rng = np.random.default_rng(0)
    img = np.full((64, 64, 3), 90, np.uint8)
    img[16:48, 20:44] = (200, 150, 120)
    return (img + rng.integers(0, 10, img.shape)).astype(np.uint8)


def test_image_augmentation_is_pure_seeded_and_bounded():
    img = _face()
    before = img.copy()
    a = augment.augment_image(img, np.random.default_rng(3))
    b = augment.augment_image(img, np.random.default_rng(3))
    c = augment.augment_image(img, np.random.default_rng(4))
    assert np.array_equal(img, before)  # input untouched
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.shape == img.shape and a.dtype == np.uint8
    # a mild augmentation: the image still correlates with the original
    corr = np.corrcoef(img.astype(float).ravel(), a.astype(float).ravel())[0, 1]
    flipped = np.corrcoef(img[:, ::-1].astype(float).ravel(), a.astype(float).ravel())[0, 1]
    assert max(corr, flipped) > 0.5


def test_flip_and_no_op_settings():
    img = _face()
    rng = np.random.default_rng(0)
    same = augment.augment_image(img, rng, max_rotation=0, scale=(1, 1), max_shift=0, flip_p=0, jitter=0)
    assert np.abs(same.astype(int) - img.astype(int)).max() <= 2  # only hue rounding
    flipped = augment.augment_image(img, rng, max_rotation=0, scale=(1, 1), max_shift=0, flip_p=1, jitter=0)
    assert np.abs(flipped.astype(int) - img[:, ::-1].astype(int)).max() <= 2


def test_audio_augmentation():
    t = np.arange(16000) / 16000
    wave = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    out = augment.augment_audio(wave, np.random.default_rng(0))
    assert out.dtype == np.float32 and np.abs(out).max() <= 1.0
    assert 0.75 * 16000 < len(out) < 1.3 * 16000
    assert np.array_equal(out, augment.augment_audio(wave, np.random.default_rng(0)))


def test_speed_shift_and_noise():
    wave = np.linspace(-0.5, 0.5, 1000).astype(np.float32)
    assert len(augment.change_speed(wave, 1.05)) == round(1000 / 1.05)
    assert len(augment.change_speed(wave, 0.95)) == round(1000 / 0.95)
    shifted = augment.time_shift(wave, 100)
    assert len(shifted) == 1100 and not shifted[:100].any()
    assert np.array_equal(augment.time_shift(wave, -100), wave[100:])
    noisy = augment.add_noise(wave, np.random.default_rng(0), snr_db=20)
    snr = 10 * np.log10(np.mean(wave**2) / np.mean((noisy - wave) ** 2))
    assert 18 < snr < 22


def test_text_augmentation_keeps_stated_attributes():
    from mmdemo.synth.descriptions import parse_description

    attrs = {
        "Male": "1",
        "age_group": "senior",
        "emotion": "sad",
        "hair_color": "gray",
        "Eyeglasses": "1",
        "Beard": "1",
        "Wearing_Hat": "0",
        "skin_tone": "dark",
    }
    mentions = ("Male", "emotion", "hair_color")
    rng = np.random.default_rng(0)
    texts = [
        augment.augment_text(attrs, mentions, "A sad man with gray hair.", rng, dropout_p=0)
        for _ in range(20)
    ]
    assert len(set(texts)) > 3
    assert all(parse_description(t) == {"Male": "1", "emotion": "sad", "hair_color": "gray"} for t in texts)
    dropped = augment.word_dropout("one two three four five six seven eight", np.random.default_rng(0), p=0.5)
    assert 0 < len(dropped.split()) < 8
    assert augment.word_dropout("single", np.random.default_rng(0), p=1.0) == "single"
