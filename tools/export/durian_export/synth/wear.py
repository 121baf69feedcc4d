"""Beards, glasses and hats. Each class computes the shapes of all its variants and keeps the one
each frame wears (a one-hot over the variants), so mixed batches render in one pass."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from . import catalog
from .face import EYE_L, EYE_R, MOUTH, SIDE, Features, _mouth_curves, head_outline_sd
from .geometry import apply_frame
from .shapes import box_sd, coverage, ellipse_sd, hash_noise, segment_sd, smoothstep


def _one_hot(style: torch.Tensor, n: int) -> torch.Tensor:
    return F.one_hot(style, n).float()[:, :, None, None]  # [B, n, 1, 1]


def _select(shapes: list[torch.Tensor], style: torch.Tensor, n: int) -> torch.Tensor:
    """shapes[i] is variant i+1's coverage [B, H, W]; variant 0 is none."""
    w = _one_hot(style, n)[:, 1:]
    return (torch.stack(shapes, 1) * w).sum(1)


def paint_beard(sc, canvas, head: torch.Tensor, f: Features) -> None:
    qx, qy = sc.qx, sc.qy
    a, b = sc.pose.a[:, None, None], sc.pose.b[:, None, None]
    u, v = f.coords(sc, MOUTH)
    w, uo, ui, li, lo = _mouth_curves(f, u)
    mouth_y = sc.id.mouth[:, 3, None, None]
    outline = head_outline_sd(sc, qx, qy)
    inside = coverage(outline - 0.045, sc.aa)
    lips = coverage(torch.maximum(torch.maximum(u.abs() - w - 0.01, uo - v - 0.012), v - lo - 0.012), sc.aa)
    cheek_line = mouth_y - 0.26 + 0.3 * (qx / a) ** 2
    lower = coverage(cheek_line - qy, sc.aa) * inside
    full = lower * (1 - lips)
    moustache = coverage(torch.maximum(torch.maximum(u.abs() - w - 0.05, uo - 0.085 - v), v - uo + 0.005), sc.aa)
    droop = coverage(torch.maximum(torch.maximum(u.abs() - w - 0.05, w - 0.005 - u.abs()), torch.maximum(uo - v, v - lo - 0.04)), sc.aa)
    moustache = torch.maximum(moustache, droop) * inside * (1 - lips)
    chin = coverage(torch.maximum(torch.maximum(u.abs() - 0.17, lo + 0.015 - v), v - lo - 0.3), sc.aa) * inside
    goatee = torch.maximum(moustache, chin) * (1 - lips)
    strap = coverage((outline + 0.03).abs() - 0.045, sc.aa) * coverage(-qy - 0.02 * b, sc.aa) * (1 - lips)
    stubble = full
    n = len(catalog.BEARD_STYLES)
    shapes = [stubble, moustache, goatee, strap, full]
    region = _select(shapes, sc.attrs.beard_style, n) * smoothstep(0.0, 0.2, f.vis[:, MOUTH])[:, None, None]
    grain = hash_noise(sc.X * sc.unit, sc.Y * sc.unit, 3.0)[None]
    strands = 0.5 + 0.5 * torch.sin(u * 130 + 2 * torch.sin(v * 45))
    is_stubble = (sc.attrs.beard_style == 1).float()[:, None, None]
    # density thins the colour, not the region: the beard mask stays the beard's full extent
    density = (is_stubble * (0.25 + 0.4 * (grain > 0.5).float()) + (1 - is_stubble)) * sc.attrs.beard[:, 3, None, None]
    colour = sc.col(sc.attrs.beard[:, :3]) * (0.6 + 0.5 * (0.6 * strands + 0.4 * grain))[:, None] * sc.shade
    # a sparse beard shows the skin it grows on (not whatever layer lies beneath it)
    colour = sc.col(sc.id.skin) * sc.shade + (colour - sc.col(sc.id.skin) * sc.shade) * density[:, None]
    canvas.over(region, colour, "beard")


