"""Reading Chinese descriptions: a small trainable encoder into the frozen MiniLM's token space.

MiniLM's vocabulary turns most Chinese characters into [UNK], so a Chinese description reaches the
fusion as noise. `ChineseTextEncoder` segments it into words (`descriptions_zh.segment`: longest
match over the description vocabulary, any other character alone), embeds them, runs two transformer
layers and writes one 384-wide state per word, the width MiniLM writes, so the network's own text
projection, fusion and attention take them unchanged and each Chinese word gets its own map over the
face. It is fitted after training (`training/chinese_fit.py`) by distillation: the frozen network
must put a Chinese description where it puts the English one stating the same attributes.

`BilingualTextEncoder` is what the model reads text with: English (and any text without Chinese)
through MiniLM, Chinese through this encoder when the checkpoint has one (`chinese_text.safetensors`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from mmdemo import checkpoint as ckpt
from mmdemo.model.text import MAX_TOKENS, TEXT_WIDTH, EncodedText, FrozenMiniLM
from mmdemo.synth.descriptions_zh import LEXICON, has_chinese, segment

CHINESE_TEXT_FILE = "chinese_text.safetensors"
SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]")
PAD, UNK, CLS, SEP = range(4)


def build_vocab(texts: Sequence[str]) -> list[str]:
    """The specials, the lexicon's words that `texts` (the training descriptions) use, and every
    character of the lexicon and of `texts`. A word never seen in training would keep a random
    embedding, so it is read character by character instead, like any word the lexicon lacks."""
    seen = {w for t in texts for w in segment(t) if len(w) > 1}
    chars = {c for w in LEXICON for c in w} | {c for t in texts for c in t if not c.isspace()}
    return [*SPECIALS, *sorted(seen | chars)]


class ChineseTextEncoder(nn.Module):
    def __init__(self, vocab: Sequence[str], *, width: int = 192, depth: int = 2, heads: int = 4):
        super().__init__()
        self.vocab = list(vocab)
        self.index = {w: i for i, w in enumerate(self.vocab)}
        self.words = frozenset(w for w in self.vocab[len(SPECIALS) :] if len(w) > 1)  # what it segments into
        self.shape = {"width": width, "depth": depth, "heads": heads}
        self.record: dict = {}  # how it was fitted (from the file)
        self.embed = nn.Embedding(len(self.vocab), width, padding_idx=PAD)
        self.pos = nn.Parameter(torch.randn(MAX_TOKENS, width) * 0.02)
        layer = nn.TransformerEncoderLayer(
            width, heads, 2 * width, dropout=0.1, batch_first=True, norm_first=True
        )
        self.layers = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.out = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, TEXT_WIDTH))

    def tokenize(
        self, text: str, split_share: float = 0.0, generator: torch.Generator | None = None
    ) -> list[str]:
        """[CLS] words [SEP], at most MAX_TOKENS; `split_share` of the known words are split into their
        characters (training only: characters learn to stand for the words they make up)."""
        words = segment(text, self.words)
        if split_share > 0:
            roll = torch.rand(len(words), generator=generator).tolist()
            words = [p for w, r in zip(words, roll) for p in (list(w) if r < split_share else [w])]
        return ["[CLS]", *words[: MAX_TOKENS - 2], "[SEP]"]

    def ids(self, token_lists: Sequence[list[str]], device=None) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(len(t) for t in token_lists)
        ids = torch.full((len(token_lists), width), PAD, dtype=torch.long)
        for row, tokens in enumerate(token_lists):
            ids[row, : len(tokens)] = torch.tensor([self.index.get(w, UNK) for w in tokens])
        return ids.to(device), (ids != PAD).to(device)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.embed(ids) + self.pos[: ids.shape[1]]
        return self.out(self.layers(x, src_key_padding_mask=~mask))

    @torch.inference_mode()
    def encode(self, texts: Sequence[str]) -> EncodedText:
        tokens = [self.tokenize(t) for t in texts]
        ids, mask = self.ids(tokens, self.pos.device)
        return EncodedText(self(ids, mask).float(), mask, tokens)

    def save(self, folder: str | Path, record: dict) -> None:
        meta = {"vocab": json.dumps(self.vocab, ensure_ascii=False), "shape": json.dumps(self.shape)}
        meta["record"] = json.dumps(record, ensure_ascii=False)
        ckpt.atomic_save_tensors(Path(folder) / CHINESE_TEXT_FILE, self.state_dict(), meta)

    @classmethod
    def load(cls, folder: str | Path | None, device: torch.device | str = "cpu") -> ChineseTextEncoder | None:
        path = Path(folder) / CHINESE_TEXT_FILE if folder is not None else None
        if path is None or not path.is_file():
            return None
        state = ckpt.read_tensors(path)  # refuses a truncated or corrupt file with a clear message
        meta = ckpt.read_metadata(path)
        encoder = cls(json.loads(meta["vocab"]), **json.loads(meta["shape"]))
        ckpt.load_state_into(encoder, state, path)
        encoder.record = ckpt.read_record(path)
        return encoder.to(device).eval()


class BilingualTextEncoder:
    """MiniLM for English, the Chinese encoder (when there is one) for any text with Chinese in it."""

    def __init__(self, english: FrozenMiniLM, chinese: ChineseTextEncoder | None = None):
        self.english, self.chinese = english, chinese

    def to(self, device) -> BilingualTextEncoder:
        self.english.to(device)
        if self.chinese is not None:
            self.chinese.to(device)
        return self

    def encode(self, texts: Sequence[str]) -> EncodedText:
        texts = list(texts)
        chinese = [i for i, t in enumerate(texts) if self.chinese is not None and has_chinese(t)]
        if not chinese:
            return self.english.encode(texts)
        english = sorted(set(range(len(texts))) - set(chinese))
        parts = [(chinese, self.chinese.encode([texts[i] for i in chinese]))]
        if english:
            parts.append((english, self.english.encode([texts[i] for i in english])))
        width = max(p.states.shape[1] for _, p in parts)
        device = parts[0][1].states.device
        states = torch.zeros(len(texts), width, TEXT_WIDTH, device=device)
        mask = torch.zeros(len(texts), width, dtype=torch.bool, device=device)
        tokens: list[list[str]] = [[] for _ in texts]
        for rows, enc in parts:
            n = enc.states.shape[1]
            states[rows, :n], mask[rows, :n] = enc.states, enc.mask
            for r, t in zip(rows, enc.tokens):
                tokens[r] = t
        return EncodedText(states, mask, tokens)
