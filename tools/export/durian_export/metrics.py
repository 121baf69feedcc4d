"""Image metrics, one convention for every Python tool (eval, vae_health, export parity checks).

- PSNR: torchmetrics' `peak_signal_noise_ratio`, data range 1 (images in [0, 1]), the squared error
  pooled over every scored pixel and channel of every frame given (not a mean of per-frame PSNRs).
- SSIM: torchmetrics' `structural_similarity_index_measure` (Wang et al. 2004: Gaussian window
  11×11, σ = 1.5, K1 = 0.01, K2 = 0.03, data range 1), its per-pixel map averaged over the scored
  pixels.
- A `covered` mask [N, 1, H, W] restricts every metric to pixels that hold image content in both
  images, e.g. the ground truth warped into the model's frame leaves areas the source never covered;
  SSIM then averages only where the whole 11×11 window is covered (so no padded pixel enters a
  window).
- Regions from the 68 iBUG keypoints: the subject's right eye is points 36–41 (image left), the left
  eye 42–47 (image right), the mouth 48–67.
- Paired differences between two methods over the same cases: the mean and a bootstrap 95 %
  confidence interval (`scipy.stats.bootstrap`, BCa, 10,000 resamples, seeded).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

SSIM_WINDOW = 11
REGIONS = {"right_eye": (36, 42), "left_eye": (42, 48), "mouth": (48, 68)}


DARK = 0.15  # a pixel whose mean of RGB (in [0, 1]) is below this counts as dark (dark hair, dark skin)


def dark_pixels(images: torch.Tensor, below: float = DARK, least: float = 0.01) -> torch.Tensor | None:
    """bool [N, 1, H, W]: the pixels of images [N, 3, H, W] in [0, 1] whose mean of RGB is below
    `below`; None where they are under `least` of all pixels (too few to score on their own)."""
    dark = images.mean(1, keepdim=True) < below
    return dark if float(dark.float().mean()) >= least else None


def _mask(mask: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
    """mask [N, 1, H, W] (or None: everything) → bool [N, 1, H, W]."""
    if mask is None:
        return torch.ones(like.shape[0], 1, *like.shape[2:], dtype=torch.bool)
    return mask > 0.5 if mask.dtype != torch.bool else mask


def psnr(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor | None = None) -> float:
    """PSNR (dB) of [N, C, H, W] images in [0, 1] over the pixels of mask [N, 1, H, W] (all if None)."""
    m = _mask(mask, a).expand_as(a)
    if not bool(m.any()):
        raise ValueError("psnr: the mask covers no pixel")
    return float(peak_signal_noise_ratio(a.float()[m], b.float()[m], data_range=1.0))


def erode(mask: torch.Tensor, window: int = SSIM_WINDOW) -> torch.Tensor:
    """bool [N, 1, H, W]: pixels whose whole window × window neighbourhood lies inside mask."""
    m = _mask(mask, mask).float()
    inside = -F.max_pool2d(-F.pad(m, [window // 2] * 4, value=0.0), window, stride=1)
    return inside > 0.5


def ssim(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor | None = None) -> float:
    """Mean SSIM of [N, 3, H, W] images in [0, 1] over the pixels whose 11×11 window lies inside
    mask [N, 1, H, W] (None: every pixel, torchmetrics' own reflection padding at the border)."""
    _, full = structural_similarity_index_measure(a.float(), b.float(), gaussian_kernel=True, sigma=1.5,
                                                  kernel_size=SSIM_WINDOW, data_range=1.0, k1=0.01, k2=0.03,
                                                  return_full_image=True)
    if mask is None:
        return float(full.mean())
    keep = erode(mask).expand_as(full)
    if not bool(keep.any()):
        raise ValueError("ssim: no pixel has its whole window inside the mask")
    return float(full[keep].mean())


_LAPLACIAN = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])


