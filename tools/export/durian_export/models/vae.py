"""KL autoencoder: `ModelArgs.latent_channels` latent channels (4 by default, 16 in base.json), ×8
downsampling (three stride-2 stages).

`ModelArgs.vae_norm` picks the normalisation of every VAE block: `group` (GroupNorm, the shipped
model's architecture) or `pixel` (per-position LayerNorm over channels). With GroupNorm the trained
decoder built one activation spike at the left eye that held most of its group's variance and drew a
coloured blob there (docs/training.md, "VAE droplet"); per-position statistics leave a spike nothing to
gain."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..config import ModelArgs
from .blocks import Downsample, ResBlock, Upsample, norm


class Encoder(nn.Module):
    """image [B, 3, H, W] in [-1, 1] → (mean, logvar) [B, C, H/8, W/8] each (C latent channels)."""

    def __init__(self, args: ModelArgs):
        super().__init__()
        ch, g, nk = args.vae_channels, args.groups, args.vae_norm
        self.conv_in = nn.Conv2d(3, ch[0], 3, padding=1)
        layers: list[nn.Module] = []
        for i in range(len(ch)):
            cin = ch[max(i - 1, 0)]
            for b in range(args.vae_blocks):
                layers.append(ResBlock(cin if b == 0 else ch[i], ch[i], g, norm_kind=nk))
            if i < len(ch) - 1:
                layers.append(Downsample(ch[i]))
        self.body = nn.Sequential(*layers)
        self.mid = ResBlock(ch[-1], ch[-1], g, norm_kind=nk)
        self.norm_out = norm(ch[-1], g, nk)
        self.conv_out = nn.Conv2d(ch[-1], 2 * args.latent_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.mid(self.body(self.conv_in(x)))
        mean, logvar = self.conv_out(F.silu(self.norm_out(h))).chunk(2, dim=1)
        return mean, logvar.clamp(-30, 20)


def decoder_blocks(args: ModelArgs) -> int:
    """ResBlocks a level in the decoder (`vae_decoder_blocks`, or one more than the encoder's)."""
    return args.vae_decoder_blocks or args.vae_blocks + 1


def decoder_layout(levels: int, blocks: int) -> list[tuple[int, int]]:
    """The decoder body's layers in order, as (level, block) with block -1 for the level's upsampling
    (none after the last): the flat `body` Sequential's indices, to move weights between layouts."""
    out: list[tuple[int, int]] = []
    for i in range(levels):
        out += [(i, b) for b in range(blocks)] + ([(i, -1)] if i < levels - 1 else [])
    return out


class Decoder(nn.Module):
    """latent [B, C, h, w] → image [B, 3, 8h, 8w] in [-1, 1] (not clamped)."""

    def __init__(self, args: ModelArgs):
        super().__init__()
        ch, g, nk = list(reversed(args.vae_channels)), args.groups, args.vae_norm
        self.conv_in = nn.Conv2d(args.latent_channels, ch[0], 3, padding=1)
        self.mid = ResBlock(ch[0], ch[0], g, norm_kind=nk)
        layers: list[nn.Module] = []
        for i, b in decoder_layout(len(ch), decoder_blocks(args)):
            if b < 0:
                layers.append(Upsample(ch[i]))
            else:
                layers.append(ResBlock(ch[max(i - 1, 0)] if b == 0 else ch[i], ch[i], g, norm_kind=nk))
        self.body = nn.Sequential(*layers)
        self.norm_out = norm(ch[-1], g, nk)
        self.conv_out = nn.Conv2d(ch[-1], 3, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.body(self.mid(self.conv_in(z)))
        return self.conv_out(F.silu(self.norm_out(h)))


class VAE(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.encoder = Encoder(args)
        self.decoder = Decoder(args)

    def forward(self, x: torch.Tensor, sample: bool = True):
        mean, logvar = self.encoder(x)
        z = mean + torch.randn_like(mean) * torch.exp(0.5 * logvar) if sample else mean
        return self.decoder(z), mean, logvar

    @staticmethod
    def kl(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        return 0.5 * (mean.pow(2) + logvar.exp() - 1 - logvar).sum(dim=(1, 2, 3)).mean()
