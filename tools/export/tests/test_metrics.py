"""metrics.py: the one PSNR/SSIM convention (torchmetrics), covered-pixel masking, keypoint regions,
the paired bootstrap interval."""
import math

import numpy as np
import pytest
import torch
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

from durian_export.metrics import (
    REGIONS,
    detail_ratio,
    erode,
    keypoint_box,
    paired_bootstrap,
    psnr,
    region_errors,
    region_l1,
    ssim,
)


def _pair(seed=0, n=2, size=32, noise=0.1):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, size, size, generator=g)
    return x, (x + noise * torch.randn(x.shape, generator=g)).clamp(0, 1)


def test_psnr_and_ssim_are_torchmetrics_with_one_convention():
    x, y = _pair()
    mse = float(((x - y) ** 2).mean())
    assert psnr(x, y) == pytest.approx(10 * math.log10(1 / mse), abs=1e-4)
    assert psnr(x, y) == pytest.approx(float(peak_signal_noise_ratio(x, y, data_range=1.0)), abs=1e-5)
    assert ssim(x, y) == pytest.approx(float(structural_similarity_index_measure(x, y, data_range=1.0)), abs=1e-6)
    assert ssim(x, x) == pytest.approx(1, abs=1e-6) and ssim(x, y) < 0.95
    assert psnr(x, x) == math.inf


def test_padding_outside_the_covered_pixels_does_not_count():
    x, y = _pair(size=48, noise=0.05)
    covered = torch.zeros(2, 1, 48, 48, dtype=torch.bool)
    covered[..., 8:40, 8:40] = True
    # the ground truth is padded with zeros outside; the output has content there
    gt = torch.where(covered, y, torch.zeros_like(y))
    whole, masked = psnr(x, gt), psnr(x, gt, covered)
    assert masked == pytest.approx(psnr(x[..., 8:40, 8:40], y[..., 8:40, 8:40]), abs=1e-4)
    assert whole < masked - 3  # the black padding costs the whole-frame number several dB
    # SSIM: only pixels whose 11×11 window is inside the covered square (8+5 … 40-5) are averaged,
    # so the padding changes nothing
    assert ssim(x, gt, covered) == pytest.approx(ssim(x, y, covered), abs=1e-6)
    assert ssim(x, gt) < ssim(x, gt, covered) - 0.05
    e = erode(covered)
    assert int(e[0, 0].sum()) == (32 - 10) ** 2 and bool(e[0, 0, 13, 13]) and not bool(e[0, 0, 12, 13])
    assert region_l1(x, gt, covered.float()) == pytest.approx(float((x - y)[..., 8:40, 8:40].abs().mean()), abs=1e-6)
    with pytest.raises(ValueError, match="no pixel"):
        psnr(x, y, torch.zeros_like(covered))


def test_keypoint_regions_separate_left_eye_right_eye_and_mouth():
    size = 64
    kp = torch.zeros(1, 68, 2)
    kp[0, :] = torch.tensor([32.0, 50.0])            # everything else far below the eyes
    kp[0, 36:42] = torch.tensor([[16, 20], [18, 19], [20, 19], [22, 20], [20, 21], [18, 21]], dtype=torch.float32)
    kp[0, 42:48] = kp[0, 36:42] + torch.tensor([24.0, 0.0])
    kp[0, 48:68] = torch.tensor([32.0, 44.0]) + torch.randn(20, 2, generator=torch.Generator().manual_seed(0))
    box = keypoint_box(kp, *REGIONS["left_eye"], size)
    assert box.shape == (1, 1, size, size)
    ys, xs = torch.nonzero(box[0, 0], as_tuple=True)
    assert 35 <= int(xs.min()) and int(xs.max()) <= 49 and 15 <= int(ys.min()) and int(ys.max()) <= 25
    assert float((box * keypoint_box(kp, *REGIONS["right_eye"], size)).sum()) == 0
    gt = torch.full((1, 3, size, size), 0.5)
    out = gt.clone()
    out[..., 18:22, 40:44] += 0.3  # a blob in the left eye (image right) only
    e = region_errors(out, gt, kp)
    assert e["left_eye_l1"] > 0.01 and e["right_eye_l1"] == 0 and e["mouth_l1"] == 0
    # covered pixels only: a region outside the coverage scores nothing of it
    covered = torch.ones(1, 1, size, size, dtype=torch.bool)
    covered[..., 32:] = False
    assert region_errors(out, gt, kp, covered)["left_eye_l1"] == 0


def test_paired_bootstrap_interval_on_known_data():
    rng = np.random.default_rng(1)
    base = rng.normal(20, 2, 40)               # per-case scores of a baseline: wide spread across cases
    ours = base + 0.5 + rng.normal(0, 0.2, 40)  # ours: +0.5 on every case, small per-case noise
    r = paired_bootstrap(ours, base)
    d = ours - base
    assert r["n"] == 40 and r["mean"] == pytest.approx(d.mean())
    se = d.std(ddof=1) / np.sqrt(40)
    assert r["low"] < d.mean() < r["high"] and r["low"] > 0  # the pairing sees the difference
    assert r["high"] - r["low"] == pytest.approx(2 * 1.96 * se, rel=0.25)  # ≈ the normal-theory width
    # unpaired, the same +0.5 would drown in the 2-unit spread: the paired interval is far narrower
    assert r["high"] - r["low"] < 0.2 * (2 * 1.96 * base.std(ddof=1) * np.sqrt(2 / 40))
    # no difference: the interval holds 0
    null = paired_bootstrap(base + rng.normal(0, 0.2, 40), base)
    assert null["low"] < 0 < null["high"]
    assert paired_bootstrap([1.0, 2.0], [1.0, 2.0]) == {"n": 2, "mean": 0.0, "low": 0.0, "high": 0.0}
    with pytest.raises(ValueError):
        paired_bootstrap([1.0], [2.0])