def laplacian(images: torch.Tensor) -> torch.Tensor:
    """Each channel's 3×3 Laplacian (valid part only): [N, C, H-2, W-2]."""
    c = images.shape[1]
    k = _LAPLACIAN.to(images).view(1, 1, 3, 3).repeat(c, 1, 1, 1)
    return F.conv2d(images, k, groups=c)


def detail_ratio(a: torch.Tensor, b: torch.Tensor, border: int = 8) -> float:
    """How much fine detail `a` keeps of `b`'s: the mean square of a's Laplacian over b's, away from
    the frame's `border`. 1 for the same detail, below 1 for a smoother image (a VAE that draws hair
    strands as a flat fill keeps about 0.38: docs/training.md), above 1 for added noise. PSNR barely
    sees this (the strands are a few pixels wide), so it is reported beside it."""
    la, lb = laplacian(a), laplacian(b)
    if border > 1:
        la, lb = la[..., border - 1:1 - border, border - 1:1 - border], lb[..., border - 1:1 - border, border - 1:1 - border]
    return float(la.pow(2).mean() / lb.pow(2).mean().clamp(min=1e-12))


def region_l1(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> float:
    """Mean |a − b| over the pixels of mask [N, 1, H, W] (weights in [0, 1])."""
    w = mask.float().expand_as(a)
    return float((w * (a - b).abs()).sum() / w.sum().clamp(min=1e-6))


def keypoint_box(kp: torch.Tensor, lo: int, hi: int, size: int | tuple[int, int], margin: float = 0.35,
                 min_margin: float = 3.0) -> torch.Tensor:
    """Mask [N, 1, H, W] of the bounding box of keypoints lo..hi-1 (kp [N, 68, 2], pixel x, y with
    pixel centres at +0.5), grown on every side by margin × the box's larger side (≥ min_margin px)."""
    H, W = (size, size) if isinstance(size, int) else size
    pts = kp[:, lo:hi].float()
    p0, p1 = pts.amin(1), pts.amax(1)  # [N, 2]
    grow = ((p1 - p0).amax(1, keepdim=True) * margin).clamp(min=min_margin)
    p0, p1 = p0 - grow, p1 + grow
    xs = torch.arange(W, dtype=torch.float32, device=kp.device) + 0.5
    ys = torch.arange(H, dtype=torch.float32, device=kp.device) + 0.5
    inx = (xs[None] >= p0[:, :1]) & (xs[None] <= p1[:, :1])  # [N, W]
    iny = (ys[None] >= p0[:, 1:]) & (ys[None] <= p1[:, 1:])  # [N, H]
    return (iny[:, :, None] & inx[:, None, :])[:, None].float()


def colour_drift(frames: torch.Tensor, mask: torch.Tensor) -> float:
    """How much a region's colour wanders over a clip: each frame's mean colour inside mask
    ([N, 1, H, W] weights, per frame), then the mean L1 distance (averaged over R, G, B) of those
    means from their mean over the clip. A steady colour scores 0 whatever its error; hair that turns
    from brown to maroon within a clip does not. Frames whose mask is empty are left out."""
    w = mask.float().expand_as(frames)
    area = w.sum((2, 3))  # [N, 3]
    keep = area[:, 0] > 0
    if int(keep.sum()) < 2:
        return 0.0
    means = (w * frames).sum((2, 3))[keep] / area[keep]
    return float((means - means.mean(0)).abs().mean())


def region_errors(a: torch.Tensor, b: torch.Tensor, kp: torch.Tensor, covered: torch.Tensor | None = None) -> dict:
    """L1 of [N, 3, H, W] a vs b in each keypoint region (left eye, right eye, mouth; covered pixels only)."""
    out = {}
    for name, (lo, hi) in REGIONS.items():
        m = keypoint_box(kp, lo, hi, tuple(a.shape[-2:]))
        if covered is not None:
            m = m * _mask(covered, a).float()
        out[f"{name}_l1"] = region_l1(a, b, m)
    return out


IRIS_RADIUS = 0.1  # of the eye's width (its corners' distance). SynthPortrait draws the iris 0.2-0.59 × the eye's
# half-width in radius and the pupil 0.42 × the iris: a disc of this size is always inside the iris, pupil included


def iris_disc(kp: torch.Tensor, lo: int, hi: int, size: int | tuple[int, int]) -> torch.Tensor:
    """Mask [N, 1, H, W] of a disc at the centre of one eye's six keypoints lo..hi-1 (kp [N, 68, 2],
    pixel x, y, centres at +0.5), of radius IRIS_RADIUS × the distance of its corners (the eye's 1st
    and 4th points): a patch of the iris and pupil, without lids, white or skin."""
    H, W = (size, size) if isinstance(size, int) else size
    pts = kp[:, lo:hi].float()
    c = pts.mean(1)  # [N, 2]
    r = IRIS_RADIUS * (pts[:, 3] - pts[:, 0]).norm(dim=-1)
    ys = torch.arange(H, dtype=torch.float32, device=kp.device)[:, None] + 0.5
    xs = torch.arange(W, dtype=torch.float32, device=kp.device)[None] + 0.5
    cx, cy, r2 = c[:, 0, None, None], c[:, 1, None, None], (r * r)[:, None, None]
    return ((xs - cx) ** 2 + (ys - cy) ** 2 <= r2).float()[:, None]


def iris_colour_error(a: torch.Tensor, b: torch.Tensor, kp: torch.Tensor, covered: torch.Tensor | None = None) -> float:
    """How far the irises' colour is off: per frame and eye, the mean colour of a [N, 3, H, W] in
    `iris_disc` against b's, as the L1 of the two mean colours averaged over R, G and B; then the
    mean over the eyes and frames that have covered pixels in the disc. The eye boxes' L1 pools lids,
    whites and skin with the iris, so an iris of the wrong colour (blue where the truth's is green)
    moves it little; this reads the colour alone. Written by hand: it is a masked mean."""
    cov = _mask(covered, a).float() if covered is not None else 1.0
    errs = []
    for lo, hi in (REGIONS["right_eye"], REGIONS["left_eye"]):
        disc = iris_disc(kp, lo, hi, tuple(a.shape[-2:])) * cov
        area = disc.sum((2, 3))  # [N, 1]
        keep = area[:, 0] > 0
        if bool(keep.any()):
            ma = (disc * a).sum((2, 3))[keep] / area[keep]
            mb = (disc * b).sum((2, 3))[keep] / area[keep]
            errs.append((ma - mb).abs().mean(1))
    return float(torch.cat(errs).mean()) if errs else 0.0


def keypoint_jitter(kp: np.ndarray) -> float:
    """Mean |second difference| over time of keypoints [F, 68, 2], in their units (0 for fewer than 3
    frames): how much they shake from frame to frame beyond steady motion."""
    return float(np.linalg.norm(kp[2:] - 2 * kp[1:-1] + kp[:-2], axis=-1).mean()) if len(kp) > 2 else 0.0


def paired_bootstrap(x, y, confidence: float = 0.95, resamples: int = 10_000, seed: int = 0) -> dict:
    """Mean of the paired differences x − y (one value per case each) with its bootstrap confidence
    interval (scipy.stats.bootstrap, BCa). Returns n, mean, low, high."""
    from scipy.stats import bootstrap

    d = np.asarray(x, dtype=np.float64) - np.asarray(y, dtype=np.float64)
    if d.ndim != 1 or len(d) < 2:
        raise ValueError("paired_bootstrap: needs two equal-length 1-D samples of at least 2 cases")
    if np.all(d == d[0]):  # no spread: the interval is the point (BCa is undefined)
        return {"n": len(d), "mean": float(d[0]), "low": float(d[0]), "high": float(d[0])}
    r = bootstrap((d,), np.mean, confidence_level=confidence, n_resamples=resamples, method="BCa",
                  rng=np.random.default_rng(seed))
    return {"n": len(d), "mean": float(d.mean()), "low": float(r.confidence_interval.low),
            "high": float(r.confidence_interval.high)}
