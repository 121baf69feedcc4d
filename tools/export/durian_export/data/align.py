"""Keypoint face aligner for attribute references and masks.

An attribute image and its mask are warped from the donor's face onto the identity's face by a thin-
plate spline (Bookstein 1989) through class-specific control points: hair and hats follow the head
outline, glasses the eyes, beards the jaw and mouth. The 68 iBUG points do not reach past the face,
so every class also gets points of a *head frame* built from the keypoints (origin between the
temples 0 and 16, x half-axis to temple 16, y half-axis perpendicular to it, as long as the eye-line
to chin distance): an arc over the top of the head and rings further out. There the spline reduces to
the map between the two head frames, which keeps the warp smooth far outside the face, where hair
reaches.

The TypeScript CLI does the same warp (src/face/attribute-align.ts); a parity test holds them to it.
Coordinates are pixels (pixel centres at +0.5), keypoints in iBUG-68 order.

NOTE: hand-written rather than taken from a library: the spline is a (K+3)² linear solve per sample
that must be batched in torch on the training device and repeated bit-for-bit in TypeScript; the
libraries that warp by a spline (kornia's, OpenCV's shape module) fix their own control points,
kernel scaling and sampling conventions, which the TypeScript side would then have to copy anyway.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..transfer import index, to_device

JAW = tuple(range(0, 17))
BROWS = tuple(range(17, 27))
NOSE_BRIDGE = tuple(range(27, 31))
NOSE_BASE = tuple(range(31, 36))
EYES = tuple(range(36, 48))
OUTER_LIPS = tuple(range(48, 60))

# Per class: the keypoints that anchor it, the head-frame arc over the head (radius, angles) and
# whether the far rings are used. Angles are in the head frame: 0 towards temple 16, −π/2 up.
_UPPER_ARC = tuple(-math.pi * j / 6 for j in range(1, 6))
CLASS_ANCHORS: dict[str, tuple[int, ...]] = {
    "hair": JAW,
    "hat": JAW,
    "glasses": (0, 1, 15, 16) + BROWS + NOSE_BRIDGE + EYES,
    "beard": JAW + NOSE_BASE + OUTER_LIPS,
}
CLASS_ARCS: dict[str, tuple[float, ...]] = {"hair": (1.0, 1.35), "hat": (1.0, 1.35), "glasses": (), "beard": ()}
# Full rings (radius, points) around every class: the far field follows the head frames.
RINGS = ((1.8, 12), (2.8, 12), (4.5, 8))
# Spline smoothing in units of the destination head half-width (squared-distance kernel); small,
# so control points land within a fraction of a pixel, but enough to keep coincident points (a
# closed eye's lids) from making the system singular.
SMOOTHING = 1e-3


def head_frame(kp: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Origin [B, 2], x half-axis [B, 2] and y half-axis [B, 2] of the head frame of keypoints [B, 68, 2]."""
    origin = (kp[:, 0] + kp[:, 16]) / 2
    ex = (kp[:, 16] - kp[:, 0]) / 2
    unit = ex / ex.norm(dim=-1, keepdim=True).clamp(min=1e-6)
    down = torch.stack([-unit[:, 1], unit[:, 0]], -1)  # ex turned 90° towards the chin (y points down)
    height = ((kp[:, 8] - origin) * down).sum(-1, keepdim=True)
    return origin, ex, down * height


def control_points(kp: torch.Tensor, cls: str) -> torch.Tensor:
    """Control points [B, K, 2] of class `cls` for keypoints [B, 68, 2] (same K for every image)."""
    if cls not in CLASS_ANCHORS:
        raise ValueError(f"Unknown attribute class {cls!r}; valid: {', '.join(CLASS_ANCHORS)}")
    origin, ex, ey = head_frame(kp)
    polar = [(r, a) for r in CLASS_ARCS[cls] for a in _UPPER_ARC]
    polar += [(r, 2 * math.pi * j / n) for r, n in RINGS for j in range(n)]
    r = to_device(torch.tensor([p[0] for p in polar], dtype=kp.dtype), kp.device)
    ang = to_device(torch.tensor([p[1] for p in polar], dtype=kp.dtype), kp.device)
    cx, cy = (r * torch.cos(ang))[None, :, None], (r * torch.sin(ang))[None, :, None]
    extra = origin[:, None] + cx * ex[:, None] + cy * ey[:, None]
    return torch.cat([kp[:, index(CLASS_ANCHORS[cls], kp.device)], extra], 1)


def _kernel(d2: torch.Tensor) -> torch.Tensor:
    """TPS radial basis on squared distances: U = r² log r² (0 at r = 0)."""
    return torch.where(d2 > 0, d2 * torch.log(d2.clamp(min=1e-300)), torch.zeros_like(d2))


def fit_tps(dst: torch.Tensor, src: torch.Tensor, scale: torch.Tensor, smoothing: float = SMOOTHING):
    """Spline from dst points [B, K, 2] to src points [B, K, 2], float64.

    Returns (weights [B, K+3, 2], normalised dst points [B, K, 2], centre [B, 2]); `scale` [B] is
    the unit dst coordinates are divided by."""
    dst, src = dst.double(), src.double()
    centre = dst.mean(1)
    q = (dst - centre[:, None]) / scale.double()[:, None, None]
    B, K, _ = q.shape
    Kmat = _kernel(((q[:, :, None] - q[:, None]) ** 2).sum(-1))
    Kmat = Kmat + smoothing * torch.eye(K, dtype=q.dtype, device=q.device)
    P = torch.cat([torch.ones(B, K, 1, dtype=q.dtype, device=q.device), q], -1)
    top = torch.cat([Kmat, P], -1)
    bottom = torch.cat([P.transpose(1, 2), torch.zeros(B, 3, 3, dtype=q.dtype, device=q.device)], -1)
    A = torch.cat([top, bottom], 1)
    rhs = torch.cat([src, torch.zeros(B, 3, 2, dtype=q.dtype, device=q.device)], 1)
    # solve_ex: no singularity check, which would read a flag back from the device every call (the
    # smoothing term keeps the system regular)
    return torch.linalg.solve_ex(A, rhs)[0], q, centre


