"""Building blocks shared by the VAE, the UNet/ReferenceNets and the parser."""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

NORMS = ("group", "pixel")


class PixelNorm(nn.Module):
    """LayerNorm over the channels at each position (ConvNeXt's channels-first LayerNorm), with a
    per-channel affine. Its statistics are local: a large activation at one spot changes the
    normalisation of that spot only. GroupNorm's mean and variance run over the whole feature map,
    so one spot of a few pixels can dominate them (the VAE decoder's "droplet", docs/training.md)."""

    def __init__(self, channels: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps
        self.channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # channels last for one fused layer_norm (ONNX: LayerNormalization), then back
        return F.layer_norm(x.permute(0, 2, 3, 1), (self.channels,), self.weight, self.bias, self.eps).permute(0, 3, 1, 2)


def norm(channels: int, groups: int, kind: str = "group") -> nn.Module:
    """`group`: GroupNorm (statistics over the group's channels and the whole map); `pixel`: PixelNorm."""
    if kind == "group":
        return nn.GroupNorm(min(groups, channels), channels, eps=1e-6)
    if kind == "pixel":
        return PixelNorm(channels)
    raise ValueError(f"Unknown norm {kind!r}; valid: {', '.join(NORMS)}")


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of (float) timesteps [B] → [B, dim] (DDPM / diffusers convention)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], -1)


class ResBlock(nn.Module):
    """GroupNorm–SiLU–conv ×2 with an optional embedding added between (scale-free, as in DDPM)."""

    def __init__(self, cin: int, cout: int, groups: int, emb_dim: int | None = None, norm_kind: str = "group"):
        super().__init__()
        self.norm1 = norm(cin, groups, norm_kind)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.emb = nn.Linear(emb_dim, cout) if emb_dim else None
        self.norm2 = norm(cout, groups, norm_kind)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor | None = None) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        if self.emb is not None and emb is not None:
            h = h + self.emb(F.silu(emb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class Downsample(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, stride=2, padding=1)

    def forward(self, x):
        return self.conv(x)


class Upsample(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


def zero_module(m: nn.Module) -> nn.Module:
    for p in m.parameters():
        nn.init.zeros_(p)
    return m
