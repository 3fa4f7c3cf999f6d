"""Tests for mmdemo.synth.voices: parameter design, phrases and eSpeak NG synthesis."""

import os
import re
import subprocess
import sys
import threading

import numpy as np
import pytest

from mmdemo.schema import BY_NAME
from mmdemo.synth import voices as V
from mmdemo.synth.contract import median_f0

ATTRIBUTE_WORDS = {
    "male",
    "female",
    "man",
    "woman",
    "men",
    "women",
    "boy",
    "girl",
    "he",
    "she",
    "his",
    "her",
    "young",
    "old",
    "older",
    "adult",
    "senior",
    "elderly",
    "age",
    "aged",
    "years",
    "happy",
    "glad",
    "joy",
    "sad",
    "unhappy",
    "angry",
    "mad",
    "furious",
    "surprised",
    "surprise",
    "wow",
    "oh",
    "neutral",
    "calm",
    "emotion",
    "feel",
    "feeling",
    "upset",
    "excited",
}


def typical(**attrs) -> V.VoiceParams:
    return V.voice_params(attrs, V.sample_person_voice(attrs, None), None)


PHRASE = "I am recording this message."


def test_variants_exist_in_bundled_data():
    import espeakng_loader

    folder = os.path.join(espeakng_loader.get_data_path(), "voices", "!v")
    for name in V.VARIANTS:
        assert os.path.isfile(os.path.join(folder, name)), name
    assert set(V.FEMALE_VARIANTS).isdisjoint(V.MALE_VARIANTS)


def test_voice_params_roundtrip_and_validation():
    p = V.VoiceParams("f3", 60, 170, 40, 100)
    d = p.to_dict()
    assert d == {
        "voice_variant": "f3",
        "voice_pitch": 60,
        "voice_rate": 170,
        "voice_range": 40,
        "voice_volume": 100,
    }
    assert V.VoiceParams.from_dict(d) == p
    assert V.VoiceParams.from_dict({k: str(v) for k, v in d.items()}) == p  # CSV strings
    plain = dict(variant="f3", pitch=60, rate=170, range=40, volume=100)
    assert V.VoiceParams.from_dict(plain) == p
    for bad in [
        dict(variant="x9"),
        dict(pitch=101),
        dict(rate=50),
        dict(range=-1),
        dict(volume=201),
        dict(pitch=50.5),
    ]:
        (name,) = bad  # the refusal names the field at fault
        with pytest.raises(ValueError, match=rf"voice {name}\b"):
            V.VoiceParams(**{**plain, **bad})
    with pytest.raises(ValueError, match="voice_volume"):
        V.VoiceParams.from_dict({k: v for k, v in d.items() if k != "voice_volume"})


def test_phrases_are_neutral_and_short():
    assert 20 <= len(V.PHRASES) <= 40 and len(set(V.PHRASES)) == len(V.PHRASES)
    for phrase in V.PHRASES:
        words = set(re.findall(r"[a-z']+", phrase.lower()))
        assert not words & ATTRIBUTE_WORDS, phrase
        assert 4 <= len(phrase.split()) <= 8, phrase


def test_params_follow_the_design():
    rng = np.random.default_rng(0)
    for male in ("0", "1"):
        person = V.sample_person_voice({"Male": male}, rng)
        assert person.variant in (V.MALE_VARIANTS if male == "1" else V.FEMALE_VARIANTS)
    young, senior = typical(Male=0, age_group="young"), typical(Male=0, age_group="senior")
    assert young.pitch > senior.pitch and young.rate > senior.rate
    assert typical(Male=0).pitch > typical(Male=1).pitch
    emo = {e: typical(Male=1, emotion=e) for e in BY_NAME["emotion"].values}
    assert emo["angry"].volume > emo["happy"].volume > emo["neutral"].volume > emo["sad"].volume
    assert emo["surprised"].range > emo["happy"].range > emo["neutral"].range > emo["sad"].range
    assert emo["sad"].rate < emo["neutral"].rate < emo["angry"].rate
    assert typical(Male=1) == typical(Male=1, age_group="adult", emotion="neutral")  # defaults


def test_params_are_seeded_and_jitter_is_small():
    attrs = {"Male": "1", "age_group": "senior", "emotion": "sad"}
    a = [V.voice_params(attrs, V.sample_person_voice(attrs, seed), seed) for seed in (7, 7, 8)]
    assert a[0] == a[1] and a[0] != a[2]
    rng = np.random.default_rng(3)
    person = V.sample_person_voice(attrs, rng)
    utterances = [V.voice_params(attrs, person, rng) for _ in range(50)]
    pitches = [p.pitch for p in utterances]
    assert max(pitches) - min(pitches) <= 5  # the age step is 12
    assert len(set(pitches)) > 1 and len({p.rate for p in utterances}) > 1  # but there is jitter


