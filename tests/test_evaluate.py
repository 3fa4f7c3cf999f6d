"""The evaluation against known answers: a model whose every output is the truth scores 1, one whose
outputs belong to other people scores chance, identical images and embeddings score perfectly, and
each generated output is judged from its own decoder alone. Stand-ins replace the network and the
judges (they look the truth up), so the figures are exact and the tests take seconds."""

import json

import numpy as np
import pytest
import torch

from mmdemo.data.loaders import Sample
from mmdemo.evaluation import evaluate as ev
from mmdemo.evaluation import provenance as prov
from mmdemo.evaluation.judges import (
    Evaluator,
    FaceClassifier,
    VoiceClassifier,
    judge_accuracy,
    train_evaluator,
)
from mmdemo.inference.model import Reading
from mmdemo.model.chinese_text import BilingualTextEncoder
from mmdemo.schema import ATTRIBUTES, NAMES, VOICE_ATTRIBUTES, to_indices
from mmdemo.synth.descriptions import applicable_attributes, describe
from mmdemo.synth.generator import sample_attributes

TYPES, PEOPLE_PER_TYPE, SAMPLES_PER_PERSON = 24, 5, 2  # 12 samples share each attribute set (>= k = 10)


def _people(seed: int = 0) -> ev.TestSet:
    """240 samples: 24 attribute sets x 5 people x 2 samples, each with its own random face and voice
    (a voice's first sample is its row number, so the stand-in judge can read it)."""
    rng = np.random.default_rng(seed)
    types = []
    while len(types) < TYPES:
        attrs = sample_attributes(rng)
        if attrs not in types:
            types.append(attrs)
    samples, images, waves = [], [], []
    for t, attrs in enumerate(types):
        for p in range(PEOPLE_PER_TYPE):
            for _ in range(SAMPLES_PER_PERSON):
                i = len(samples)
                text, mentions = describe(attrs, rng)
                samples.append(
                    Sample(f"{i:04d}", "test", f"t{t}p{p}", None, text, None, dict(attrs), mentions)
                )
                images.append(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
                waves.append(np.concatenate([[i, -1], rng.normal(0, 0.1, 64)]).astype(np.float32))
    return ev.TestSet(samples, np.stack(images), [s.text for s in samples], waves)


def _embeddings(ts: ev.TestSet) -> torch.Tensor:
    """Same attributes >> same person >> same sample: cosine neighbours share attributes, then person."""
    n, kinds = len(ts.samples), sorted({s.person_id[: s.person_id.index("p")] for s in ts.samples})
    people = sorted({s.person_id for s in ts.samples})
    e = torch.zeros(n, len(kinds) + len(people) + n)
    for i, s in enumerate(ts.samples):
        e[i, kinds.index(s.person_id[: s.person_id.index("p")])] = 1.0
        e[i, len(kinds) + people.index(s.person_id)] = 0.1
        e[i, len(kinds) + len(people) + i] = 0.01
    return e


class StandInModel:
    """The methods `measure` uses. Each output names the person nearest the latent, then hands back
    that row of `perm[output]` (identity: the truth; a permutation: someone else's)."""

    def __init__(self, ts: ev.TestSet, perm: dict | None = None, seed: int = 0):
        self.ts, self.e, self.perm = ts, _embeddings(ts), perm or {}
        self.config = type("Config", (), {"latent_dim": self.e.shape[1]})()
        self.rng = np.random.default_rng(seed)
        self.emotions_given: list = []
        self.calibration = None
        self.text_encoder = BilingualTextEncoder(english=None)  # no Chinese encoder: no Chinese figure

    def _rows(self, output: str, z: torch.Tensor) -> np.ndarray:
        nearest = torch.nn.functional.normalize(z, dim=-1) @ torch.nn.functional.normalize(self.e, dim=-1).T
        rows = nearest.argmax(1).numpy()
        return self.perm.get(output, np.arange(len(self.e)))[rows]

    def read(self, inputs, subsets, *, batch_size=256):
        assert len(inputs) == len(self.e)
        return {
            tuple(s): Reading(self.e[self.perm.get(f"embed/{'+'.join(s)}", np.arange(len(self.e)))])
            for s in subsets
        }

    def predict_attributes(self, mu, evidence=None):
        return [dict(self.ts.samples[i].attrs) for i in self._rows("attributes", mu)]

    def sample_latents(self, n, generator=None, *, prior="auto"):
        if prior == "normal":
            return torch.randn(n, self.config.latent_dim, generator=generator)
        assert prior == "mixture" and self.calibration is not None
        return self.calibration.mixture.sample(n, generator)

    def decode_images(self, z, private=None):
        return self.ts.images[self._rows("image", z)]

    def decode_texts(self, z):
        rows = self._rows("text", z)
        return [
            describe(self.ts.samples[i].attrs, self.rng, applicable_attributes(self.ts.samples[i].attrs))[0]
            for i in rows
        ]

    def render_voices(self, z, phrase="Hello.", emotions=None):
        """An emotion passed in is spoken into the clip (as eSpeak's intonation would carry it)."""
        self.emotions_given.append(emotions)
        waves = [self.ts.waves[i].copy() for i in self._rows("voice", z)]
        for w, e in zip(waves, emotions or [None] * len(waves)):
            if e is not None:
                w[1] = ATTRIBUTES[2].values.index(e)
        return waves


class StandInJudge(Evaluator):
    """Knows each face and voice of the test set and names its true attributes."""

    def __init__(self, ts: ev.TestSet, info: dict | None = None):
        self.ts, self.info = ts, info or {}
        self.faces = {im.tobytes(): s.attrs for im, s in zip(ts.images, ts.samples)}

    def face_attributes(self, images, batch_size=256):
        return [dict(self.faces[im.tobytes()]) for im in images]

    def voice_attributes(self, waves):
        out = []
        for w in waves:
            attrs = {n: self.ts.samples[int(w[0])].attrs[n] for n in VOICE_ATTRIBUTES}
            if w[1] >= 0:
                attrs["emotion"] = ATTRIBUTES[2].values[int(w[1])]
            out.append(attrs)
        return out


def _chance(ts: ev.TestSet, names=NAMES) -> float:
    """Expected accuracy of answers drawn from the truth's own distribution (sum of squared shares)."""
    shares = []
    for n in names:
        values = [s.attrs[n] for s in ts.samples if n in s.attrs]
        _, counts = np.unique(values, return_counts=True)
        shares.append(float(((counts / counts.sum()) ** 2).sum()))
    return float(np.mean(shares))


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """The stand-ins' small tensors gain nothing from threads, and on a busy machine lose a lot."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def ts():
    return _people()


def test_a_model_that_returns_the_truth_scores_one(ts):
    metrics, preds = ev.measure(StandInModel(ts), StandInJudge(ts), ts)
    for key, value in metrics.items():
        if key.endswith("/ceiling"):
            continue  # a property of the data, not of the model (tested below)
        if key.startswith("recon/image/psnr"):
            assert value >= 100  # losses.psnr floors the MSE at 1e-10: identical images give its cap
        else:
            assert value == pytest.approx(1.0), key
    assert preds["truth"] == [s.attrs for s in ts.samples]


def test_a_model_that_returns_someone_else_scores_chance(ts):
    rng = np.random.default_rng(1)
    outputs = ["attributes", "image", "text", "voice", *(f"embed/{s}" for s in ("image", "text", "voice"))]
    perm = {o: rng.permutation(len(ts.samples)) for o in outputs}
    metrics, _ = ev.measure(StandInModel(ts, perm), StandInJudge(ts), ts)
    chance_all, chance_voice = _chance(ts), _chance(ts, VOICE_ATTRIBUTES)
    assert chance_all < 0.6 and chance_voice < 0.5
    assert abs(metrics["attr_acc/image"] - chance_all) < 0.1
    assert abs(metrics["coherence/voice->image"] - chance_voice) < 0.1
    assert abs(metrics["coherence/image->voice"] - chance_voice) < 0.1
    assert abs(metrics["coherence/image->text"] - chance_all) < 0.1
    assert metrics["coherence/joint"] < 0.7
    # 12 of 240 samples share a query's attributes: a random top 10 holds about 0.05 of them.
    assert metrics["retrieval/voice->image/p@10"] < 0.2 and metrics["retrieval/image->image/r@1"] < 0.1
    assert metrics["recon/image/psnr"] < 10 and metrics["recon/image/ssim"] < 0.1


def test_each_output_is_judged_from_its_own_decoder(ts):
    """A perfect attribute head and text decoder cannot lift a voice decoder that knows nothing: no
    voice is rendered with an emotion taken from them (which would score 0.6 here)."""
    rng = np.random.default_rng(2)
    model = StandInModel(ts, {"voice": rng.permutation(len(ts.samples))})
    metrics, _ = ev.measure(model, StandInJudge(ts), ts)
    assert metrics["attr_acc/image"] == 1.0 and metrics["coherence/image->text"] == 1.0
    assert abs(metrics["coherence/image->voice"] - _chance(ts, VOICE_ATTRIBUTES)) < 0.1
    assert model.emotions_given and all(e is None for e in model.emotions_given)
    assert metrics["coherence/joint"] < 0.8  # face and text agree; the voice agrees with neither


def test_new_people_are_judged_as_the_app_draws_them_and_from_n01_beside(ts):
    """`coherence/joint` judges the people "sample new people" gives (a calibrated checkpoint's latent
    mixture), `coherence/joint/normal` those of N(0, I); uncalibrated, the two are one figure."""
    n = len(ts.samples)
    voice = np.random.default_rng(3).permutation(n)
    voice[voice == 0], voice[0] = voice[0], 0  # voices are strangers', except the first sample's own
    model = StandInModel(ts, {"voice": voice})
    plain, _ = ev.measure(model, StandInJudge(ts), ts)
    assert plain["coherence/joint"] == plain["coherence/joint/normal"] < 0.8

    class OnFirstPerson:  # a mixture whose every draw is the first person's embedding
        def sample(self, k, generator):
            return model.e[:1].repeat(k, 1)

    calibration = {"mixture": OnFirstPerson(), "pairs": {}, "attribute_prior": None}
    model.calibration = type("Calibration", (), calibration)()
    drawn, _ = ev.measure(model, StandInJudge(ts), ts)
    assert drawn["coherence/joint"] == 1.0
    assert drawn["coherence/joint/normal"] == plain["coherence/joint/normal"]


def test_reconstruction_of_identical_images_is_perfect(ts):
    out = ev._reconstruction(StandInModel(ts), ts.images, _embeddings(ts))
    assert out["recon/image/ssim"] == pytest.approx(1.0) and out["recon/image/psnr"] >= 100
    model = StandInModel(ts, {"image": np.roll(np.arange(len(ts.samples)), 1)})
    noisy = ev._reconstruction(model, ts.images, _embeddings(ts))
    assert noisy["recon/image/psnr"] < 10 and noisy["recon/image/ssim"] < 0.1


def test_retrieval_with_identical_embeddings_is_perfect(ts):
    e = _embeddings(ts)
    out = ev._retrieval(ts.samples, {"image": e, "text": e, "voice": e})
    assert out == {
        "retrieval/text->image/p@10": 1.0,
        "retrieval/text->image/p@10/ceiling": 1.0,
        "retrieval/voice->image/p@10": 1.0,
        "retrieval/voice->image/p@10/ceiling": 1.0,
        "retrieval/image->image/r@1": 1.0,
    }
    shuffled = e[np.random.default_rng(3).permutation(len(e))]
    assert (
        ev._retrieval(ts.samples, {"image": e, "text": shuffled, "voice": shuffled})[
            "retrieval/text->image/p@10"
        ]
        < 0.3
    )


def _person(i: int, mentions=(), **attrs) -> Sample:
    return Sample(f"s{i}", "test", f"p{i}", None, None, None, attrs, tuple(mentions))


def test_the_ceilings_count_the_queries_and_pairs_no_scorer_can_get_right():
    # four people; only 0 and 1 share a voice (gender, age, emotion); 0's description names only
    # the gender, which 2 shares too
    voices = [("1", "adult", "happy"), ("1", "adult", "happy"), ("1", "young", "sad"), ("0", "senior", "sad")]
    people = [
        _person(i, ("Male",) if i == 0 else NAMES, Male=m, age_group=a, emotion=e, hair_color=f"h{i}")
        for i, (m, a, e) in enumerate(voices)
    ]
    # a query is answered by the faces with every attribute it names (itself included); with four
    # people the top k is the top 4: 0's description by 0, 1 and 2 (3 of 4), the others by themselves
    out = ev._retrieval(people, {m: torch.eye(4) for m in ("image", "text", "voice")})
    assert out["retrieval/text->image/p@10/ceiling"] == pytest.approx((3 / 4 + 3 * 1 / 4) / 4)
    assert out["retrieval/voice->image/p@10/ceiling"] == pytest.approx((2 / 4 + 2 / 4 + 1 / 4 + 1 / 4) / 4)
    # pairs of two people's inputs that agree on all both show tie with every matched pair (AUC 1/2)
    # wherever the shuffle pairs them
    alike = [
        _person(i, ("hair_color",), Male="1", age_group="adult", emotion="sad", hair_color=f"h{i}")
        for i in range(4)
    ]
    assert ev._agreement_ceiling(alike, ("image", "voice"), seed=3) == 0.5  # one voice for all four
    assert ev._agreement_ceiling(alike, ("text", "voice"), seed=3) == 0.5  # no description names it
    assert ev._agreement_ceiling(alike, ("image", "text"), seed=3) == 1.0  # each names its own hair
    assert ev._agreement_ceiling(people[1:], ("image", "voice"), seed=3) == 1.0  # three voices
    # 0 and 1 share a voice, 2's is its own: whichever way the shuffle cycles through the three, one
    # mismatched pair is 0 and 1, which ties with their matched pairs (ratio 3/2) and loses to 2's
    # rarer one (ratio 3): 8 of 9 (matched, mismatched) comparisons are won, not 1 - 1/3 / 2
    for seed in range(4):
        assert ev._agreement_ceiling(people[:3], ("image", "voice"), seed) == pytest.approx(8 / 9)


def test_accuracy_is_a_mean_over_attributes_of_the_scored_rows():
    truth = [{"Male": "1", "emotion": "sad"}, {"Male": "0", "emotion": "sad"}, {"Male": "0"}]
    pred = [{"Male": "1", "emotion": "happy"}, {"Male": "1", "emotion": "sad"}, {"Male": "0"}]
    # Male: 2 of 3; emotion: 1 of 2 (the third row does not label it); a name not scored is ignored.
    assert ev._accuracy(pred, truth, [["Male", "emotion"]] * 3) == pytest.approx((2 / 3 + 1 / 2) / 2)
    assert ev._accuracy(pred, truth, [["Male"], ["Male"], ["Male"]]) == pytest.approx(2 / 3)


def test_the_ceiling_is_reported_next_to_the_coherence(ts):
    info = {
        "ceiling": {"image": {"mean": 0.97}, "voice": {"mean": 0.88}, "voice_neutral_phrase": {"mean": 0.8}}
    }
    metrics, _ = ev.measure(StandInModel(ts), StandInJudge(ts, info), ts)
    assert metrics["evaluator/image_acc"] == 0.97 and metrics["evaluator/voice_acc"] == 0.88
    assert metrics["evaluator/voice_acc_neutral_phrase"] == 0.8
    keys = list(metrics)
    assert keys[keys.index("evaluator/image_acc") - 1].startswith("coherence/joint")


# ------------------------------------------------------------------ the judges
def test_judge_accuracy_against_known_answers(ts):
    images = ts.images[:40]
    labels = np.array([to_indices(s.attrs) for s in ts.samples[:40]])
    labels[:20, NAMES.index("skin_tone")] = -1  # unlabelled rows are not scored
    waves = ts.waves[:40]
    voice_labels = labels[:, [NAMES.index(n) for n in VOICE_ATTRIBUTES]]
    perfect = judge_accuracy(StandInJudge(ts), images, labels, waves, voice_labels)
    assert perfect["image"]["mean"] == 1.0 and perfect["voice"]["mean"] == 1.0
    assert perfect["image"]["rows"] == 40 and set(perfect["voice"]) == {*VOICE_ATTRIBUTES, "mean", "rows"}
    wrong = labels.copy()
    wrong[:10, 0] = 1 - wrong[:10, 0]  # Male wrong on a quarter of the rows
    result = judge_accuracy(StandInJudge(ts), images, wrong, [], np.zeros((0, 3)))
    assert result["image"]["Male"] == 0.75 and "voice" not in result
    assert result["image"]["mean"] == pytest.approx((0.75 + 7) / 8)


def test_evaluator_round_trip_keeps_judgements_and_provenance(tmp_path):
    torch.manual_seed(0)
    info = {"trained_on": {"data": "x", "fingerprint": "sha256:ab"}, "ceiling": {"image": {"mean": 0.5}}}
    evaluator = Evaluator(FaceClassifier(), VoiceClassifier(), torch.device("cpu"), info)
    evaluator.save(tmp_path / "ev")
    loaded = Evaluator.load(tmp_path / "ev", torch.device("cpu"))
    images = np.random.default_rng(0).integers(0, 256, (6, 64, 64, 3), dtype=np.uint8)
    assert loaded.face_attributes(images) == evaluator.face_attributes(images)
    assert loaded.info == info
    assert json.loads((tmp_path / "ev" / "config.json").read_text())["format"] == 1


def test_the_judges_learn_what_they_are_shown():
    """Faces whose colour and voices whose pitch say Male: held-out ones are judged right (an
    untrained or broken judge would score about half). Small faces keep it to a second."""
    rng = np.random.default_rng(0)
    male = rng.integers(0, 2, 320)
    images = np.zeros((320, 32, 32, 3), np.uint8)
    images[male == 1, :, :, 0] = 200
    images[male == 0, :, :, 2] = 200
    images = np.clip(images + rng.integers(0, 40, images.shape), 0, 255).astype(np.uint8)
    labels = np.full((320, len(ATTRIBUTES)), -1)
    labels[:, 0] = male
    t = np.arange(4800) / 16000
    waves = [
        (0.3 * np.sin(2 * np.pi * (120 if m else 230) * t) + rng.normal(0, 0.02, t.size)).astype(np.float32)
        for m in male
    ]
    voice_labels = np.full((320, len(VOICE_ATTRIBUTES)), -1)
    voice_labels[:, 0] = male
    judge = train_evaluator(images[:256], labels[:256], waves[:256], voice_labels[:256], epochs=2)
    result = judge_accuracy(judge, images[256:], labels[256:], waves[256:], voice_labels[256:])
    assert result["image"]["Male"] > 0.95 and result["voice"]["Male"] > 0.95


# ------------------------------------------------------------------ provenance and refusal
def test_fingerprint_ignores_row_order_and_sees_any_change(tmp_path):
    rows = ["id,split\n", "a,train\n", "b,test\n"]
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / "metadata.csv").write_text("".join(rows))
    (tmp_path / "two").mkdir()
    (tmp_path / "two" / "metadata.csv").write_text("".join([rows[0], rows[2], rows[1]]))
    (tmp_path / "three").mkdir()
    (tmp_path / "three" / "metadata.csv").write_text("".join([rows[0], rows[1], "b,train\n"]))
    one, two, three = (prov.data_fingerprint(tmp_path / n) for n in ("one", "two", "three"))
    assert one == two != three and one.startswith("sha256:")


def _checkpoint_without_evaluator(tmp_path, data: str):
    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"data": data}))
    return folder


def test_missing_training_data_is_refused_with_what_to_do(tmp_path):
    folder = _checkpoint_without_evaluator(tmp_path, str(tmp_path / "gone"))
    with pytest.raises(ValueError, match="--train-evaluator-on-data") as err:
        prov.ensure_evaluator(folder, tmp_path / "other", torch.device("cpu"))
    assert "gone" in str(err.value) and "python -m mmdemo data" in str(err.value)
    assert not (folder / "evaluator").exists()


@pytest.mark.slow
def test_allowed_other_data_trains_and_records_it(tmp_path, tiny_data, monkeypatch):
    """With the flag, the evaluator is trained on the given data's train split, and its config.json
    names that data and the judges' accuracy on its test split."""
    seen = {}

    def quick(images, image_labels, waves, voice_labels, **_):
        seen["rows"] = (len(images), len(waves))
        return Evaluator(FaceClassifier(), VoiceClassifier(), torch.device("cpu"))

    monkeypatch.setattr(prov, "train_evaluator", quick)
    folder = _checkpoint_without_evaluator(tmp_path, str(tmp_path / "gone"))
    evaluator = prov.ensure_evaluator(folder, tiny_data, torch.device("cpu"), allow_other_data=True)
    config = json.loads((folder / "evaluator" / "config.json").read_text())
    trained = config["trained_on"]
    assert trained["data"] == str(tiny_data) and trained["split"] == "train"
    assert trained["fingerprint"] == prov.data_fingerprint(tiny_data)
    assert (trained["rows"]["image"], trained["rows"]["voice"]) == seen["rows"]
    assert config["ceiling"]["split"] == "test" and 0 <= config["ceiling"]["image"]["mean"] <= 1
    assert 0 <= config["ceiling"]["voice_neutral_phrase"]["mean"] <= 1
    assert prov.evaluator_ceiling(evaluator)["evaluator/voice_acc"] == config["ceiling"]["voice"]["mean"]
