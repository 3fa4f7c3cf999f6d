"""Reading Chinese: the encoder is fitted by distillation on the frozen network, is routed to only for
text with Chinese in it, saves and loads without pickle, and a Chinese description gets its answer in
Chinese; a checkpoint without one says so instead of reading Chinese at chance silently."""

import shutil

import pytest
import torch

from mmdemo.checkpoint import CheckpointError
from mmdemo.inference.model import load_model
from mmdemo.inference.statements import sure_description
from mmdemo.model.chinese_text import CHINESE_TEXT_FILE, BilingualTextEncoder, ChineseTextEncoder, build_vocab
from mmdemo.model.network import load_network
from mmdemo.model.text import shared_encoder
from mmdemo.synth.descriptions_zh import has_chinese
from mmdemo.training.chinese_fit import (
    description_pairs,
    fit_chinese_encoder,
    stated_accuracy,
    teacher_latents,
)


@pytest.fixture(scope="module")
def fitted(tiny_checkpoint, tmp_path_factory):
    folder = tmp_path_factory.mktemp("zh") / "ckpt"
    shutil.copytree(tiny_checkpoint, folder)
    net = load_network(folder, torch.device("cpu"))
    encoder, record = fit_chinese_encoder(net, pairs=1024, val_pairs=256, epochs=3, batch_size=64)
    encoder.save(folder, record)
    return folder, net, encoder, record


def _reads(net, mu) -> torch.Tensor:
    with torch.no_grad():
        return torch.stack([lg.argmax(-1) for lg in net.attribute_logits(mu)], 1)


def test_distillation_puts_chinese_where_the_network_puts_english(fitted):
    """The student reads a Chinese description as the frozen network reads the English one stating the
    same attributes, far more often than MiniLM's [UNK]-ridden reading of the Chinese does."""
    folder, net, encoder, record = fitted
    en, zh, targets = description_pairs(256, seed=1)  # the fit's own held-out pairs
    teacher = _reads(net, teacher_latents(net, en))
    with torch.no_grad():
        ids, mask = encoder.ids([encoder.tokenize(t) for t in zh])
        student = _reads(net, net.encode({"text_states": encoder(ids, mask), "text_mask": mask}).mu)
    minilm = _reads(net, teacher_latents(net, zh))
    stated = targets != -1

    def agreement(reads):
        return float((reads == teacher)[stated].float().mean())

    assert agreement(student) > 0.9 and agreement(student) > agreement(minilm) + 0.1
    assert record["history"][-1]["val_latent_mse"] < record["history"][0]["val_latent_mse"]
    assert record["val_stated_accuracy"] == max(h["val_stated"] for h in record["history"])
    english = stated_accuracy(net, teacher_latents(net, en), targets)
    assert english == pytest.approx(record["val_stated_accuracy_english_teacher"], abs=1e-4)


def test_only_text_with_chinese_goes_to_the_chinese_encoder(fitted):
    _, _, encoder, _ = fitted
    both = BilingualTextEncoder(shared_encoder(), encoder)
    texts = ["A smiling woman.", "一位戴着眼镜的男士。", "A man with a hat."]
    enc = both.encode(texts)
    alone = shared_encoder().encode([texts[0], texts[2]])
    assert enc.tokens[0] == alone.tokens[0] and enc.tokens[2] == alone.tokens[1]
    assert enc.tokens[1][0] == "[CLS]" and "戴着眼镜" in enc.tokens[1]  # one token per word
    n = alone.mask[0].sum()
    assert torch.allclose(enc.states[0, :n], alone.states[0, :n], atol=1e-5)
    assert enc.mask.sum(1).tolist()[1] == len(enc.tokens[1])
    minilm_only = BilingualTextEncoder(shared_encoder(), None).encode(texts[1:2])
    assert "[UNK]" in minilm_only.tokens[0]  # without a Chinese encoder, MiniLM reads it as before


def test_the_encoder_round_trips_and_a_broken_file_is_refused(fitted, tmp_path):
    folder, _, encoder, record = fitted
    back = ChineseTextEncoder.load(folder)
    assert back.vocab == encoder.vocab and back.record["pairs"] == record["pairs"]
    text = ["一位二十多岁的红发女士，戴着眼镜，笑得很开心"]
    assert torch.allclose(back.encode(text).states, encoder.encode(text).states)
    assert ChineseTextEncoder.load(tmp_path) is None
    (tmp_path / CHINESE_TEXT_FILE).write_bytes(b"not a tensor file")
    with pytest.raises(CheckpointError):
        ChineseTextEncoder.load(tmp_path)
    assert len(build_vocab([])) > 100  # the lexicon's words and characters


def test_a_chinese_description_is_answered_in_chinese(fitted, tiny_checkpoint):
    folder, _, _, _ = fitted
    model = load_model(folder, "cpu")
    a = model.analyze(text="一位二十多岁的红发女士，戴着眼镜，看起来很开心")
    decoded = model.decode_texts(torch.from_numpy(a.embedding)[None])[0]  # the decoder's own English
    # the statements the heads confirm, in Chinese (this tiny decoder may confirm none)
    assert a.text == sure_description(decoded, a.attributes, a.confidences, "zh") and has_chinese(a.text)
    assert not any("English descriptions only" in w for w in a.warnings)
    assert a.attention.words and all(has_chinese(w) for w in a.attention.words)
    english = model.analyze(text="A smiling young woman with red hair.")
    assert not has_chinese(english.text)
    without = load_model(tiny_checkpoint, "cpu")
    assert (tiny_checkpoint / CHINESE_TEXT_FILE).exists() is False
    warned = without.analyze(text="一位戴着眼镜的男士")
    assert any("fit-chinese" in w for w in warned.warnings)
    assert len(a.audio[1]) > 1600  # a Mandarin phrase was spoken
    from mmdemo.serving.model_card import model_card

    assert "中文描述" in model_card(folder, {}, 10, reads_real=False)
    assert "English only" in model_card(tiny_checkpoint, {}, 10, reads_real=False)
