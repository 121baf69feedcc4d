"""Pose guider: rendered keypoint image → features added after the denoiser's conv_in
(Animate Anyone / Champ style: small stride-2 conv stack, zero-initialised output)."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..config import ModelArgs
from .blocks import zero_module


class PoseGuider(nn.Module):
    """[N, 3, H, W] keypoint images in [0, 1] → [N, C0, H/8, W/8]."""

    def __init__(self, args: ModelArgs):
        super().__init__()
        ch = args.pose_channels
        layers: list[nn.Module] = [nn.Conv2d(3, ch[0], 3, padding=1)]
        for i in range(len(ch)):
            cout = ch[min(i + 1, len(ch) - 1)]
            layers += [nn.SiLU(), nn.Conv2d(ch[i], ch[i], 3, padding=1), nn.SiLU(),
                       nn.Conv2d(ch[i], cout, 3, stride=2, padding=1)]
        self.body = nn.Sequential(*layers)
        self.out = zero_module(nn.Conv2d(ch[-1], args.unet_channels[0], 3, padding=1))
        assert len(ch) == 3, "three stride-2 stages give the ×8 of the latent"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(F.silu(self.body(x)))
