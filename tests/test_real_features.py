"""The frozen real-world extractors (dlib face features, GE2E speaker embedding), their cache, the
feature tokens in the fusion, and quiet speech being heard rather than refused."""

import shutil

import numpy as np
import pytest
import torch

from mmdemo.audio import raise_quiet_speech
from mmdemo.data.features import FeatureTable
from mmdemo.data.loaders import load_image, open_samples
from mmdemo.data.preprocess import prepare_audio, prepare_image
from mmdemo.extractors import face, speaker
from mmdemo.model.network import FusionAutoencoder, ModelConfig
from mmdemo.synth.contract import REQUIRED_COLUMNS
from mmdemo.synth.voices import VoiceParams, synthesize


# ------------------------------------------------------------------ speaker encoder
def test_speaker_mel_filters_are_librosas():
    """The encoder was trained on librosa's Slaney mel filters; these figures are librosa 0.11's
    `filters.mel(sr=16000, n_fft=400, n_mels=40)`."""
    fb = speaker.mel_filters().numpy()
    assert fb.shape == (201, 40)
    assert fb.sum() == pytest.approx(0.9994971752166748, rel=1e-5)
    assert fb[:, 0].max() == pytest.approx(0.012404520995914936, rel=1e-5)
    assert fb[:, 39].sum() == pytest.approx(0.02497875690460205, rel=1e-5)
    assert int(fb[:, 10].argmax()) == 20


def _espeak(variant: str, pitch: int, text: str) -> np.ndarray:
    return synthesize(text, VoiceParams(variant=variant, pitch=pitch, rate=170, range=50, volume=100))


def test_speaker_embedding_tells_voices_apart():
    a1 = speaker.embed_speech(_espeak("m3", 30, "The weather is lovely today, isn't it?"))
    a2 = speaker.embed_speech(_espeak("m3", 30, "I will meet you at the station at noon."))
    b1 = speaker.embed_speech(_espeak("f2", 80, "The weather is lovely today, isn't it?"))
    assert a1.shape == (speaker.EMBEDDING_DIM,) and np.linalg.norm(a1) == pytest.approx(1, abs=1e-5)
    # the same voice saying something else is nearer than another voice saying the same words
    assert float(a1 @ a2) > float(a1 @ b1) + 0.05


def test_speaker_embedding_ignores_loudness_and_handles_short_clips():
    clip = _espeak("m3", 30, "Hello there.")
    loud, quiet = speaker.embed_speech(clip), speaker.embed_speech(clip * 0.01)
    assert float(loud @ quiet) > 0.99
    assert np.isfinite(speaker.embed_speech(clip[:2000])).all()  # 0.125 s: one zero-padded window


# ------------------------------------------------------------------ quiet speech
def test_clips_embedded_together_are_embedded_as_each_alone():
    clips = [
        _espeak("m3", 30, "The weather is lovely today, isn't it?"),
        _espeak("f2", 80, "I will meet you at the station at noon, then we can walk to the old harbour."),
        _espeak("m1", 50, "Yes.")[:2000],  # one zero-padded window
    ]
    together = speaker.embed_speeches(clips, max_partials=3)  # more partials than one pass takes
    alone = np.stack([speaker.embed_speech(c) for c in clips])
    assert together.shape == (3, speaker.EMBEDDING_DIM)
    np.testing.assert_allclose(together, alone, atol=1e-5)
    assert speaker.embed_speeches([]).shape == (0, speaker.EMBEDDING_DIM)


def test_quiet_speech_is_amplified_not_refused():
    clip = _espeak("f2", 70, "Can you hear me from over here?")
    quiet = (clip / np.abs(clip).max() * 10 ** (-55 / 20)).astype(np.float32)  # a far microphone
    wave, notes = prepare_audio((16000, quiet))
    assert any("amplified" in n for n in notes)
    assert np.abs(wave).max() > 0.05
    loud_wave, loud_notes = prepare_audio((16000, clip))
    assert loud_notes == [] and np.array_equal(loud_wave, clip)  # normal recordings are untouched


