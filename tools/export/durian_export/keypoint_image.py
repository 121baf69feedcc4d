"""Keypoint guidance images: the 68 points drawn as coloured Gaussian dots.

The TypeScript CLI draws the same picture (src/media/keypoint-render.ts) from the same numbers, so
the pose guider sees identical inputs in training and in the product. Change both together.
"""
from __future__ import annotations

import torch

from .transfer import to_device

# iBUG-68 groups and their colours (RGB in [0, 1])
GROUPS = (
    ("jaw", 0, 17, (1.0, 1.0, 1.0)),
    ("brows", 17, 27, (1.0, 0.6, 0.0)),
    ("nose", 27, 36, (0.0, 1.0, 0.0)),
    ("eye_right", 36, 42, (0.0, 0.6, 1.0)),
    ("eye_left", 42, 48, (0.0, 0.2, 1.0)),
    ("mouth_outer", 48, 60, (1.0, 0.0, 0.0)),
    ("mouth_inner", 60, 68, (1.0, 0.0, 1.0)),
)
SIGMA_PER_PIXEL_OF_256 = 2.0  # dot radius (σ) at 256 px; scales with the image size


def point_colours() -> torch.Tensor:
    """[68, 3] colour of every keypoint."""
    c = torch.zeros(68, 3)
    for _, a, b, rgb in GROUPS:
        c[a:b] = torch.tensor(rgb)
    return c


def render_keypoints(kp: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """kp [N, 68, 2] pixel (x, y) → images [N, 3, H, W] in [0, 1]: per channel the max over points
    of colour · exp(−d² / 2σ²), σ = 2 px × min(H, W) / 256."""
    sigma = SIGMA_PER_PIXEL_OF_256 * min(height, width) / 256
    ys = torch.arange(height, device=kp.device, dtype=torch.float32) + 0.5
    xs = torch.arange(width, device=kp.device, dtype=torch.float32) + 0.5
    colours = to_device(point_colours(), kp.device)
    out = torch.zeros(kp.shape[0], 3, height, width, device=kp.device)
    for _, a, b, _rgb in GROUPS:
        gx = torch.exp(-((xs[None, None] - kp[:, a:b, 0, None]) ** 2) / (2 * sigma * sigma))  # [N, P, W]
        gy = torch.exp(-((ys[None, None] - kp[:, a:b, 1, None]) ** 2) / (2 * sigma * sigma))  # [N, P, H]
        g = (gy[:, :, :, None] * gx[:, :, None, :]).amax(1)  # [N, H, W]
        out = torch.maximum(out, g[:, None] * colours[a][None, :, None, None])
    return out
