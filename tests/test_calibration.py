"""The calibration fitted after training: the latent mixture new people are sampled from, and the curves
that turn two inputs' cosine into the probability that they are one person."""

import numpy as np
import pytest
import torch

from mmdemo.checkpoint import CheckpointError
from mmdemo.evaluation.calibrate import (
    calibrate_checkpoint,
    fit_mixture,
    fit_pair,
    pair_features,
    pair_scores,
    sample_precision_recall,
)
from mmdemo.inference.calibration import (
    CALIBRATION_FILE,
    Calibration,
    PairCalibration,
    attribute_llr,
    verdict,
)
from mmdemo.inference.model import load_model
from mmdemo.schema import ATTRIBUTES, NAMES, VOICE_ATTRIBUTES


def test_mismatched_pairs_never_pair_a_person_with_themself():
    ids = ["a", "a", "b", "c", "d", "e", "f", "g"]  # two samples of person a
    singles = {
        m: torch.randn(len(ids), 16, generator=torch.Generator().manual_seed(i)) for i, m in enumerate("xy")
    }
    features, same = pair_features(singles, ids, ("x", "y"), seed=3)
    cos = features[:, 0]
    assert (
        same[: len(ids)].all() and len(cos) == len(same) and not features[:, 1].any()
    )  # no attributes given
    x, y = (torch.nn.functional.normalize(singles[m], dim=-1) for m in "xy")
    np.testing.assert_allclose(cos[: len(ids)], (x * y).sum(-1).numpy(), atol=1e-6)
    # every mismatched cosine is one of x_i . y_j with i, j of different people
    cross = (x @ y.T).numpy()
    different = np.array([[p != q for q in ids] for p in ids])
    for c in cos[len(ids) :]:
        hits = np.isclose(cross, c, atol=1e-6)
        assert (hits & different).any() and not (hits & ~different).any()
    assert 6 <= (same == 0).sum() <= len(ids)


def test_a_fitted_curve_turns_separated_cosines_into_sure_probabilities():
    rng = np.random.default_rng(0)
    cos = np.concatenate([rng.normal(0.5, 0.1, 400), rng.normal(0.0, 0.1, 400)])
    same = np.concatenate([np.ones(400), np.zeros(400)])
    curve = fit_pair(cos, same)
    assert curve.probability(0.5) > 0.95 and curve.probability(0.0) < 0.05
    assert 0.3 < curve.probability(0.25) < 0.7  # halfway between them is a coin toss
    scores = pair_scores(cos[:, None], same, curve)
    assert scores["auc"] > 0.99 and scores["accuracy"] > 0.95 and scores["brier"] < 0.05
    # cosines that say nothing give a curve that says "unsure" everywhere
    flat = fit_pair(rng.normal(0.2, 0.1, 800), same)
    assert all(0.35 < flat.probability(c) < 0.65 for c in (-0.2, 0.2, 0.6))
    assert verdict(0.9) == "agree" and verdict(0.5) == "unsure" and verdict(0.1) == "disagree"


def test_the_attribute_ratio_rewards_agreeing_on_a_rare_value_and_punishes_a_contradiction():
    prior = [np.array([0.5, 0.5]) for _ in ATTRIBUTES]
    prior[NAMES.index("emotion")] = np.array([0.9, 0.1])  # a rare second value

    def reading(**values):
        """Sure readings of the given attributes (value index), the prior for every other one."""
        return [
            np.array([np.eye(2)[values[a.name]] if a.name in values else prior[i]])
            for i, a in enumerate(ATTRIBUTES)
        ]

    def llr(a, b, pair="image-text"):
        return float(attribute_llr(a, b, prior, pair)[0])

    assert llr(reading(), reading()) == pytest.approx(0.0)  # nothing read: no evidence either way
    rare, common = llr(reading(emotion=1), reading(emotion=1)), llr(reading(emotion=0), reading(emotion=0))
    assert rare == pytest.approx(np.log(10)) and common == pytest.approx(np.log(1 / 0.9))
    assert llr(reading(emotion=1), reading(emotion=0)) < -10  # sure of two different values
    # a voice is compared on its own three attributes only: a contradiction elsewhere does not count
    hair = NAMES.index("hair_color")
    assert llr(reading(hair_color=0), reading(hair_color=1), "image-voice") == pytest.approx(0.0)
    assert ATTRIBUTES[hair].name not in VOICE_ATTRIBUTES


def test_the_mixture_finds_the_clusters_and_samples_where_the_latents_are():
    rng = np.random.default_rng(1)
    centres = rng.normal(0, 4, (4, 8))

    def draw(n):
        return (centres[rng.integers(0, 4, n)] + rng.normal(0, 0.5, (n, 8))).astype(np.float32)

    mixture, record = fit_mixture(draw(2000), draw(500), seed=0)
    assert record["components"] >= 4  # one Gaussian explains four clusters worst
    assert record["val_log_likelihood"][4] > record["val_log_likelihood"][1] + 2
    z = mixture.sample(4000, torch.Generator().manual_seed(0)).numpy()
    nearest = np.linalg.norm(z[:, None] - centres[None], axis=-1).min(1)
    assert np.median(nearest) < 1.5  # N(0, I) draws would sit ~8 away from every centre
    shares = np.bincount(np.linalg.norm(z[:, None] - centres[None], axis=-1).argmin(1), minlength=4) / len(z)
    assert shares.min() > 0.15  # each cluster drawn about as often as the data holds it (0.25)


