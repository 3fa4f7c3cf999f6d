"""The decoders from the shared latent back to a face and a description (the voice's parameters and
the attributes are small heads in `network`)."""

from __future__ import annotations

import math

import torch
from einops import rearrange
from torch import nn

from mmdemo.model.text import BOS, EOS, PAD


class ImageDecoder(nn.Module):
    """(B, Z) -> (B, 3, 64, 64) in [0, 1]."""

    def __init__(self, *, latent_dim: int, channels: int, image_size: int):
        super().__init__()
        self.start = 4
        steps = int(math.log2(image_size // self.start))
        chans = [max(16, channels // 2**i) for i in range(steps + 1)]  # e.g. 128, 64, 32, 16, 16
        self.fc = nn.Linear(latent_dim, chans[0] * self.start**2)
        ups = []
        for level, (c_in, c_out) in enumerate(zip(chans, chans[1:])):
            ups += [
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Conv2d(c_in, c_out, 3, padding=1),
                nn.GroupNorm(min(8, c_out // 2), c_out),
                nn.GELU(),
            ]
            if level < steps - 2:  # a second conv only where the maps are small: most of the cost is at 64x64
                ups += [nn.Conv2d(c_out, c_out, 3, padding=1), nn.GELU()]
        self.ups = nn.Sequential(*ups)
        self.out = nn.Conv2d(chans[-1], 3, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = rearrange(self.fc(z), "b (c h w) -> b c h w", h=self.start, w=self.start)
        return torch.sigmoid(self.out(self.ups(x)))


class TextDecoder(nn.Module):
    """A GRU language model conditioned on z (initial state and every input step)."""

    def __init__(self, *, latent_dim: int, vocab_size: int, hidden: int, max_len: int):
        super().__init__()
        self.max_len = max_len
        self.embed = nn.Embedding(vocab_size, hidden // 2, padding_idx=PAD)
        self.cond = nn.Linear(latent_dim, hidden // 2)
        self.init = nn.Linear(latent_dim, hidden)
        self.gru = nn.GRU(hidden, hidden, num_layers=1, batch_first=True)
        self.out = nn.Linear(hidden, vocab_size)

    def _h0(self, z):
        return torch.tanh(self.init(z))[None].contiguous()  # (1, B, hidden)

    def forward(self, z: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: logits (B, S-1, V) predicting ids[:, 1:]."""
        inp = ids[:, :-1]
        x = torch.cat([self.embed(inp), self.cond(z)[:, None].expand(-1, inp.shape[1], -1)], -1)
        out, _ = self.gru(x, self._h0(z))
        return self.out(out)

    @torch.no_grad()
    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """Greedy decoding: (B, <=max_len) ids, stopping when every row has written [EOS].

        The GRU's step is written out (the same equations as `nn.GRU`, which `forward` trains) so
        that the input's z half is projected once rather than at every step: about 40% less time
        for one person's description, most of it per-operation overhead."""
        w_ih, w_hh, b_ih, b_hh = (
            self.gru.weight_ih_l0,
            self.gru.weight_hh_l0,
            self.gru.bias_ih_l0,
            self.gru.bias_hh_l0,
        )
        e = self.embed.embedding_dim
        h = self._h0(z)[0]  # (B, hidden)
        from_z = torch.addmm(b_ih, self.cond(z), w_ih[:, e:].t())  # (B, 3 hidden): reset, update, new
        from_token, from_h = w_ih[:, :e].t(), w_hh.t()
        token = torch.full((z.shape[0],), BOS, dtype=torch.long, device=z.device)
        out, done = [], torch.zeros(z.shape[0], dtype=torch.bool, device=z.device)
        for _ in range(self.max_len - 1):
            i_r, i_z, i_n = torch.addmm(from_z, self.embed.weight[token], from_token).chunk(3, 1)
            h_r, h_z, h_n = torch.addmm(b_hh, h, from_h).chunk(3, 1)
            reset, update = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
            new = torch.tanh(i_n + reset * h_n)
            h = new + update * (h - new)
            token = self.out(h).argmax(-1).masked_fill(done, PAD)
            out.append(token)
            done |= token == EOS
            if done.all():
                break
        return torch.stack(out, 1)