def _lens_sd(u, v, k: int, size):
    o = u * SIDE[k]
    s = size
    round_ = ellipse_sd(u, v, 0.17 * s, 0.16 * s)
    rect = box_sd(u, v, 0.21 * s, 0.13 * s, 0.035 * s)
    aviator = ellipse_sd(u - SIDE[k] * 0.01, v, 0.21 * s, torch.where(v < 0, 0.12 * s, 0.19 * s))
    cat = ellipse_sd(u, v + 0.09 * s * (o / (0.21 * s)).clamp(min=0) ** 2 * (v < 0), 0.21 * s, 0.12 * s)
    rimless = box_sd(u, v, 0.2 * s, 0.12 * s, 0.05 * s)
    return [round_, rect, aviator, cat, rimless]


def paint_glasses(sc, canvas, f: Features) -> None:
    g = sc.attrs.glasses
    style = sc.attrs.glasses_style
    n = len(catalog.GLASSES_STYLES)
    size = g[:, 7, None, None]
    frame_col = sc.col(g[:, :3]) * (0.75 + 0.25 * sc.shade)
    lens_col = sc.col(g[:, 4:7])
    tint = g[:, 3, None, None]
    rimless = (style == 5).float()[:, None, None]
    thick = (0.032 * (1 - rimless) + 0.01 * rimless) * size
    present = (style > 0).float()[:, None, None]
    lens_all = torch.zeros_like(sc.X[None].expand(sc.B, -1, -1))
    frame_all = torch.zeros_like(lens_all)
    for k in (EYE_R, EYE_L):
        u, v = f.coords(sc, k)
        v = v + 0.015
        vis = smoothstep(-0.1, 0.15, f.vis[:, k])[:, None, None]
        sds = _lens_sd(u, v, k, size)
        lens = _select([coverage(sd, sc.aa) for sd in sds], style, n) * vis
        ring = _select([coverage(sd.abs() - thick / 2, sc.aa) for sd in sds], style, n) * vis
        lens_all = torch.maximum(lens_all, lens)
        frame_all = torch.maximum(frame_all, ring)
    # bridge between the lenses and arms towards the ears, in image space
    scale = sc.pose.scale[:, None, None]
    inner = [apply_frame(f.centre[:, k], f.J[:, k], -SIDE[k] * 0.19 * size[:, :, 0], -0.03 * torch.ones_like(size[:, :, 0]))
             for k in (EYE_R, EYE_L)]
    X, Y = sc.X[None], sc.Y[None]
    bridge = coverage(segment_sd(X, Y, inner[0][:, 0, 0, None, None], inner[0][:, 0, 1, None, None],
                                 inner[1][:, 0, 0, None, None], inner[1][:, 0, 1, None, None], thick * scale / 2), sc.px)
    arms = torch.zeros_like(bridge)
    p = sc.pose
    for k in (EYE_R, EYE_L):
        outer = apply_frame(f.centre[:, k], f.J[:, k], SIDE[k] * 0.21 * size[:, :, 0], -0.03 * torch.ones_like(size[:, :, 0]))
        ear3 = torch.stack([SIDE[k] * p.a, sc.id.eyes[:, 3] + 0.02, -0.3 * p.c], -1)[:, None]
        ear = p.project(ear3)
        ear_z = torch.einsum("bj,bj->b", p.R[:, 2], ear3[:, 0])
        vis = smoothstep(-0.45, -0.15, ear_z / p.a)[:, None, None]
        arm = coverage(segment_sd(X, Y, outer[:, 0, 0, None, None], outer[:, 0, 1, None, None],
                                  ear[:, 0, 0, None, None], ear[:, 0, 1, None, None], thick * scale / 2), sc.px)
        arms = torch.maximum(arms, arm * vis * (1 - lens_all))
    frame_all = torch.maximum(frame_all, torch.maximum(bridge * (1 - rimless * 0.5), arms)) * present
    lens_all = lens_all * present
    glint = smoothstep(0.6, 1.0, torch.sin((X + Y) * 14 + 1.0)[:].expand_as(lens_all)) * lens_all * 0.25
    canvas.over(lens_all * tint, lens_col * sc.shade, "glasses", mask_alpha=lens_all)
    canvas.over(glint, torch.ones_like(lens_col), None)
    canvas.over(frame_all, frame_col, "glasses")