def test_precision_falls_for_draws_off_the_data_and_recall_for_draws_that_miss_part_of_it():
    rng = np.random.default_rng(4)
    centres = rng.normal(0, 6, (4, 8))

    def draw(n, clusters=4, offset=0.0):
        return centres[rng.integers(0, clusters, n)] + rng.normal(0, 0.5, (n, 8)) + offset

    real = draw(400)
    precision, recall = sample_precision_recall(real, draw(400))
    assert precision > 0.8 and recall > 0.8
    off, _ = sample_precision_recall(real, draw(400, offset=3.0))  # between the clusters, not on them
    assert off < 0.2
    _, partial = sample_precision_recall(real, draw(400, clusters=1))  # one kind of person of four
    assert 0.15 < partial < 0.35


def test_calibration_round_trips_and_a_broken_file_is_refused(tmp_path):
    mixture, _ = fit_mixture(
        np.random.default_rng(2).normal(size=(400, 6)).astype(np.float32),
        np.random.default_rng(3).normal(size=(100, 6)).astype(np.float32),
    )
    cal = Calibration(mixture, {"image-voice": PairCalibration(6.0, -1.5)}, {"data": ["x"]})
    cal.save(tmp_path)
    back = Calibration.load(tmp_path)
    assert back.record == {"data": ["x"]} and back.pairs["image-voice"].slope == pytest.approx(6.0)
    assert torch.equal(back.mixture.means, mixture.means)
    assert back.same_person({"image-voice": 0.25, "text-voice": 0.9}) == {"image-voice": pytest.approx(0.5)}
    assert Calibration.load(tmp_path / "nowhere") is None and Calibration.load(None) is None
    (tmp_path / CALIBRATION_FILE).write_bytes(b"\x00" * 20)
    with pytest.raises(CheckpointError, match="corrupt"):
        Calibration.load(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [CALIBRATION_FILE]  # no temporary left behind


def test_a_calibrated_tiny_model_samples_from_its_mixture_and_says_how_sure_a_pair_is(
    tiny_checkpoint, tiny_data, tmp_path
):
    import shutil

    folder = tmp_path / "ckpt"
    shutil.copytree(tiny_checkpoint, folder)
    (folder / CALIBRATION_FILE).unlink(missing_ok=True)  # the app's fixture may have calibrated it
    before = load_model(folder, "cpu")
    assert before.calibration is None
    with pytest.raises(ValueError, match="calibrate"):
        before.sample_latents(2, prior="mixture")
    record = calibrate_checkpoint(folder, [tiny_data], device="cpu")
    assert record["mixture"]["components"] in (1, 4, 8, 16, 32, 64)
    assert set(record["pairs_val"]) == {"image-text", "image-voice", "text-voice"}
    model = load_model(folder, "cpu")
    z = model.sample_latents(500, torch.Generator().manual_seed(0))
    assert torch.allclose(
        z.mean(0), model.calibration.mixture.weights @ model.calibration.mixture.means, atol=0.3
    )
    assert not torch.allclose(z.std(0), torch.ones(z.shape[1]), atol=0.2)  # not N(0, I)
    from mmdemo.data.loaders import load_audio, load_image, open_samples

    s = next(s for s in open_samples(tiny_data, "test") if s.image and s.text and s.audio)
    a = model.analyze(image=load_image(s), text=s.text, voice=(16000, load_audio(s)))
    assert set(a.same_person) == set(a.agreement) == {"image-text", "image-voice", "text-voice"}
    for pair, p in a.same_person.items():
        cosine_alone = model.calibration.pairs[pair].probability(a.agreement[pair])
        assert 0 < p < 1 and p != pytest.approx(cosine_alone)  # the attributes read alone weigh in
    assert model.calibration.attribute_prior is not None
    with pytest.raises(ValueError, match="prior"):
        model.sample_latents(2, prior="uniform")


def test_the_model_card_states_what_the_calibration_rests_on(tmp_path):
    from mmdemo.serving.model_card import model_card

    assert "Uncalibrated" in model_card(tmp_path, {}, 10, reads_real=False)
    cal = Calibration(
        None,
        {"image-voice": PairCalibration(6.0, -1.5)},
        {
            "val_people": 613,
            "train_people": 4766,
            "mixture": {"components": 32},
            "pairs_val": {
                "image-voice": {"cos_matched": 0.48, "cos_mismatched": -0.02, "auc": 0.959, "brier": 0.075}
            },
        },
    )
    cal.save(tmp_path)
    card = model_card(tmp_path, {}, 10, reads_real=False)
    assert (
        "| face-voice | 0.48 | -0.02 | 0.959 | 0.959 | 0.075 |" in card
    )  # a record from before: cosine alone
    assert "613 people" in card and "32-component" in card and "4766 training people" in card