def test_hiss_and_silence_are_still_refused():
    hiss = np.random.default_rng(0).normal(0, 10 ** (-55 / 20), 32000).astype(np.float32)
    assert raise_quiet_speech(hiss)[1] == 0.0
    for clip in (hiss, np.zeros(32000, np.float32)):
        with pytest.raises(ValueError, match="no voice detected"):
            prepare_audio((16000, clip))


# ------------------------------------------------------------------ face features
# copies of the shared tiny set start without its feature cache, which other tests' maps and
# embeddings fill: these tests each want an empty one
WITHOUT_CACHE = shutil.ignore_patterns("features")


@pytest.fixture(scope="module")
def faces(tiny_data):
    import cv2

    samples = [s for s in open_samples(tiny_data, "all") if s.image is not None][:12]
    return samples, [cv2.cvtColor(cv2.imread(str(s.image)), cv2.COLOR_BGR2RGB) for s in samples]


def test_face_detector_finds_a_real_face_and_its_landmarks():
    from skimage.data import astronaut  # a public-domain NASA portrait shipped inside scikit-image

    photo = astronaut()
    x, y, w, h = face.find_face(photo)
    assert 150 < x + w / 2 < 260 and 100 < y + h / 2 < 180  # Eileen Collins' face, upper middle
    reading = face.read_face(photo, (x, y, w, h))
    eyes = reading.landmarks[36:48]  # dlib's 68-point scheme: 36-47 are the eyes
    assert (eyes[:, 0] > x).all() and (eyes[:, 0] < x + w).all() and (eyes[:, 1] < y + h / 2 + 5).all()
    import cv2

    crop = photo[max(0, y - h // 4) : y + h + h // 8, x - w // 8 : x + w + w // 8]
    tiny = cv2.resize(crop, (48, 48), interpolation=cv2.INTER_AREA)  # like a 48-px expression crop
    assert face.find_face(tiny) is not None


def test_the_cnn_detector_finds_turned_faces_in_small_crops_that_hog_and_haar_miss():
    import cv2
    from skimage.data import astronaut

    from mmdemo.data.preprocess import detect_face, find_face_boxes

    photo = astronaut()
    x, y, w, h = face.find_face(photo)
    crop = photo[max(0, y - h // 4) : y + h + h // 8, x - w // 8 : x + w + w // 8]
    turn = cv2.getRotationMatrix2D((crop.shape[1] / 2, crop.shape[0] / 2), 45, 1.0)
    turned = cv2.warpAffine(crop, turn, crop.shape[1::-1], borderMode=cv2.BORDER_REPLICATE)
    tiny = cv2.resize(turned, (48, 48), interpolation=cv2.INTER_AREA)  # a 48-px crop, head tilted
    assert face.find_face(tiny) is None and detect_face(tiny) is None
    bx, by, bw, bh = face.find_face_in_small_crop(tiny)
    assert 28 <= bw <= 48 and abs(bx + bw / 2 - 24) < 8 and abs(by + bh / 2 - 24) < 8
    assert find_face_boxes(tiny)[1] == (bx, by, bw, bh)  # the app falls back to it
    big = cv2.resize(tiny, (400, 400))
    assert face.find_face_in_small_crop(big) is None  # too slow on large images: not tried


def test_a_camera_frame_without_a_face_is_searched_once(monkeypatch):
    """The edge-extended retry is for tight crops; on a live camera frame it would double the cost."""
    calls = []
    monkeypatch.setattr(face, "_detect", lambda rgb: calls.append(rgb.shape) or None)
    assert face.find_face(np.full((480, 640, 3), 128, np.uint8)) is None
    assert len(calls) == 1
    calls.clear()
    assert face.find_face(np.full((64, 64, 3), 128, np.uint8)) is None
    assert len(calls) == 2 and calls[1][0] > 64  # a small crop is retried with its edges extended


def test_face_features_of_synthetic_faces(faces):
    _, images = faces
    boxes = [face.find_face(im) for im in images]
    assert any(b is not None for b in boxes)  # HOG finds some cartoon faces; the rest are read whole
    for im, box in zip(images, boxes):
        reading = face.read_face(im, box)
        assert reading.features.shape == (face.FEATURE_DIM,) and np.isfinite(reading.features).all()
        assert reading.found == (box is not None) and reading.features[-1] == float(box is not None)
        h, w = im.shape[:2]
        inside = (reading.landmarks >= -0.1 * w) & (reading.landmarks <= 1.1 * w)
        assert inside.mean() > 0.95, "landmarks should sit on the face"


def test_prepared_image_keeps_the_photo_and_a_tight_box():
    from skimage.data import astronaut

    prepared = prepare_image(astronaut())
    assert prepared.face_found and prepared.image is not None
    x, y, w, h = prepared.tight_box
    bx, by, bw, bh = prepared.box
    assert bw > w and by < y  # the framing box is the cascade's: wider and higher than dlib's
    # the cascade also fires on the suit beside her, with a larger box: the face HOG found wins
    assert 150 < x + w / 2 < 260 and 100 < y + h / 2 < 180
    assert bx <= x + w / 2 <= bx + bw and by <= y + h / 2 <= by + bh


def test_feature_cache_computes_once_and_notices_changed_files(faces, tmp_path):

    samples, _ = faces
    root = samples[0].image.parents[1]
    copy = tmp_path / "data"
    shutil.copytree(root, copy, ignore=WITHOUT_CACHE)
    mine = [s for s in open_samples(copy, "all") if s.image is not None][:4]
    table = FeatureTable(copy, "face")
    assert table.update(mine) == 4
    assert FeatureTable(copy, "face").update(mine) == 0  # read back from disk, nothing to do
    again = FeatureTable(copy, "face")
    assert np.array_equal(again.get(mine[1].id), table.get(mine[1].id))
    flipped = load_image(mine[2], 128)[:, ::-1]
    import cv2

    cv2.imwrite(str(mine[2].image), cv2.cvtColor(np.ascontiguousarray(flipped), cv2.COLOR_RGB2BGR))
    assert again.update(mine) == 1
    assert not list((copy / "features").glob("*.tmp"))
    # worker processes (started afresh after this process has run torch) read the same faces
    pooled = FeatureTable(tmp_path / "pooled", "face")
    assert pooled.update(mine, workers=2) == 4
    for s in mine:
        assert np.allclose(pooled.get(s.id), again.get(s.id), atol=1e-5), s.id
        assert np.array_equal(pooled.framing[s.id], again.framing[s.id])


def test_a_folders_cache_is_read_once_until_it_changes(faces, tmp_path, monkeypatch):
    """Readers ask for features a batch at a time: the cache file is read again only once it has
    changed (a 200,000-row cache read per batch of a gallery cost more than the model)."""

    from mmdemo.data import features

    samples, _ = faces
    copy = tmp_path / "data"
    shutil.copytree(samples[0].image.parents[1], copy, ignore=WITHOUT_CACHE)
    mine = [s for s in open_samples(copy, "all") if s.image is not None][:4]
    FeatureTable(copy, "face").update(mine[:2])
    reads = []

    class Counted(FeatureTable):
        def __init__(self, root, kind):
            reads.append(kind)
            super().__init__(root, kind)

    monkeypatch.setattr(features, "FeatureTable", Counted)
    first = features.cached_or_computed(mine[:2], "face")
    assert np.array_equal(features.cached_or_computed(mine[:2], "face"), first)
    assert reads == ["face"]
    FeatureTable(copy, "face").update(mine)  # another writer adds rows: read again, once
    assert len(features.open_table(copy, "face").rows) == 4 and reads == ["face", "face"]
    assert features.open_table(copy, "face") is features.open_table(copy, "face")


def test_cache_features_fills_each_folders_cache_for_both_kinds(faces, tmp_path, monkeypatch):

    from mmdemo.data import features
    from mmdemo.data.features import cache_features, cached_or_computed

    samples, _ = faces
    copy = tmp_path / "data"
    shutil.copytree(samples[0].image.parents[1], copy, ignore=WITHOUT_CACHE)
    mine = [s for s in open_samples(copy, "all") if s.image is not None and s.audio is not None][:3]
    with monkeypatch.context() as m:  # a folder it may not write to is left alone (root may write anywhere)
        m.setattr(features.os, "access", lambda path, mode: False)
        assert cache_features(mine, workers=1) == 0
    assert not (copy / "features").exists()
    assert cache_features(mine, workers=1) == 6  # a face and a voice each
    assert cache_features(mine, workers=1) == 0
    for kind in ("face", "speaker"):
        table = FeatureTable(copy, kind)
        assert {s.id for s in mine} <= set(table.rows)
        assert np.array_equal(cached_or_computed(mine, kind), np.stack([table.get(s.id) for s in mine]))


def test_cached_voice_features_are_each_clips_own_embedding(faces, tmp_path, monkeypatch):
    """Clips are embedded a batch at a time (decoded by worker processes when asked): the cache holds
    what `embed_speech` gives each clip alone, in the samples' order."""

    from mmdemo.data import features
    from mmdemo.data.loaders import load_audio

    samples, _ = faces
    copy = tmp_path / "data"
    shutil.copytree(samples[0].image.parents[1], copy, ignore=WITHOUT_CACHE)
    mine = [s for s in open_samples(copy, "all") if s.audio is not None][:5]
    monkeypatch.setattr(features, "SPEECH_BATCH", 2)  # batches of 2, 2 and 1
    for workers in (1, 2):
        table = FeatureTable(tmp_path / f"w{workers}", "speaker")
        assert table.update(mine, workers=workers) == 5
        for s in mine:
            assert np.allclose(table.get(s.id), speaker.embed_speech(load_audio(s)), atol=1e-5), s.id


def test_cached_face_features_are_those_analyze_reads_and_older_recipes_are_recomputed(faces, tmp_path):

    import cv2
    from safetensors.torch import load_file

    from mmdemo.data.features import features_of_face

    samples, _ = faces
    copy = tmp_path / "data"
    shutil.copytree(samples[0].image.parents[1], copy, ignore=WITHOUT_CACHE)
    mine = [s for s in open_samples(copy, "all") if s.image is not None][:4]
    table = FeatureTable(copy, "face")
    table.update(mine)
    for s in mine:  # what MultimodalModel.analyze computes from the same photo
        rgb = cv2.cvtColor(cv2.imread(str(s.image)), cv2.COLOR_BGR2RGB)
        assert np.array_equal(table.get(s.id), features_of_face(prepare_image(rgb)))
    # a cache written by the earlier recipe (keys were the bare file hash) is stale, row by row
    table.rows[mine[0].id] = (table.rows[mine[0].id][0].split(":", 1)[1], np.zeros(face.FEATURE_DIM))
    table.save()
    assert "_index" in load_file(table.path)
    assert FeatureTable(copy, "face").update(mine) == 1


# ------------------------------------------------------------------ feature tokens in the fusion
def _tiny_net(**dims) -> FusionAutoencoder:
    torch.manual_seed(0)
    cfg = ModelConfig(dim=32, depth=1, heads=2, latent_dim=8, decoder_channels=16, text_hidden=16, **dims)
    return FusionAutoencoder(cfg).eval()


def test_feature_token_sits_outside_the_patch_layout():
    net = _tiny_net(face_feature_dim=face.FEATURE_DIM, speaker_feature_dim=speaker.EMBEDDING_DIM)
    image = torch.rand(2, 3, 64, 64)
    feats = torch.randn(2, face.FEATURE_DIM)
    out = net.encode({"image": image, "face_features": feats}, want_attention=True)
    assert out.layout["image"] == slice(1, 65)  # the 8x8 patches only: attention maps stay 8x8
    assert out.key_mask.shape[1] == 66  # [FUSE], 64 patches, the feature token
    absent = net.encode({"image": image}).mu
    masked = net.encode({"image": image, "face_features": feats, "face_features_mask": torch.zeros(2).bool()})
    assert torch.allclose(absent, masked.mu, atol=1e-6)  # a masked token is no token
    assert not torch.allclose(absent, out.mu, atol=1e-4)  # a present one is read


def test_checkpoints_without_feature_fields_still_load():
    old = {k: v for k, v in ModelConfig().to_dict().items() if not k.endswith("_feature_dim")}
    cfg = ModelConfig.from_dict(old)
    assert cfg.face_feature_dim == 0 and cfg.speaker_feature_dim == 0
    assert len(_tiny_net().feature_proj) == 0


def test_attribute_readers_correct_only_what_their_modality_carries():
    from mmdemo.schema import ATTRIBUTES

    net = _tiny_net(
        face_feature_dim=face.FEATURE_DIM, speaker_feature_dim=speaker.EMBEDDING_DIM, attribute_readers=True
    )
    torch.manual_seed(1)
    mel, mel_len = torch.randn(3, 120, 64), torch.tensor([120, 100, 80])
    voice_feats = torch.randn(3, speaker.EMBEDDING_DIM)
    out = net.encode(
        {
            "mel": mel,
            "mel_len": mel_len,
            "speaker_features": voice_feats,
            "speaker_features_mask": torch.tensor([True, True, False]),
        }
    )
    assert out.evidence_rows.tolist() == [True, True, False]
    assert out.evidence[2].abs().max() == 0  # no feature token, no correction
    per_attribute = out.evidence.split([len(a.values) for a in ATTRIBUTES], -1)
    for a, ev in zip(ATTRIBUTES, per_attribute):
        assert (ev[:2].abs().max() > 0) == ("voice" in a.observable_from), a.name
    corrected = net.attribute_logits(out.mu, out.evidence)
    plain = net.attribute_logits(out.mu)
    assert all(torch.equal(c[2], p[2]) for c, p in zip(corrected, plain))
    text_only = net.encode({"text_states": torch.randn(3, 5, 384), "text_mask": torch.ones(3, 5).bool()})
    assert text_only.evidence_rows.sum() == 0


def test_reader_loss_leaves_the_latent_head_alone():
    """The readers learn the latent's residual error; the latent's own head must keep reading alone."""
    from mmdemo.schema import ATTRIBUTES
    from mmdemo.training.objective import decoder_losses

    net = _tiny_net(face_feature_dim=face.FEATURE_DIM, attribute_readers=True).train()
    b = 4
    inputs = {"image": torch.rand(b, 3, 64, 64), "face_features": torch.randn(b, face.FEATURE_DIM)}
    out = net.encode(inputs)
    batch = {
        "image": inputs["image"],
        "has_image": torch.ones(b, dtype=torch.bool),
        "has_voice_params": torch.zeros(b, dtype=torch.bool),
        "attrs": torch.zeros(b, len(ATTRIBUTES), dtype=torch.long),
    }
    losses, _ = decoder_losses(
        net,
        batch,
        out.mu,
        out.logvar,
        rows=torch.ones(b, dtype=torch.bool),
        gen=torch.Generator().manual_seed(0),
        evidence=(out.evidence, out.evidence_rows),
    )
    losses["attribute_readers"].backward()
    assert all(p.grad is None or p.grad.abs().max() == 0 for p in net.attribute_head.parameters())
    assert net.attribute_readers["face_features"].weight.grad.abs().max() > 0


def _faces_only_batch(has_features: torch.Tensor) -> dict:
    """A training batch of random faces alone, with frozen face features on the rows marked True."""
    from mmdemo.schema import ATTRIBUTES

    b, gen = len(has_features), torch.Generator().manual_seed(1)
    return {
        "image": torch.rand(b, 3, 64, 64, generator=gen),
        "has_image": torch.ones(b, dtype=torch.bool),
        "has_text": torch.zeros(b, dtype=torch.bool),
        "has_voice": torch.zeros(b, dtype=torch.bool),
        "has_voice_params": torch.zeros(b, dtype=torch.bool),
        "attrs": torch.zeros(b, len(ATTRIBUTES), dtype=torch.long),
        "face_features": torch.randn(b, face.FEATURE_DIM, generator=gen),
        "face_features_mask": has_features,
    }


def test_a_training_step_feeds_the_batch_features_to_the_fusion():
    """The loop puts each row's frozen features and their presence in the batch; the step must pass
    them on, or the feature tokens and readers train on nothing."""
    from mmdemo.training.config import resolve_config
    from mmdemo.training.objective import step_losses

    net = _tiny_net(face_feature_dim=face.FEATURE_DIM, attribute_readers=True).train()
    batch = _faces_only_batch(torch.tensor([True, True, True, False, False, False]))
    cfg = resolve_config("tiny")
    _, parts, _ = step_losses(net, cfg, batch, 1, torch.Generator().manual_seed(0))
    assert parts["attribute_readers"] > 0
    parts["attribute_readers"].backward()
    assert net.attribute_readers["face_features"].weight.grad.abs().max() > 0


def test_a_training_step_leaves_the_pixel_reader_to_its_own_fit():
    """`train` fits a fresh pixel reader after its last step, so the steps do not run it: its
    weights get no gradient, and the step's loss is the one the network has without it."""
    from mmdemo.training.config import resolve_config
    from mmdemo.training.objective import step_losses

    cfg = resolve_config("tiny")
    losses = []
    for pixel_reader in (True, False):
        torch.manual_seed(0)
        net = _tiny_net(face_feature_dim=face.FEATURE_DIM, attribute_readers=True, pixel_reader=pixel_reader)
        batch = _faces_only_batch(torch.tensor([True, True, False, False]))
        total, _, _ = step_losses(net.train(), cfg, batch, 1, torch.Generator().manual_seed(0))
        total.backward()
        if pixel_reader:
            assert all(p.grad is None for p in net.pixel_reader.parameters())
        losses.append(total.item())
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)


# ------------------------------------------------------------------ end to end
@pytest.mark.slow
def test_fine_tuning_adds_feature_tokens_and_analyze_reads_them(
    tiny_checkpoint, tiny_data, tmp_path, faces, monkeypatch
):
    from mmdemo.inference.model import load_model
    from mmdemo.training.loop import train

    out = train(
        tiny_data,
        tmp_path / "ft",
        preset="tiny",
        steps=6,
        device="cpu",
        init=tiny_checkpoint,
        real_features=True,
        progress=False,
    )
    assert (tiny_data / "features" / "face.safetensors").is_file()
    model = load_model(out, device="cpu")
    assert model.reads_face_features and model.reads_speaker_features
    assert model.config.face_feature_dim == face.FEATURE_DIM
    assert set(model.net.attribute_readers) == {"face_features", "speaker_features"}
    import json

    fitted = json.loads((out / "readers.json").read_text())  # the readers were solved after the steps
    assert fitted["train_rows"] > 0 and set(fitted["val_balanced_accuracy"]) >= {"Male", "age_group"}
    assert model.config.pixel_reader and fitted["pixel_reader"]["train_faces"] > 0  # trained after them
    _, images = faces
    voice = (16000, _espeak("m3", 40, "Good morning."))
    result = model.analyze(images[0], "a smiling man", voice)
    assert result.attention.text_to_image.shape[1:] == (8, 8)
    without = load_model(tiny_checkpoint, device="cpu").analyze(images[0], "a smiling man", voice)
    assert set(result.attributes) == set(without.attributes)
    people = open_samples(tiny_data, "test")[:6]
    assert model.embed(people, [("image", "voice")])[("image", "voice")].shape[0] == 6
    _gallery_reads_features_once(out, tiny_data, tmp_path, monkeypatch)

    # new voices only: `fit-readers --only voice` refits the voice reader and leaves every face reader
    from mmdemo.training.refit import refit_checkpoint

    before = {k: v.clone() for k, v in model.net.state_dict().items()}
    refit_checkpoint(out, [tiny_data], modalities=["voice"], device="cpu")
    after = load_model(out, device="cpu").net.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    voice_parts = ("attribute_readers.speaker_features.", "latent_gates.speaker_features.")
    assert changed and all(k.startswith(voice_parts) for k in changed)
    record = json.loads((out / "readers.json").read_text())
    assert record["pixel_reader"] == fitted["pixel_reader"]  # the full fit's record stays
    assert record["refits"][-1]["readers"] == ["speaker_features"]


def _gallery_reads_features_once(checkpoint, tiny_data, tmp_path, monkeypatch):
    """A map of a model that reads the frozen features computes them into the folder's cache first
    (a worker a core), and a second map of the same folder reads them back: the same map, no dlib."""

    import pandas as pd

    from mmdemo.inference.projection import GALLERY_DIR, build_gallery, one_per_person

    data = tmp_path / "gallery_data"
    shutil.copytree(tiny_data, data, ignore=WITHOUT_CACHE)
    build_gallery(checkpoint, data, people=60, device="cpu", layout="pca")
    people = {s.id for s in one_per_person(data, 60)}
    for kind in ("face", "speaker"):
        assert people <= set(FeatureTable(data, kind).rows), kind
    first = pd.read_parquet(checkpoint / GALLERY_DIR / "gallery.parquet")
    with monkeypatch.context() as m:
        m.setattr(face, "read_face", lambda *a, **k: pytest.fail("the cached faces were read again"))
        build_gallery(checkpoint, data, people=60, device="cpu", layout="pca")
    again = pd.read_parquet(checkpoint / GALLERY_DIR / "gallery.parquet")
    assert np.array_equal(np.stack(first["embedding"]), np.stack(again["embedding"]))


# ------------------------------------------------------------------ reading real people, reported
def _real_like_folder(tiny_data, root):
    """A real set's layout (source and group columns, faces-only and voices-only rows, partial
    labels) made of tiny synthetic files, plus one silent clip that must be counted as refused."""
    import csv

    import soundfile as sf

    samples = open_samples(tiny_data, "all")[:60]
    root.mkdir()
    (root / "images").mkdir()
    (root / "audio").mkdir()
    rows = []
    for i, s in enumerate(samples):
        group = ("white", "black")[i % 2]
        if i < 40:
            shutil.copy(s.image, root / "images" / f"f{i}.png")
            labels = {"Male": s.attrs["Male"], "age_group": s.attrs["age_group"]}
            rows.append(
                {"id": f"f{i}", "image": f"images/f{i}.png", "source": "UTKFace", "group": group, **labels}
            )
        else:
            shutil.copy(s.audio, root / "audio" / f"v{i}.wav")
            rows.append(
                {"id": f"v{i}", "audio": f"audio/v{i}.wav", "source": "URDU", "Male": s.attrs["Male"]}
            )
    sf.write(root / "audio" / "silent.wav", np.zeros(16000, np.float32), 16000)
    rows.append({"id": "silent", "audio": "audio/silent.wav", "source": "URDU", "Male": "1"})
    columns = [*REQUIRED_COLUMNS, "source", "group"]  # what build_real_set writes, less provenance
    with open(root / "metadata.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, columns, restval="")
        writer.writeheader()
        for r in rows:
            writer.writerow({"split": "val", "person_id": r["id"], **r})
    return root


def test_evaluate_real_reports_balanced_accuracy_per_source_and_group(tiny_checkpoint, tiny_data, tmp_path):
    from mmdemo.evaluation.real import balanced_accuracy, balanced_accuracy_interval, evaluate_real

    assert (
        balanced_accuracy(["a", "a", "a", "b"], ["a", "a", "a", "a"]) == 0.5
    )  # not 0.75: classes weigh equally
    # the interval narrows with the files behind it, and a class read perfectly cannot widen it
    small = balanced_accuracy_interval(["a"] * 12 + ["b"] * 12, ["a"] * 9 + ["b"] * 3 + ["b"] * 12)
    large = balanced_accuracy_interval(["a"] * 120 + ["b"] * 120, ["a"] * 90 + ["b"] * 30 + ["b"] * 120)
    assert small[0] < large[0] < 0.875 < large[1] < small[1]
    assert large[1] - large[0] < 0.6 * (small[1] - small[0])
    assert balanced_accuracy_interval(["a"] * 5 + ["b"] * 5, ["a"] * 5 + ["b"] * 5) == (1.0, 1.0)
    folder = _real_like_folder(tiny_data, tmp_path / "real")
    m = evaluate_real(tiny_checkpoint, folder, device="cpu")
    assert m["real/image/Male/n"] == 40 and m["real/voice/Male/n"] == 20
    voices = evaluate_real(tiny_checkpoint, folder, modality="voice", device="cpu")  # the faces unread
    assert voices == {k: v for k, v in m.items() if "image" not in k and "face_found" not in k}
    for key in (
        "real/image/Male",
        "real/UTKFace/image/Male",
        "real/UTKFace/white/image/Male",
        "real/voice/Male",
    ):
        assert 0.0 <= m[key] <= 1.0, key
        assert m[key + "/ci_low"] <= m[key] <= m[key + "/ci_high"], key
    assert "real/UTKFace/black/image/age_group" in m
    assert 0.0 <= m["real/UTKFace/face_found"] <= 1.0
    assert m["real/voice/refused"] == 1  # the silent clip: refused, counted, and the run goes on


def test_model_card_states_sources_licences_figures_and_the_warning(tmp_path):
    import json

    from mmdemo.serving.model_card import model_card

    (tmp_path / "training_data.json").write_text(
        json.dumps({"sources": {"UTKFace": {"files": 5613, "licence": ["non-commercial research"]}}})
    )
    (tmp_path / "real_metrics.json").write_text(
        json.dumps(
            {
                "real/image/Male": 0.95,
                "real/image/Male/n": 600,
                "real/image/Male/ci_low": 0.931,
                "real/image/Male/ci_high": 0.967,
                "real/UTKFace/asian/image/Male": 0.9,
                "real/UTKFace/image/Male/ci_low": 0.9,
            }
        )
    )
    card = model_card(tmp_path, {"attr_acc/image": 0.99}, 2500, reads_real=True)
    assert "UTKFace" in card and "5,613" in card and "non-commercial" in card
    assert "| face | Male | 0.950 | 0.93-0.97 | 600 |" in card and "UTKFace asian" in card
    assert "ci_low" not in card  # an interval is a column, never read as a group
    assert "Do not use this to make decisions about people" in card
    assert "from its pixels" not in card  # no pixel reader in this checkpoint's config
    (tmp_path / "config.json").write_text(json.dumps({"model": {"pixel_reader": True}}))
    assert "from its pixels" in model_card(tmp_path, {}, 10, reads_real=True)
    synthetic_only = model_card(tmp_path / "none", {}, 10, reads_real=False)
    assert "has never seen a real face" in synthetic_only and "Do not use this" in synthetic_only


def test_descriptor_network_in_torch_gives_dlibs_descriptor(faces, tmp_path):
    """The ResNet read from dlib's model file and run by torch matches dlib's own forward pass on a
    real face and on synthetic ones, so features cached with either are the same features."""
    import dlib
    from skimage.data import astronaut

    from mmdemo.extractors import face_descriptor

    reference = dlib.face_recognition_model_v1(str(face.models_dir() / face_descriptor.DESCRIPTOR_MODEL_FILE))
    predictor = face._landmark_predictor()
    chips = []
    for image in [astronaut(), *faces[1][:3]]:
        x, y, w, h = face.find_face(image) or face._whole_image_box(image.shape[1], image.shape[0])
        shape = predictor(image, dlib.rectangle(x, y, x + w - 1, y + h - 1))
        chips.append(
            dlib.get_face_chip(image, shape, face_descriptor.CHIP_SIDE, face_descriptor.CHIP_PADDING)
        )
    ours = face_descriptor.describe_chips(face._descriptor_net(), np.stack(chips))
    theirs = np.array([reference.compute_face_descriptor(c) for c in chips], np.float32)
    assert ours.shape == (4, face.DESCRIPTOR_DIM)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)
    assert np.linalg.norm(theirs[0] - theirs[1]) > 0.3  # different people: the check is not vacuous
    # read_face, which the app and the feature cache call, reads what dlib's whole-image call read
    import cv2

    photo = cv2.resize(astronaut(), (1024, 1024))  # a face over MIN_FACE_SIDE: read as it is
    x, y, w, h = face.find_face(photo)
    shape = predictor(photo, dlib.rectangle(x, y, x + w - 1, y + h - 1))
    np.testing.assert_allclose(
        face.read_face(photo, (x, y, w, h)).features[: face.DESCRIPTOR_DIM],
        reference.compute_face_descriptor(photo, shape),
        atol=1e-5,
    )


def test_a_model_file_that_is_not_dlibs_network_is_refused(tmp_path):
    from mmdemo.extractors import face_descriptor

    good = (face.models_dir() / face_descriptor.DESCRIPTOR_MODEL_FILE).read_bytes()
    for name, data in (
        ("truncated.dat", good[: len(good) // 2]),
        ("other.dat", b"\x01\x05con_4" + bytes(64)),
    ):
        (tmp_path / name).write_bytes(data)
        with pytest.raises((face_descriptor.DlibFormatError, ValueError)):
            face_descriptor.load_descriptor_net(tmp_path / name)
