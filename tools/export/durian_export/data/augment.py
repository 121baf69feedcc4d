"""Reference augmentation (Durian §3): random affine of a reference and its mask together,
exposed areas filled with the masked-out value (black), colour jitter on the attribute reference."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..transfer import to_device


def random_affine(image: torch.Tensor, mask: torch.Tensor, g: torch.Generator, translate: float = 0.06,
                  scale: tuple[float, float] = (0.9, 1.1), degrees: float = 10.0):
    """image [B, 3, H, W] in [0, 1], mask [B, 1, H, W] → both warped by one random similarity each."""
    B = image.shape[0]
    dev = image.device
    r = lambda lo, hi: to_device(lo + (hi - lo) * torch.rand(B, generator=g), dev)  # noqa: E731
    ang = r(-degrees, degrees) * math.pi / 180
    s = r(*scale)
    tx, ty = r(-translate, translate) * 2, r(-translate, translate) * 2
    cos, sin = torch.cos(ang) / s, torch.sin(ang) / s
    theta = torch.stack([torch.stack([cos, -sin, tx], -1), torch.stack([sin, cos, ty], -1)], 1)
    grid = F.affine_grid(theta, list(image.shape), align_corners=False)
    warped = F.grid_sample(torch.cat([image, mask], 1), grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return warped[:, :3], warped[:, 3:]


def colour_jitter(image: torch.Tensor, g: torch.Generator, amount: float = 0.1) -> torch.Tensor:
    """Brightness and contrast jitter (hue is left alone: colour is part of the attribute)."""
    B = image.shape[0]
    dev = image.device
    b = to_device(1 + amount * (2 * torch.rand(B, generator=g) - 1), dev)[:, None, None, None]
    c = to_device(1 + amount * (2 * torch.rand(B, generator=g) - 1), dev)[:, None, None, None]
    mean = image.mean(dim=(1, 2, 3), keepdim=True)
    return ((image - mean) * c + mean) * b
