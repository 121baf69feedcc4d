"""How well attribute masks fit a new face: the keypoint aligner (data/align.py) against the
similarity transform, on SynthPortrait cross-identity pairs with exact ground truth.

A pair: identity A in one pose, donor B wearing attribute X in another pose, and the renderer's
ground truth of A (A's pose) wearing B's X. The donor's X mask is warped onto A by each method and
compared with the ground truth's X mask (IoU of the masks thresholded at 0.5).

    python -m durian_export.align_bench --pairs 24 --size 256
"""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .data.align import CLASS_ANCHORS, align_attribute, attribute_grid, similarity_align
from .synth import catalog, render, sample_attributes, sample_identities, sample_motion
from .synth.params import Motion

CLS = catalog.CLS


@dataclass
class Pairs:
    """Cross-identity pairs of one attribute class (all [N, …], pixels, keypoints iBUG-68)."""

    cls: str
    donor_rgb: torch.Tensor    # [N, 3, H, W]
    donor_mask: torch.Tensor   # [N, 1, H, W] the donor's mask of `cls`
    donor_kp: torch.Tensor     # [N, 68, 2]
    identity_kp: torch.Tensor  # [N, 68, 2]
    truth_mask: torch.Tensor   # [N, 1, H, W] `cls` mask of the ground truth (A wearing B's attribute)


def _frame(m: Motion, cols: torch.Tensor) -> Motion:
    return Motion(**{k: torch.gather(v, 1, cols[:, None]) for k, v in vars(m).items()})


def make_pairs(cls: str, n: int, seed: int = 1234, size: int = 256) -> Pairs:
    """`n` pairs of class `cls`: identities and donors are different people in different poses
    (other people for each class); only hair and `cls` are worn, so nothing else occludes it."""
    if cls not in catalog.ATTRIBUTE_CLASSES:
        raise ValueError(f"Unknown attribute class {cls!r}; valid: {', '.join(catalog.ATTRIBUTE_CLASSES)}")
    probs = {c: 0.0 for c in catalog.ATTRIBUTE_CLASSES} | {"hair": 0.92, cls: 1.0}
    first = 1000 * catalog.ATTRIBUTE_CLASSES.index(cls)
    ids = list(range(first, first + n))
    donors = list(range(10_000 + first, 10_000 + first + n))
    g = torch.Generator().manual_seed(seed)
    col_a, col_b = torch.randint(25, (n,), generator=g), torch.randint(25, (n,), generator=g)
    ident_a, attrs_a = sample_identities(seed, ids), sample_attributes(seed, ids, probs=probs | {cls: 0.0})
    ident_b, attrs_b = sample_identities(seed, donors), sample_attributes(seed, donors, probs=probs)
    motion_a = _frame(sample_motion(seed, ids, frames=25), col_a)
    motion_b = _frame(sample_motion(seed, donors, frames=25), col_b)
    donor = render(ident_b, attrs_b, motion_b, size=size)
    truth = render(ident_a, attrs_a.swap_class(cls, attrs_b), motion_a, size=size)
    c = CLS[cls]
    return Pairs(cls=cls, donor_rgb=donor.rgb[:, 0], donor_mask=donor.masks[:, 0, c:c + 1], donor_kp=donor.keypoints[:, 0],
                 identity_kp=truth.keypoints[:, 0], truth_mask=truth.masks[:, 0, c:c + 1])


def iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-sample IoU [N] of soft masks [N, 1, H, W] thresholded at 0.5."""
    a, b = a > 0.5, b > 0.5
    inter = (a & b).flatten(1).sum(1).float()
    union = (a | b).flatten(1).sum(1).float()
    return inter / union.clamp(min=1)


def landmark_images(kp: torch.Tensor, size: int, sigma: float = 1.5) -> torch.Tensor:
    """One Gaussian blob per keypoint: [N, 68, H, W] (pixel centres at +0.5)."""
    ax = torch.arange(size, dtype=torch.float32) + 0.5
    dx = ax[None, None, None, :] - kp[..., 0, None, None]
    dy = ax[None, None, :, None] - kp[..., 1, None, None]
    return torch.exp(-(dx * dx + dy * dy) / (2 * sigma * sigma))


def centroids(images: torch.Tensor) -> torch.Tensor:
    """Intensity centroids [N, K, 2] of images [N, K, H, W]."""
    H, W = images.shape[-2:]
    ys = torch.arange(H, dtype=torch.float32) + 0.5
    xs = torch.arange(W, dtype=torch.float32) + 0.5
    total = images.sum((-1, -2)).clamp(min=1e-9)
    return torch.stack([(images.sum(-2) * xs).sum(-1) / total, (images.sum(-1) * ys).sum(-1) / total], -1)


def landmark_error(p: Pairs) -> torch.Tensor:
    """Per pair, mean distance [N] (pixels) between the identity's keypoints and where the aligner's
    image warp puts the donor's, over the class's anchor keypoints. Each donor keypoint is drawn
    as a blob, the blobs warped as the image is, and found again by their centroids."""
    n, size = len(p.donor_kp), p.donor_rgb.shape[-1]
    idx = list(CLASS_ANCHORS[p.cls])
    grid = attribute_grid(p.donor_kp, p.identity_kp, p.cls, (size, size), (size, size))
    errs = []
    for i in range(n):
        blobs = landmark_images(p.donor_kp[i:i + 1, idx], size)  # [1, K, H, W]
        warped = F.grid_sample(blobs, grid[i:i + 1], mode="bilinear", padding_mode="zeros", align_corners=False)
        errs.append((centroids(warped)[0] - p.identity_kp[i, idx]).norm(dim=-1).mean())
    return torch.stack(errs)


def evaluate(n: int, seed: int, size: int) -> dict[str, dict[str, float]]:
    out = {}
    for cls in catalog.ATTRIBUTE_CLASSES:
        p = make_pairs(cls, n, seed, size)
        _, m_tps = align_attribute(p.donor_rgb, p.donor_mask, p.donor_kp, p.identity_kp, [cls] * n)
        _, m_sim = similarity_align(p.donor_rgb, p.donor_mask, p.donor_kp, p.identity_kp)
        i_tps, i_sim = iou(m_tps, p.truth_mask), iou(m_sim, p.truth_mask)
        out[cls] = {"iou_aligner": float(i_tps.mean()), "iou_similarity": float(i_sim.mean()),
                    "pairs_better": int((i_tps > i_sim).sum()), "pairs": n,
                    "landmark_error_px": float(landmark_error(p).mean())}
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", type=int, default=24)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--size", type=int, default=256)
    args = ap.parse_args(argv)
    res = evaluate(args.pairs, args.seed, args.size)
    print(f"{'class':8} {'IoU aligner':>12} {'IoU similarity':>15} {'better':>8} {'landmark err px':>16}")
    for cls, r in res.items():
        print(f"{cls:8} {r['iou_aligner']:12.3f} {r['iou_similarity']:15.3f} {r['pairs_better']:>4}/{r['pairs']:<3} "
              f"{r['landmark_error_px']:16.2f}")
    print(json.dumps(res))


if __name__ == "__main__":
    main()
