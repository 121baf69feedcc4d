"""Hair: a cap over the scalp (front layer) and, for long styles, a mass behind the head.

All styles share one parametric shape, so a batch with mixed styles renders in one vectorised
pass: each style is a row of numbers in `STYLE_TABLE` (indexed by the hair style id).
"""
from __future__ import annotations

import torch

from . import catalog
from .face import head_outline_sd
from .shapes import box_sd, coverage, ellipse_sd, segment_sd, smoothstep

COLUMNS = ("present", "vol", "topk", "y_bottom", "h0", "h2", "part_k", "window_x", "back_len", "back_w",
           "bump", "bump_f", "curl", "mohawk", "bun", "ponytail", "part_line", "density")
_ROWS = {
    "bald":          (0, 0.00, 1.0, -0.1, -0.6, 0.3, 0.0, 1.3, 0.0, 0.0, 0.0, 0, 0, 0, 0, 0, 0, 0.0),
    "buzz":          (1, 0.03, 1.0, -0.05, -0.62, 0.25, 0.0, 1.3, 0.0, 0.0, 0.0, 0, 0, 0, 0, 0, 0, 0.75),
    "short":         (1, 0.12, 1.2, -0.05, -0.58, 0.3, 0.0, 1.3, 0.0, 0.0, 0.015, 14, 0, 0, 0, 0, 0, 1.0),
    "side_part":     (1, 0.14, 1.2, 0.0, -0.56, 0.3, 0.12, 1.3, 0.0, 0.0, 0.01, 10, 0, 0, 0, 0, 1, 1.0),
    "bangs":         (1, 0.14, 1.1, 0.1, -0.28, 0.04, 0.0, 1.3, 0.0, 0.0, 0.01, 12, 0, 0, 0, 0, 0, 1.0),
    "bob":           (1, 0.20, 1.1, 0.72, -0.34, 0.08, 0.0, 0.86, 0.72, 1.22, 0.01, 10, 0, 0, 0, 0, 0, 1.0),
    "long_straight": (1, 0.14, 1.1, 1.0, -0.5, 0.3, 0.08, 0.8, 2.3, 1.2, 0.01, 8, 0, 0, 0, 0, 1, 1.0),
    "long_wavy":     (1, 0.22, 1.1, 1.0, -0.5, 0.3, 0.0, 0.8, 2.1, 1.32, 0.045, 9, 0.35, 0, 0, 0, 0, 1.0),
    "afro":          (1, 0.55, 1.0, 0.25, -0.52, 0.3, 0.0, 1.3, 0.3, 1.5, 0.05, 18, 1, 0, 0, 0, 0, 1.0),
    "ponytail":      (1, 0.06, 1.1, -0.1, -0.6, 0.35, 0.0, 1.3, 0.0, 0.0, 0.0, 0, 0, 0, 0, 1, 0, 1.0),
    "bun":           (1, 0.06, 1.1, -0.1, -0.6, 0.35, 0.0, 1.3, 0.0, 0.0, 0.0, 0, 0, 0, 1, 0, 0, 1.0),
    "mohawk":        (1, 0.32, 1.3, -0.2, -0.6, 0.3, 0.0, 1.3, 0.0, 0.0, 0.03, 10, 0, 1, 0, 0, 0, 1.0),
    "pixie":         (1, 0.10, 1.1, -0.1, -0.42, 0.1, 0.25, 1.3, 0.0, 0.0, 0.02, 12, 0, 0, 0, 0, 0, 1.0),
    "curly_short":   (1, 0.22, 1.1, -0.05, -0.55, 0.3, 0.0, 1.3, 0.0, 0.0, 0.04, 22, 1, 0, 0, 0, 0, 1.0),
}
assert tuple(_ROWS) == catalog.HAIR_STYLES
STYLE_TABLE = torch.tensor([_ROWS[s] for s in catalog.HAIR_STYLES], dtype=torch.float32)


def _params(sc) -> dict[str, torch.Tensor]:
    rows = STYLE_TABLE.to(sc.device)[sc.attrs.hair_style]
    p = {name: rows[:, i, None, None] for i, name in enumerate(COLUMNS)}
    shape = sc.attrs.hair_shape
    p["vol"] = p["vol"] * shape[:, 0, None, None]
    longer = shape[:, 1, None, None]
    p["back_len"] = p["back_len"] * longer
    p["y_bottom"] = torch.where(p["y_bottom"] > 0.3, p["y_bottom"] * longer, p["y_bottom"])
    p["side"] = shape[:, 2, None, None]
    p["phase"] = shape[:, 3, None, None]
    return p


