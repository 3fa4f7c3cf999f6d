"""The training objective of one step.

Each step draws, per sample, a random non-empty subset of its modalities (pass A) and one single
modality (pass B). Both latents are decoded to every modality, so every subset learns to generate
everything; an InfoNCE term pulls the two latents of the same sample together. `LossModule` wraps
the model with this objective as its `forward`, so DDP sees the whole step.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mmdemo.model.losses import attribute_cross_entropy, info_nce, kl_to_standard_normal, ssim
from mmdemo.model.network import FEATURE_TOKENS, FusionAutoencoder
from mmdemo.schema import ATTRIBUTE_SIZES, MODALITIES, SUBSETS
from mmdemo.training.config import TrainConfig
from mmdemo.training.critic import critic_loss


def _bitmask(subset: tuple[str, ...]) -> int:
    return sum(1 << MODALITIES.index(m) for m in subset)


# The schema's subsets as rows of a (7, 3) bool table, in bitmask order (image, text, image+text,
# voice, ...) rather than the schema's singles-first order: a draw picks a row by index, so this order
# decides which subset a seeded run trains on, and changing it would change every run.
SUBSET_MASKS = torch.tensor([[m in s for m in MODALITIES] for s in sorted(SUBSETS, key=_bitmask)])


def random_subsets(avail: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """(B, 3) bool: a uniformly drawn non-empty subset of each row's available modalities."""
    valid = ~(SUBSET_MASKS[None] & ~avail[:, None]).any(-1)  # (B, 7)
    scores = torch.rand(valid.shape, generator=gen).masked_fill(~valid, -1)
    return SUBSET_MASKS[scores.argmax(1)]


