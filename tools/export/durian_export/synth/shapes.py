"""Soft 2-D primitives for the renderer. Every function works on broadcastable tensors; distances
are signed (negative inside) in the units of their inputs."""
from __future__ import annotations

import torch


def coverage(sd: torch.Tensor, aa: torch.Tensor | float) -> torch.Tensor:
    """Anti-aliased coverage of a shape from its signed distance; `aa` is one pixel in sd units."""
    return (0.5 - sd / aa).clamp(0, 1)


def ellipse_sd(u: torch.Tensor, v: torch.Tensor, rx, ry) -> torch.Tensor:
    """Approximate signed distance to an axis-aligned ellipse (exact for circles)."""
    r = torch.sqrt((u / rx) ** 2 + (v / ry) ** 2 + 1e-12)
    return (r - 1) * torch.minimum(torch.as_tensor(rx), torch.as_tensor(ry))


def box_sd(u: torch.Tensor, v: torch.Tensor, hx, hy, radius=0.0) -> torch.Tensor:
    """Signed distance to a box of half-sizes (hx, hy) with rounded corners."""
    qx = u.abs() - hx + radius
    qy = v.abs() - hy + radius
    outside = torch.sqrt(qx.clamp(min=0) ** 2 + qy.clamp(min=0) ** 2)
    return outside + torch.maximum(qx, qy).clamp(max=0) - radius


def segment_sd(px, py, ax, ay, bx, by, radius) -> torch.Tensor:
    """Signed distance to a capsule from (ax, ay) to (bx, by)."""
    dx, dy = bx - ax, by - ay
    t = (((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy + 1e-12)).clamp(0, 1)
    return torch.sqrt((px - ax - t * dx) ** 2 + (py - ay - t * dy) ** 2 + 1e-12) - radius


def smoothstep(e0, e1, x: torch.Tensor) -> torch.Tensor:
    t = ((x - e0) / (e1 - e0)).clamp(0, 1)
    return t * t * (3 - 2 * t)


def hash_noise(x: torch.Tensor, y: torch.Tensor, seed) -> torch.Tensor:
    """Deterministic per-position noise in [0, 1): an integer hash of (2x, 2y) pixel positions.

    Integer arithmetic (int64, wrapping) gives the same bits on CPU and CUDA, unlike sine hashes.
    """
    ix = torch.floor(x * 2).to(torch.int64)
    iy = torch.floor(y * 2).to(torch.int64)
    h = ix * 73856093 ^ iy * 19349663 ^ int(seed * 1000) * 83492791
    h = (h * 2654435761) & 0xFFFFFFFF
    h = (h ^ (h >> 15)) * 2246822519 & 0xFFFFFFFF
    return ((h >> 8) & 0xFFFF).to(torch.float32) / 65536.0


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return a + (b - a) * t