def test_params_reject_inconsistent_input():
    with pytest.raises(ValueError, match="Male"):
        V.voice_params({"age_group": "young"})
    with pytest.raises(ValueError, match="emotion"):
        V.voice_params({"Male": 1, "emotion": "bored"})
    female = V.sample_person_voice({"Male": 0}, 1)
    with pytest.raises(ValueError, match="does not match"):
        V.voice_params({"Male": 1}, female)


def test_emotion_text_sets_the_ending():
    assert V.emotion_text("Hello, this is my voice.", "surprised") == "Hello, this is my voice?"
    assert V.emotion_text("Hello, this is my voice.", "angry") == "Hello, this is my voice!"
    assert V.emotion_text("Hello, this is my voice", "sad") == "Hello, this is my voice..."
    assert V.emotion_text("Hello!", "neutral") == "Hello."


def test_synthesize_returns_plausible_audio():
    x = V.synthesize(PHRASE, typical(Male=0))
    assert x.dtype == np.float32 and x.ndim == 1
    assert 1.0 < len(x) / 16000 < 2.5
    assert 0.05 < np.abs(x).max() <= 1.0
    assert np.abs(x[:80]).max() < np.abs(x).max()  # trimmed, yet not cut mid-word
    assert np.isfinite(x).all()


def test_female_voices_are_higher_than_male():
    rng = np.random.default_rng(4)
    f0 = {}
    for male in ("0", "1"):
        values = []
        for _ in range(6):
            attrs = {"Male": male, "age_group": str(rng.choice(BY_NAME["age_group"].values))}
            p = V.voice_params(attrs, V.sample_person_voice(attrs, rng), rng)
            values.append(median_f0(V.synthesize(str(rng.choice(V.PHRASES)), p)))
        f0[male] = np.nanmean(values)
    assert f0["0"] > f0["1"] + 60, f0


def test_age_and_emotion_are_audible():
    young = V.synthesize(PHRASE, typical(Male=1, age_group="young"))
    senior = V.synthesize(PHRASE, typical(Male=1, age_group="senior"))
    assert median_f0(young) > median_f0(senior) * 1.2
    assert len(senior) > len(young) * 1.2
    angry = V.synthesize(V.emotion_text(PHRASE, "angry"), typical(Male=0, emotion="angry"))
    sad = V.synthesize(V.emotion_text(PHRASE, "sad"), typical(Male=0, emotion="sad"))
    assert np.sqrt((angry**2).mean()) > 2 * np.sqrt((sad**2).mean())


def test_synthesize_is_deterministic():
    p = typical(Male=0, emotion="happy")
    first = V.synthesize(PHRASE, p)
    V.synthesize("Something else entirely, to move the library's state on!", typical(Male=1, emotion="angry"))
    assert np.array_equal(first, V.synthesize(PHRASE, p))
    for variant in V.VARIANTS:  # breathy and rough variants too
        q = V.VoiceParams(variant, 50, 170, 50, 100)
        assert np.array_equal(V.synthesize(PHRASE, q), V.synthesize(PHRASE, q)), variant


def test_synthesize_is_thread_safe():
    jobs = [
        (phrase, V.VoiceParams(variant, 45, 170, 50, 110))
        for phrase, variant in zip(V.PHRASES[:8], V.VARIANTS)
    ]
    reference = [V.synthesize(*job) for job in jobs]
    results, errors = {}, []

    def work(worker: int) -> None:
        try:
            for i in np.random.default_rng(worker).permutation(len(jobs)):
                results[(worker, int(i))] = V.synthesize(*jobs[i])
        except Exception as err:  # surfaced below; a thread cannot fail the test itself
            errors.append(err)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 4 * len(jobs)
    for (_, i), x in results.items():
        assert np.array_equal(x, reference[i])


def test_synthesize_rejects_bad_input_and_recovers():
    p = typical(Male=1)
    for text in ("", "   "):
        with pytest.raises(ValueError, match="empty"):
            V.synthesize(text, p)
    with pytest.raises(ValueError, match="too long"):
        V.synthesize("word " * 500, p)
    with pytest.raises(ValueError, match="not an eSpeak language code"):
        V.synthesize(PHRASE, p, language="en-us+f2")
    with pytest.raises(ValueError, match="no voice"):
        V.synthesize(PHRASE, p, language="xx-nope")
    with pytest.raises(ValueError, match="params must be VoiceParams, got dict"):
        V.synthesize(PHRASE, p.to_dict())
    assert len(V.synthesize(PHRASE, p)) > 16000  # still works after the errors


def test_mandarin_voice():
    x = V.synthesize("你好，这是我的声音。", typical(Male=0), language="cmn")
    assert x.dtype == np.float32 and len(x) > 8000


def test_import_does_not_initialise_the_library():
    code = "import mmdemo.synth.voices as v; assert v._ENGINE is None; print('ok')"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr
