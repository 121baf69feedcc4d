"""Reference augmentation (Durian §3): random affine of a reference and its mask together,
exposed areas filled with the masked-out value (black), colour jitter on the attribute reference.
And the parser's degradations (`degrade`)."""
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


def degrade(image: torch.Tensor, g: torch.Generator, blur: float = 2.5, p_blur: float = 0.7, p_resample: float = 0.3,
            noise: float = 0.04, p_noise: float = 0.5, patches: int = 3, p_patches: float = 0.3) -> torch.Tensor:
    """image [B, 3, H, W] in [0, 1] → the same images made to look more like generated frames, each
    sample on its own draw: Gaussian blur (σ up to `blur` px), detail lost to a 2× or 4× smaller
    image and back, pixel noise (σ up to `noise`), and up to `patches` small blotches of a wrong
    colour (a smudged or discoloured eye). None of them moves a pixel, so keypoints and masks stay
    true. The per-sample draws come from `g`; the pixel noise from a device generator seeded by it."""
    B, C, H, W = image.shape
    dev = image.device
    u = lambda *shape: torch.rand(*shape, generator=g)  # noqa: E731
    x = image
    # blur: a separable Gaussian per sample (σ 0 is the identity), as one grouped convolution
    sigma = torch.where(u(B) < p_blur, u(B) * blur, torch.zeros(B)).clamp_min(1e-3)
    r = max(1, math.ceil(3 * blur))
    taps = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-taps[None] ** 2 / (2 * sigma[:, None] ** 2))
    k = to_device((k / k.sum(1, keepdim=True)).repeat_interleave(C, 0), dev).to(x.dtype)  # [B·C, 2r + 1]
    y = F.pad(x.reshape(1, B * C, H, W), (r, r, r, r), mode="replicate")
    y = F.conv2d(y, k[:, None, None, :], groups=B * C)
    x = F.conv2d(y, k[:, None, :, None], groups=B * C).reshape(B, C, H, W)
    # lost resolution: area-downsampled by 2 or 4, then bilinear back up
    factor = torch.where(u(B) < p_resample, torch.where(u(B) < 0.5, 2, 4), 1)
    for f in (2, 4):
        pick = to_device(factor == f, dev)
        if bool((factor == f).any()):
            small = F.interpolate(F.avg_pool2d(x, f), size=(H, W), mode="bilinear", align_corners=False)
            x = torch.where(pick[:, None, None, None], small, x)
    # pixel noise
    amp = to_device(torch.where(u(B) < p_noise, u(B) * noise, torch.zeros(B)), dev).to(x.dtype)
    gd = torch.Generator(device=dev).manual_seed(int(torch.randint(1 << 62, (1,), generator=g)))
    x = x + amp[:, None, None, None] * torch.randn(x.shape, generator=gd, device=dev, dtype=x.dtype)
    # blotches: rectangles 4–16 px a side, in a random colour, 50–100 % opaque
    if patches:
        on = (u(B, 1) < p_patches) & (torch.arange(patches)[None] < torch.randint(1, patches + 1, (B, 1), generator=g))
        size = 4 + u(B, patches, 2) * 12
        x0 = u(B, patches) * (W - size[..., 0])
        y0 = u(B, patches) * (H - size[..., 1])
        colour = to_device(u(B, patches, 3), dev).to(x.dtype)
        alpha = to_device(torch.where(on, 0.5 + 0.5 * u(B, patches), torch.zeros(B, patches)), dev).to(x.dtype)
        xs = torch.arange(W, device=dev, dtype=torch.float32)
        ys = torch.arange(H, device=dev, dtype=torch.float32)
        box = lambda lo, n, grid: (grid >= to_device(lo, dev)[..., None]) & (grid < to_device(lo + n, dev)[..., None])  # noqa: E731
        inside = box(y0, size[..., 1], ys)[..., :, None] & box(x0, size[..., 0], xs)[..., None, :]  # [B, P, H, W]
        for p in range(patches):
            a = (alpha[:, p, None, None] * inside[:, p])[:, None]
            x = x + a * (colour[:, p, :, None, None] - x)
    return x.clamp(0, 1)
