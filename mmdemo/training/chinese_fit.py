"""Fitting a checkpoint's Chinese text encoder by distillation from its own English reading.

Pairs of descriptions of one synthetic person, stating the same attributes, one in English and one in
Chinese (`describe(..., lang="zh")`), are generated on the fly: no images or voices are needed. The
frozen network reads the English one through MiniLM (the teacher latent); the Chinese encoder is
trained so that the same frozen network, reading its states, puts the Chinese one at the same place
(mean squared error on the latent) and reads the same stated attributes from it (cross-entropy of the
attribute head on what the description states). Nothing of the network moves, so English, the map,
the readers and the calibration are exactly as before. The epoch whose held-out pairs read best is
kept.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import torch
from tqdm import tqdm

from mmdemo.model.chinese_text import ChineseTextEncoder, build_vocab
from mmdemo.model.network import FusionAutoencoder
from mmdemo.model.text import shared_encoder, trim
from mmdemo.schema import ATTRIBUTES, UNKNOWN, to_indices
from mmdemo.synth.descriptions import describe
from mmdemo.synth.generator import sample_attributes

log = logging.getLogger(__name__)

SPLIT_SHARE = 0.35  # of known words split into characters while training


def description_pairs(n: int, seed: int) -> tuple[list[str], list[str], torch.Tensor]:
    """n (English, Chinese) descriptions of random people, each pair stating the same attributes, and
    (n, attributes) class ids of what they state (UNKNOWN where unstated)."""
    rng, zh_rng = np.random.default_rng([seed, 0]), np.random.default_rng([seed, 1])
    english, chinese, targets = [], [], []
    for _ in range(n):
        attrs = sample_attributes(rng)
        text, mentions = describe(attrs, rng)
        english.append(text)
        chinese.append(describe(attrs, zh_rng, mentions=mentions, lang="zh")[0])
        targets.append(to_indices({k: attrs[k] for k in mentions}))
    return english, chinese, torch.tensor(targets, dtype=torch.long)


@torch.no_grad()
def teacher_latents(net: FusionAutoencoder, texts: list[str], batch_size: int = 256) -> torch.Tensor:
    device = next(net.parameters()).device
    english = shared_encoder(device)
    out = []
    for start in range(0, len(texts), batch_size):
        enc = trim(english.encode(texts[start : start + batch_size]))
        out.append(net.encode({"text_states": enc.states, "text_mask": enc.mask}).mu.float())
    return torch.cat(out)


def _student_latents(net, encoder, texts, split_share=0.0, generator=None):
    tokens = [encoder.tokenize(t, split_share, generator) for t in texts]
    ids, mask = encoder.ids(tokens, next(net.parameters()).device)
    return net.encode({"text_states": encoder(ids, mask), "text_mask": mask}).mu.float()


def stated_accuracy(net: FusionAutoencoder, mu: torch.Tensor, targets: torch.Tensor) -> float:
    """Share of the stated attributes the attribute head reads right from `mu`."""
    with torch.no_grad():
        logits = net.attribute_logits(mu)
    right = total = 0
    for k, lg in enumerate(logits):
        known = targets[:, k] != UNKNOWN
        right += int((lg[known].argmax(-1) == targets[known, k]).sum())
        total += int(known.sum())
    return right / max(1, total)


def _loss(net, mu, teacher, targets) -> torch.Tensor:
    loss = torch.nn.functional.mse_loss(mu, teacher)
    for k, lg in enumerate(net.attribute_logits(mu)):
        known = targets[:, k] != UNKNOWN
        if known.any():  # cross-entropy over no row is NaN
            stated = torch.nn.functional.cross_entropy(lg[known].float(), targets[known, k])
            loss = loss + stated / len(ATTRIBUTES)
    return loss


def fit_chinese_encoder(
    net: FusionAutoencoder,
    *,
    pairs: int = 20000,
    val_pairs: int = 2000,
    epochs: int = 12,
    batch_size: int = 128,
    seed: int = 0,
    progress: bool = False,
) -> tuple[ChineseTextEncoder, dict]:
    """A Chinese encoder for the frozen `net`; returns it (best val epoch) and the fit's record."""
    start = time.perf_counter()
    torch.manual_seed(seed)
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    device = next(net.parameters()).device
    en, zh, targets = description_pairs(pairs, seed)
    val_en, val_zh, val_targets = description_pairs(val_pairs, seed + 1)
    targets, val_targets = targets.to(device), val_targets.to(device)
    teacher, val_teacher = teacher_latents(net, en), teacher_latents(net, val_en)
    encoder = ChineseTextEncoder(build_vocab(zh)).to(device)
    opt = torch.optim.AdamW(encoder.parameters(), lr=1e-3, weight_decay=0.01)
    steps = epochs * ((pairs + batch_size - 1) // batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-3, total_steps=steps, pct_start=0.1)
    gen = torch.Generator().manual_seed(seed)
    history, best, best_state = [], -1.0, None
    for epoch in range(1, epochs + 1):
        encoder.train()
        order = torch.randperm(pairs, generator=gen).tolist()
        total = 0.0
        batches = range(0, pairs, batch_size)
        for b in tqdm(batches, desc=f"chinese epoch {epoch}", disable=not progress, leave=False):
            rows = order[b : b + batch_size]
            mu = _student_latents(net, encoder, [zh[i] for i in rows], SPLIT_SHARE, gen)
            loss = _loss(net, mu, teacher[rows], targets[rows])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            schedule.step()
            total += loss.item() * len(rows)
        encoder.eval()
        with torch.no_grad():
            val_mu = torch.cat(
                [_student_latents(net, encoder, val_zh[i : i + 512]) for i in range(0, val_pairs, 512)]
            )
        score = stated_accuracy(net, val_mu, val_targets)
        distance = float(torch.nn.functional.mse_loss(val_mu, val_teacher))
        history.append({"epoch": epoch, "loss": round(total / pairs, 4), "val_stated": round(score, 4)})
        history[-1]["val_latent_mse"] = round(distance, 4)
        log.info("chinese epoch %d: %s", epoch, history[-1])
        if score > best:
            best, best_state = score, {k: v.detach().clone() for k, v in encoder.state_dict().items()}
    encoder.load_state_dict(best_state)
    encoder.eval()
    record = {
        "pairs": pairs,
        "val_pairs": val_pairs,
        "seed": seed,
        "epochs": epochs,
        "history": history,
        "val_stated_accuracy": round(best, 4),
        "val_stated_accuracy_english_teacher": round(stated_accuracy(net, val_teacher, val_targets), 4),
        "vocab": len(encoder.vocab),
        "seconds": round(time.perf_counter() - start),
    }
    return encoder, record