def paint_hat(sc, canvas) -> None:
    qx, qy = sc.qx, sc.qy
    a, b = sc.pose.a[:, None, None], sc.pose.b[:, None, None]
    shift = sc.pose.front_shift(0.8 * sc.pose.c)[0][:, None, None]
    side = sc.attrs.hat_side[:, None, None]
    aa = sc.aa
    def cov(sd):
        return coverage(sd, aa)
    outline = head_outline_sd(sc, qx, qy)

    beanie = cov(torch.maximum(ellipse_sd(qx, qy + 0.05, a + 0.14, b + 0.22), qy + 0.42 * b))
    beanie = torch.maximum(beanie, cov(ellipse_sd(qx, qy + b + 0.32, 0.17 + 0 * a, 0.15 + 0 * a)))
    cap = cov(torch.maximum(ellipse_sd(qx, qy, a + 0.08, b + 0.12), qy + 0.48 * b))
    cap = torch.maximum(cap, cov(torch.maximum(ellipse_sd(qx - shift, qy + 0.48 * b, 0.82 * a, 0.18 + 0 * a), -0.48 * b - qy)))
    crown = cov(box_sd(qx, qy + 0.5 * b + (0.5 * b + 0.4) / 2, 0.86 * a, (0.5 * b + 0.4) / 2, 0.15))
    brim = cov(ellipse_sd(qx - 0.5 * shift, qy + 0.5 * b, a + 0.55, 0.13 + 0 * a))
    brimmed = torch.maximum(crown, brim)
    beret = cov(torch.maximum(ellipse_sd(qx - side * 0.15 * a, qy + b - 0.08, a + 0.26, 0.34 + 0 * a), qy + 0.5 * b))
    headband = cov(torch.maximum((qy + 0.62 * b).abs() - 0.075, outline - 0.1))
    bucket = cov(torch.maximum(ellipse_sd(qx, qy, a + 0.08, b + 0.13), qy + 0.45 * b))
    bucket = torch.maximum(bucket, cov(torch.maximum(torch.maximum(-0.45 * b - qy, qy + 0.22 * b),
                                                     qx.abs() - (a + 0.12 + (qy + 0.45 * b) * 0.9))))
    n = len(catalog.HAT_STYLES)
    alpha = _select([beanie, cap, brimmed, beret, headband, bucket], sc.attrs.hat_style, n)

    main, second = sc.col(sc.attrs.hat_colour[:, :3]), sc.col(sc.attrs.hat_colour[:, 3:])
    pattern = sc.attrs.hat_pattern[:, None, None]
    stripes = (torch.sin(qy * 26) > 0).float()
    checks = ((torch.sin(qx * 16) * torch.sin(qy * 16)) > 0).float()
    use_second = torch.where(pattern == 1, stripes, torch.where(pattern == 2, checks, torch.zeros_like(stripes)))
    colour = main + (second - main) * use_second[:, None]
    # the beanie's cuff and the brimmed hat's band in a darker/secondary tone; knit ribs on beanies
    is_beanie = (sc.attrs.hat_style == 1).float()[:, None, None]
    cuff = ((qy > -0.62 * b) & (qy < -0.42 * b)).float() * is_beanie
    ribs = 1 - 0.12 * is_beanie * (torch.sin(qx * 70) > 0).float()
    band = ((qy > -0.5 * b - 0.14) & (qy < -0.5 * b)).float() * (sc.attrs.hat_style == 3).float()[:, None, None] * crown
    colour = colour * (1 - 0.2 * cuff[:, None]) * ribs[:, None]
    colour = colour + (second * 0.6 - colour) * band[:, None]
    fabric = 0.92 + 0.08 * hash_noise(sc.X * sc.unit, sc.Y * sc.unit, 7.0)[None]
    canvas.over(alpha, colour * fabric[:, None] * sc.shade, "hat")
