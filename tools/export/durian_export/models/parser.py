"""Portrait parser: the 68 keypoints and the class masks of a synthetic-domain image.

The CLI runs it on identity and attribute images that come without sidecar files (the paper used
Sapiens for this). Encoder–decoder with skips; masks at full resolution, keypoints by soft-argmax
over heatmaps at 1/4 resolution."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..config import ModelArgs
from .blocks import Downsample, ResBlock, Upsample

NUM_KEYPOINTS = 68


class Parser(nn.Module):
    def __init__(self, args: ModelArgs, num_classes: int):
        super().__init__()
        ch, g = args.parser_channels, args.groups
        self.conv_in = nn.Conv2d(3, ch[0], 3, padding=1)
        self.enc = nn.ModuleList([ResBlock(ch[max(i - 1, 0)], c, g) for i, c in enumerate(ch)])
        self.down = nn.ModuleList([Downsample(c) for c in ch[:-1]])
        self.dec = nn.ModuleList([ResBlock(ch[i + 1] + ch[i], ch[i], g) for i in reversed(range(len(ch) - 1))])
        self.up = nn.ModuleList([Upsample(ch[i + 1]) for i in reversed(range(len(ch) - 1))])
        self.mask_head = nn.Conv2d(ch[0], num_classes, 1)
        self.kp_head = nn.Conv2d(ch[min(2, len(ch) - 1)], NUM_KEYPOINTS, 1)
        self.kp_level = min(2, len(ch) - 1)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """image [N, 3, H, W] in [-1, 1] → (mask logits [N, C, H, W], heatmap logits [N, 68, h, w],
        keypoints [N, 68, 2] in pixels)."""
        H, W = image.shape[-2:]
        h = self.conv_in(image)
        skips = []
        for i, blk in enumerate(self.enc):
            h = blk(h)
            skips.append(h)
            if i < len(self.down):
                h = self.down[i](h)
        level = len(self.enc) - 1
        kp_feat = h if level == self.kp_level else None
        for up, blk in zip(self.up, self.dec):
            h = blk(torch.cat([up(h), skips[level - 1]], 1))
            level -= 1
            if level == self.kp_level:
                kp_feat = h
        heat = self.kp_head(kp_feat)
        return self.mask_head(h), heat, soft_argmax(heat, H, W)


def soft_argmax(heat: torch.Tensor, H: int, W: int) -> torch.Tensor:
    """Heatmap logits [N, K, h, w] → expected (x, y) in pixels of an H × W image."""
    N, K, h, w = heat.shape
    p = F.softmax(heat.reshape(N, K, h * w), -1).reshape(N, K, h, w)
    xs = (torch.arange(w, device=heat.device, dtype=heat.dtype) + 0.5) * (W / w)
    ys = (torch.arange(h, device=heat.device, dtype=heat.dtype) + 0.5) * (H / h)
    return torch.stack([(p.sum(2) * xs).sum(-1), (p.sum(3) * ys).sum(-1)], -1)