def _texture(sc, p, qx, qy, flow_down: bool) -> torch.Tensor:
    """Strand shading in [0, 1]: strands radiate from the crown (cap) or fall (back); curls for curly."""
    b = sc.pose.b[:, None, None]
    if flow_down:
        wave = 0.06 * torch.sin(qy * 7 + p["phase"]) * (1 + 3 * p["curl"])
        strands = 0.5 + 0.5 * torch.sin((qx + wave) * 55 + 2.5 * torch.sin(qy * 5 + p["phase"]))
    else:
        ang = torch.atan2(qy + 0.6 * b, qx + 0.25 * p["side"] * p["part_line"])
        r = torch.sqrt(qx * qx + (qy + 0.6 * b) ** 2)
        strands = 0.5 + 0.5 * torch.sin(ang * 70 + 3 * torch.sin(r * 9 + p["phase"])) * torch.sin(ang * 23 + p["phase"])
    # ringlets: concentric rings in a staggered grid of small cells
    gx = qx * 9 + p["phase"]
    gy = qy * 9 + 0.5 * torch.floor(gx)
    cx, cy = gx - torch.floor(gx) - 0.5, gy - torch.floor(gy) - 0.5
    curls = 0.5 + 0.5 * torch.cos(torch.sqrt(cx * cx + cy * cy) * 16)
    fine = 0.5 + 0.5 * torch.sin(qx * 140 + qy * 23) * torch.sin(qy * 130 - qx * 17)
    tex = strands * (1 - p["curl"]) + curls * p["curl"]
    return 0.75 * tex + 0.25 * fine


def _colour(sc, p, tex, qx, qy) -> torch.Tensor:
    a, b = sc.pose.a[:, None, None], sc.pose.b[:, None, None]
    base = sc.col(sc.attrs.hair_colour)
    light = sc.id.light
    sheen = torch.exp(-(((qx - light[:, 0, None, None] * 0.4 * a) / (0.45 * a)) ** 2 + ((qy + 0.75 * b) / (0.22 * b)) ** 2))
    c = base * (0.68 + 0.42 * tex)[:, None] + 0.2 * sheen[:, None] * (0.3 + base)
    return c * sc.shade


def paint_back(sc, canvas, neck: torch.Tensor) -> None:
    """Hair behind the head and in front of the shoulders (not over the neck)."""
    p = _params(sc)
    qx, qy = sc.qx, sc.qy
    a, b = sc.pose.a[:, None, None], sc.pose.b[:, None, None]
    wave = p["bump"] * torch.sin(qy * p["bump_f"] + p["phase"])
    half_w = p["back_w"] * a + wave
    top = -0.2 * b
    bottom = p["back_len"] * b
    mid = (top + bottom) / 2
    body = box_sd(qx, qy - mid, half_w, (bottom - top) / 2, radius=0.25)
    crown = ellipse_sd(qx, qy, a + p["vol"], b + p["vol"] * p["topk"])
    sd = torch.where(p["back_len"] > 0, torch.minimum(body, crown), torch.full_like(body, 1e3))
    # a ponytail hangs behind one shoulder
    pony = segment_sd(qx, qy, p["side"] * 0.7 * a, -0.1 * b, p["side"] * 1.05 * a, 1.25 * b, 0.2)
    sd = torch.where(p["ponytail"] > 0, torch.minimum(sd, pony), sd)
    alpha = coverage(sd, sc.aa) * p["present"] * (1 - neck * (qy > 0.6 * b))
    tex = _texture(sc, p, qx, qy, flow_down=True)
    canvas.over(alpha, _colour(sc, p, tex, qx, qy) * 0.85, "hair")


def paint_front(sc, canvas, head: torch.Tensor) -> None:
    """The cap over the scalp, fringes, side curtains, mohawk strip, bun and part line."""
    p = _params(sc)
    qx, qy = sc.qx, sc.qy
    a, b = sc.pose.a[:, None, None], sc.pose.b[:, None, None]
    ang = torch.atan2(qy, qx)
    bump = p["bump"] * torch.sin(ang * p["bump_f"] + p["phase"])
    outer_a = a + p["vol"] + bump
    outer_b = b + p["vol"] * p["topk"] + bump
    outer = ellipse_sd(qx, qy.clamp(max=0), outer_a, outer_b)
    outer = torch.maximum(outer, qy - p["y_bottom"] * b)
    strip = torch.where(p["mohawk"] > 0, qx.abs() - 0.3 * a, torch.full_like(qx, -1e3))
    outer = torch.maximum(outer, strip)
    bun = ellipse_sd(qx, qy + b + 0.2, torch.full_like(a, 0.3), torch.full_like(a, 0.26))
    outer = torch.where(p["bun"] > 0, torch.minimum(outer, bun), outer)

    # the face window: inside the outline, below the hairline, within the curtains
    shift = sc.pose.front_shift(0.6 * sc.pose.c)[0][:, None, None]
    hx = (qx - shift) / a
    hairline = b * (p["h0"] + p["h2"] * hx * hx + p["part_k"] * p["side"] * hx)
    window_sd = torch.maximum(head_outline_sd(sc, qx, qy) + 0.01, hairline - qy)
    window_sd = torch.maximum(window_sd, qx.abs() - p["window_x"] * a)
    cap = coverage(outer, sc.aa) * (1 - coverage(window_sd, sc.aa))
    alpha = (cap * p["present"]).clamp(0, 1)
    tex = _texture(sc, p, qx, qy, flow_down=False)
    colour = _colour(sc, p, tex, qx, qy)
    # a buzz cut is sparse: let the scalp show through
    density = p["density"] + (1 - p["density"]) * (tex > 0.6).float()
    canvas.over(alpha * density, colour, "hair", mask_alpha=alpha)
    part = coverage((qx - p["side"] * 0.25 * a).abs() - 0.012, sc.aa) * smoothstep(-0.2 * b, -0.9 * b, qy)
    canvas.over(part * alpha * p["part_line"] * 0.6, colour * 0.45, None)