def test_detail_ratio_falls_for_a_smoothed_image_and_rises_with_noise():
    g = torch.Generator().manual_seed(0)
    yy, xx = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
    strands = (0.5 + 0.4 * torch.sin(2 * math.pi * (xx + 0.3 * yy) / 4)).expand(1, 3, 64, 64).contiguous()
    assert detail_ratio(strands, strands) == pytest.approx(1.0)
    smooth = torch.nn.functional.avg_pool2d(strands, 5, stride=1, padding=2, count_include_pad=False)
    assert detail_ratio(smooth, strands) < 0.2
    noisy = strands + 0.05 * torch.randn(strands.shape, generator=g)
    assert detail_ratio(noisy, strands) > 1.05
    # PSNR hardly tells a flat fill of the right colour from a strand pattern that is off by half its period
    flat = torch.full_like(strands, 0.5)
    shifted = torch.roll(strands, 2, dims=-1)
    assert psnr(flat, strands) > psnr(shifted, strands)
    assert detail_ratio(shifted, strands) == pytest.approx(1.0, abs=0.05)



def test_colour_drift_is_zero_for_a_steady_region_and_measures_a_wandering_one():
    """metrics.colour_drift: the spread of a region's mean colour over a clip. A steady colour scores 0
    whatever it is and whatever lies outside the mask; a region turning from brown to maroon scores
    the mean distance of its per-frame colours from their mean; frames with an empty mask are left out."""
    from durian_export.metrics import colour_drift

    mask = torch.zeros(4, 1, 8, 8)
    mask[:, :, 2:6, 2:6] = 1
    frames = torch.rand(4, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    frames[:, :, 2:6, 2:6] = torch.tensor([0.4, 0.25, 0.1]).view(1, 3, 1, 1)
    assert colour_drift(frames, mask) == pytest.approx(0.0, abs=1e-7)
    # frames 2 and 3 turn maroon: red up 0.1, green down 0.1, blue up 0.05
    frames[2:, :, 2:6, 2:6] += torch.tensor([0.1, -0.1, 0.05]).view(1, 3, 1, 1)
    assert colour_drift(frames, mask) == pytest.approx((0.05 + 0.05 + 0.025) / 3, abs=1e-6)
    # a fifth frame with no mask changes nothing
    frames5, mask5 = torch.cat([frames, torch.ones(1, 3, 8, 8)]), torch.cat([mask, torch.zeros(1, 1, 8, 8)])
    assert colour_drift(frames5, mask5) == pytest.approx(colour_drift(frames, mask), abs=1e-7)
    assert colour_drift(frames[:1], mask[:1]) == 0.0


def test_iris_colour_error_reads_the_iris_colour_and_not_the_box_around_it():
    """metrics.iris_colour_error: the mean colour in a disc at each eye's centre, output against
    truth. An iris of the wrong colour scores the colours' distance; lids and skin around it, which
    the eye boxes' L1 pools with it, score nothing; uncovered pixels are left out."""
    from durian_export.metrics import iris_colour_error

    size = 64
    kp = torch.zeros(1, 68, 2)
    kp[0, :] = torch.tensor([32.0, 50.0])
    kp[0, 36:42] = torch.tensor([[12, 20], [16, 18], [20, 18], [24, 20], [20, 22], [16, 22]], dtype=torch.float32)
    kp[0, 42:48] = kp[0, 36:42] + torch.tensor([28.0, 0.0])
    gt = torch.full((1, 3, size, size), 0.8)
    gt[..., 17:24, 15:22] = torch.tensor([0.2, 0.5, 0.3]).view(1, 3, 1, 1)  # a green iris at (18, 20)...
    gt[..., 17:24, 43:50] = torch.tensor([0.2, 0.5, 0.3]).view(1, 3, 1, 1)  # ...and at (46, 20)
    assert iris_colour_error(gt, gt, kp) == 0
    out = gt.clone()
    out[..., 17:24, 15:22] = torch.tensor([0.2, 0.2, 0.6]).view(1, 3, 1, 1)  # blue in the right eye only
    # the disc (radius 0.2 × 12 px) lies inside the 7-px square: the error is the colours' L1 / 3, halved by the other eye
    assert iris_colour_error(out, gt, kp) == pytest.approx((0.0 + 0.3 + 0.3) / 3 / 2, abs=1e-6)
    # the skin and lids around the iris changing does not count
    lids = gt.clone()
    lids[..., 12:17, 8:28] = 0.1
    assert iris_colour_error(lids, gt, kp) == 0
    # covered pixels only: the right eye uncovered leaves the left eye's 0
    covered = torch.ones(1, 1, size, size, dtype=torch.bool)
    covered[..., :32] = False
    assert iris_colour_error(out, gt, kp, covered) == 0