def eval_tps(weights: torch.Tensor, q: torch.Tensor, centre: torch.Tensor, scale: torch.Tensor,
             pts: torch.Tensor) -> torch.Tensor:
    """The fitted spline at points [B, N, 2] (dst pixels) → src pixels [B, N, 2], float64."""
    x = (pts.double() - centre[:, None]) / scale.double()[:, None, None]
    U = _kernel(((x[:, :, None] - q[:, None]) ** 2).sum(-1))
    K = q.shape[1]
    affine = weights[:, K][:, None] + x[..., :1] * weights[:, K + 1][:, None] + x[..., 1:] * weights[:, K + 2][:, None]
    return U @ weights[:, :K] + affine


def _dst_scale(dst_kp: torch.Tensor) -> torch.Tensor:
    return ((dst_kp[:, 16] - dst_kp[:, 0]) / 2).double().norm(dim=-1).clamp(min=1e-6)


def attribute_grid(src_kp: torch.Tensor, dst_kp: torch.Tensor, cls: str, out_size: tuple[int, int],
                   src_size: tuple[int, int]) -> torch.Tensor:
    """Per destination pixel its source position, as a grid_sample grid [B, H, W, 2] (align_corners=False)."""
    H, W = out_size
    sh, sw = src_size
    src_c, dst_c = control_points(src_kp.double(), cls), control_points(dst_kp.double(), cls)
    scale = _dst_scale(dst_kp)
    weights, q, centre = fit_tps(dst_c, src_c, scale)
    ys = torch.arange(H, dtype=torch.float64, device=src_kp.device) + 0.5
    xs = torch.arange(W, dtype=torch.float64, device=src_kp.device) + 0.5
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    pix = torch.stack([gx, gy], -1).reshape(1, -1, 2).expand(len(src_kp), -1, -1)
    src = eval_tps(weights, q, centre, scale, pix).reshape(-1, H, W, 2)
    grid = torch.stack([src[..., 0] / sw * 2 - 1, src[..., 1] / sh * 2 - 1], -1)
    return grid.float()


def align_attribute(image: torch.Tensor, mask: torch.Tensor, src_kp: torch.Tensor, dst_kp: torch.Tensor,
                    classes: list[str], out_size: tuple[int, int] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Warps attribute images [B, 3, H, W] and masks [B, 1, H, W] from the donor's keypoints src_kp
    [B, 68, 2] onto the identity's dst_kp [B, 68, 2] (pixels, iBUG-68), by class: classes[i] is one
    of hair, hat, glasses, beard. Bilinear, zero outside the source. Returns (image, mask) of size
    out_size (default: the input's)."""
    B, _, H, W = image.shape
    if not (mask.shape[0] == src_kp.shape[0] == dst_kp.shape[0] == len(classes) == B):
        raise ValueError(f"batch sizes differ: image {B}, mask {mask.shape[0]}, src_kp {src_kp.shape[0]}, "
                         f"dst_kp {dst_kp.shape[0]}, classes {len(classes)}")
    out_h, out_w = out_size or (H, W)
    grid = torch.empty(B, out_h, out_w, 2, device=image.device)
    for cls in sorted(set(classes)):
        rows = index([i for i, c in enumerate(classes) if c == cls], image.device)
        grid[rows] = attribute_grid(src_kp[rows], dst_kp[rows], cls, (out_h, out_w), (H, W)).to(image.device)
    warped = F.grid_sample(torch.cat([image, mask], 1), grid, mode="bilinear", padding_mode="zeros",
                           align_corners=False)
    return warped[:, :3], warped[:, 3:]


def similarity_align(image: torch.Tensor, mask: torch.Tensor, src_kp: torch.Tensor, dst_kp: torch.Tensor):
    """The baseline the aligner replaces: one least-squares similarity (Umeyama, no reflection) of all
    68 keypoints src → dst, as the CLI's template alignment does. Same sampling as align_attribute."""
    B, _, H, W = image.shape
    s, d = src_kp.double(), dst_kp.double()
    sm, dm = s.mean(1, keepdim=True), d.mean(1, keepdim=True)
    p, q = s - sm, d - dm
    a = (p * q).sum((1, 2)) / (p * p).sum((1, 2))
    b = (p[..., 0] * q[..., 1] - p[..., 1] * q[..., 0]).sum(1) / (p * p).sum((1, 2))
    # inverse map dst → src: rotate back by −θ and scale 1/s
    n = a * a + b * b
    ia, ib = a / n, b / n
    ys = torch.arange(H, dtype=torch.float64, device=image.device) + 0.5
    xs = torch.arange(W, dtype=torch.float64, device=image.device) + 0.5
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    dx = gx[None] - dm[:, 0, 0, None, None]
    dy = gy[None] - dm[:, 0, 1, None, None]
    sx = ia[:, None, None] * dx + ib[:, None, None] * dy + sm[:, 0, 0, None, None]
    sy = -ib[:, None, None] * dx + ia[:, None, None] * dy + sm[:, 0, 1, None, None]
    grid = torch.stack([sx / W * 2 - 1, sy / H * 2 - 1], -1).float()
    warped = F.grid_sample(torch.cat([image, mask], 1), grid, mode="bilinear", padding_mode="zeros",
                           align_corners=False)
    return warped[:, :3], warped[:, 3:]