def random_singles(avail: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """(B, 3) bool: one available modality per row."""
    scores = torch.rand(avail.shape, generator=gen).masked_fill(~avail, -1)
    return F.one_hot(scores.argmax(1), avail.shape[1]).bool() & avail


def fuse_by_subset(model: FusionAutoencoder, tokens: dict, chosen: torch.Tensor):
    """Fuses each row with only its chosen modalities; rows sharing a subset run together.

    Returns mu, logvar (B, Z) and the attribute readers' evidence: (B, logits) and its (B,) rows, or
    None for a network without readers. Grouping keeps sequences short: no padded keys for absent
    modalities."""
    b = chosen.shape[0]
    z = model.config.latent_dim
    device = next(iter(tokens.values()))[0].device
    mu, logvar = torch.zeros(b, z, device=device), torch.zeros(b, z, device=device)
    evidence = evidence_rows = None
    if model.reads_evidence:
        evidence = torch.zeros(b, sum(ATTRIBUTE_SIZES), device=device)
        evidence_rows = torch.zeros(b, dtype=torch.bool, device=device)
    patterns, inverse = torch.unique(chosen, dim=0, return_inverse=True)
    for p, pattern in enumerate(patterns):
        rows = (inverse == p).nonzero()[:, 0].to(device)
        chosen = model.subset(tokens, [m for i, m in enumerate(MODALITIES) if pattern[i]])
        sub = {m: (x[rows], mask[rows]) for m, (x, mask) in chosen.items()}
        if not sub:
            continue
        out = model.fuse(sub)
        # float32 latents: under bf16 autocast (CUDA) the fusion's outputs are bf16
        mu = mu.index_copy(0, rows, out.mu.to(mu.dtype))
        logvar = logvar.index_copy(0, rows, out.logvar.to(logvar.dtype))
        if out.evidence is not None:
            evidence = evidence.index_copy(0, rows, out.evidence.to(evidence.dtype))
            evidence_rows = evidence_rows.index_copy(0, rows, out.evidence_rows)
    return mu, logvar, (evidence, evidence_rows) if evidence is not None else None


def decoder_losses(
    model: FusionAutoencoder,
    batch: dict,
    mu,
    logvar,
    *,
    rows: torch.Tensor,
    gen: torch.Generator,
    evidence: tuple[torch.Tensor, torch.Tensor] | None = None,
    private: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Reconstruction, attribute, voice and KL losses of one latent batch, over the `rows` marked
    True; also returns the decoded faces. `evidence`: the attribute readers' (logits, rows), whose
    loss trains them to correct the latent's reading. `private`: the face's private posterior (mu,
    logvar) and the (B,) rows whose latent fused the face; the other rows decode with a private
    latent drawn from its prior, as generation from a description or a voice does (MMVAE+)."""
    eps = torch.randn(mu.shape, generator=gen).to(mu.device)
    z = mu + eps * (0.5 * logvar).exp()
    losses = {}
    rows = rows.float()
    denom = rows.sum().clamp_min(1)
    w = None
    if private is not None:
        mu_w, logvar_w, own = private
        eps_w = torch.randn(mu_w.shape, generator=gen).to(mu_w.device)
        prior = torch.randn(mu_w.shape, generator=gen).to(mu_w.device)
        w = torch.where(own[:, None], mu_w + eps_w * (0.5 * logvar_w).exp(), prior)
        own = own.float() * rows
        losses["kl_private"] = (kl_to_standard_normal(mu_w, logvar_w) * own).sum() / own.sum().clamp_min(1)
    recon = model.decode_image(z, w)
    has_img = batch["has_image"].float() * rows
    if has_img.any():
        l1 = (recon - batch["image"]).abs().flatten(1).mean(1)
        losses["image_l1"] = (l1 * has_img).sum() / has_img.sum()
        losses["image_ssim"] = ((1 - ssim(recon, batch["image"])) * has_img).sum() / has_img.sum()
    if "target_ids" in batch:
        losses["text_ce"] = _text_loss(model, batch, z, rows)
    has_vp = batch["has_voice_params"].float() * rows
    if has_vp.any():
        variant_logits, params = model.voice_outputs(z)
        v_ce = F.cross_entropy(variant_logits, batch["variant_idx"].clamp_min(0), reduction="none")
        v_mse = ((params - batch["voice_params_norm"]) ** 2).mean(1)
        losses["voice"] = ((v_ce + v_mse) * has_vp).sum() / has_vp.sum()
    latent_reading = attribute_cross_entropy(model.attribute_logits(mu), batch["attrs"])
    losses["attributes"] = (latent_reading * rows).sum() / denom
    if evidence is not None:
        # the readers learn what the latent's reading misses; the latent's head is not moved by it, so
        # the latent alone still reads every attribute (descriptions, neighbours and gallery need it)
        logits, has_evidence = evidence
        has_evidence = has_evidence.float() * rows
        latent = model.attribute_head(mu).detach()
        corrected = attribute_cross_entropy(
            list((latent + logits).split(ATTRIBUTE_SIZES, -1)), batch["attrs"]
        )
        losses["attribute_readers"] = (corrected * has_evidence).sum() / has_evidence.sum().clamp_min(1)
    losses["kl"] = (kl_to_standard_normal(mu, logvar) * rows).sum() / denom
    return losses, recon


def _text_loss(model: FusionAutoencoder, batch: dict, z: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """Per-token cross-entropy of the decoded description, averaged per row, over rows with a target."""
    logits = model.text_decoder(z, batch["target_ids"])
    ce = F.cross_entropy(logits.transpose(1, 2), batch["target_ids"][:, 1:], ignore_index=0, reduction="none")
    tokens = (batch["target_ids"][:, 1:] != 0).float()
    has_target = batch["has_target"].float() * rows
    return ((ce.sum(1) / tokens.sum(1).clamp_min(1)) * has_target).sum() / has_target.sum().clamp_min(1)


def step_losses(
    model: FusionAutoencoder,
    cfg: TrainConfig,
    batch: dict,
    step: int,
    gen: torch.Generator,
    critic: nn.Module | None = None,
):
    """All losses of one training step; returns (total, parts for logging, pass-A faces). `critic`:
    the frozen face critic, which judges the faces pass B decodes from a description or a voice."""
    inputs = {}
    if batch["has_image"].any():
        inputs["image"] = batch["image"]
    if batch["has_text"].any():
        inputs["text_states"], inputs["text_mask"] = batch["text_states"], batch["text_mask"]
    if batch["has_voice"].any():
        inputs["mel"], inputs["mel_len"] = batch["mel"], batch["mel_len"]
    for key in FEATURE_TOKENS.values():  # the frozen features, with the rows that have them
        if key in batch:
            inputs[key], inputs[f"{key}_mask"] = batch[key], batch[f"{key}_mask"]
    # no pixel reader: `train` fits a fresh one after the last step (training.pixel_fit), so reading
    # every batch's faces with it here (a quarter of a default step) only trained weights it discards
    tokens = model.tokens(inputs, pixel_evidence=False)
    avail = torch.stack([batch["has_image"], batch["has_text"], batch["has_voice"]], 1).cpu()
    subset, single = random_subsets(avail, gen), random_singles(avail, gen)
    mu_a, logvar_a, evidence_a = fuse_by_subset(model, tokens, subset)
    mu_b, logvar_b, evidence_b = fuse_by_subset(model, tokens, single)
    every = torch.ones(avail.shape[0], dtype=torch.bool, device=mu_a.device)
    posterior = model.private_posterior(tokens)
    private_a = private_b = None
    if posterior is not None:  # a row's own face detail only where its latent fused the face
        has_face = batch["has_image"].to(mu_a.device)
        face = MODALITIES.index("image")
        private_a = (*posterior, subset[:, face].to(mu_a.device) & has_face)
        private_b = (*posterior, single[:, face].to(mu_a.device) & has_face)
    parts_a, recon_a = decoder_losses(
        model, batch, mu_a, logvar_a, rows=every, gen=gen, evidence=evidence_a, private=private_a
    )
    parts_b, recon_b = decoder_losses(
        model, batch, mu_b, logvar_b, rows=every, gen=gen, evidence=evidence_b, private=private_b
    )
    weights = {
        "image_l1": cfg.image_l1,
        "image_ssim": cfg.image_ssim,
        "text_ce": cfg.text_ce,
        "voice": cfg.voice,
        "attributes": cfg.attributes,
        "attribute_readers": cfg.attributes,
        "kl": cfg.kl_weight * min(1.0, step / max(1, cfg.kl_warmup_steps)),
    }
    weights["kl_private"] = weights["kl"]
    parts = {k: 0.5 * (parts_a.get(k, 0) + parts_b.get(k, 0)) for k in parts_a}
    total = sum(weights[k] * v for k, v in parts.items())
    parts["contrastive"] = info_nce(mu_a, mu_b, cfg.temperature)
    total = total + cfg.contrastive * parts["contrastive"]
    if critic is not None:  # generated faces only: a face's own reconstruction has the image loss
        generated = (~single[:, MODALITIES.index("image")]).float().to(recon_b.device)
        judged = critic_loss(critic, recon_b, batch["attrs"]) * generated
        parts["critic"] = judged.sum() / generated.sum().clamp_min(1)
        total = total + cfg.critic * parts["critic"]
    return total, parts, recon_a


class LossModule(nn.Module):
    """The model with its training objective as `forward`, so DDP sees (and syncs) the whole step."""

    def __init__(self, model: FusionAutoencoder, cfg: TrainConfig, critic: nn.Module | None = None):
        super().__init__()
        self.model, self.cfg, self.critic = model, cfg, critic

    def forward(self, batch: dict, step: int, gen: torch.Generator):
        return step_losses(self.model, self.cfg, batch, step, gen, self.critic)
