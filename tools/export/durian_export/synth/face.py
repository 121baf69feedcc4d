"""The head and the face: outline, skin shading, ears, eyes, brows, nose, mouth, keypoints."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from .geometry import apply_frame, local_coords
from .shapes import coverage, ellipse_sd, smoothstep

# Feature frames, in this order along K.
EYE_R, EYE_L, BROW_R, BROW_L, NOSE, MOUTH = range(6)
SIDE = (-1.0, 1.0, -1.0, 1.0, 0.0, 0.0)  # image side of each feature (outward direction)


def head_outline_sd(sc, qx: torch.Tensor, qy: torch.Tensor) -> torch.Tensor:
    """Signed distance (canonical units) to the face outline in head-plane coordinates."""
    p = sc.pose
    a, b = p.a[:, None, None], p.b[:, None, None]
    taper, chinp = sc.id.head[:, 2, None, None], sc.id.head[:, 3, None, None]
    shear = p.front_shift(0.45 * p.c)[0][:, None, None]
    t = (qy / b).clamp(0, 1)
    x = qx - shear * t ** 1.5
    w = a * (1 - taper * t ** chinp)
    return (torch.sqrt((x / w) ** 2 + (qy / b) ** 2 + 1e-12) - 1) * torch.minimum(w, b)


def jaw_points(sc) -> torch.Tensor:
    """Keypoints 0–16 along the outline, from the image-left temple round the chin: [B, 17, 2]."""
    p = sc.pose
    a, b = p.a[:, None], p.b[:, None]
    taper, chinp = sc.id.head[:, 2, None], sc.id.head[:, 3, None]
    phi = torch.linspace(math.pi + 0.1, -0.1, 17, device=sc.device)[None]
    y = b * torch.sin(phi)
    t = (y / b).clamp(0, 1)
    w = a * (1 - taper * t ** chinp)
    x = torch.cos(phi) * w
    shear = p.front_shift(0.45 * p.c)[0][:, None]
    inset = 0.96
    return p.from_head_plane(inset * x + shear * t ** 1.5, inset * y)


@dataclass
class Features:
    """Feature frames and per-frame shape numbers shared by painters and keypoints."""

    centre: torch.Tensor   # [B, 6, 2]
    J: torch.Tensor        # [B, 6, 2, 2]
    vis: torch.Tensor      # [B, 6]
    eye: dict = field(default_factory=dict)
    brow: dict = field(default_factory=dict)
    nose: dict = field(default_factory=dict)
    mouth: dict = field(default_factory=dict)
    regions: dict = field(default_factory=dict)

    def coords(self, sc, k: int):
        return local_coords(sc.X, sc.Y, self.centre[:, k], self.J[:, k])


def paint_head(sc, canvas) -> torch.Tensor:
    """Face and ears in skin with shading; returns the head coverage [B, H, W]."""
    p = sc.pose
    skin = sc.col(sc.id.skin)
    sd = head_outline_sd(sc, sc.qx, sc.qy)
    head = coverage(sd, sc.aa)
    # blush and a soft jaw shadow give the face some form
    blush = torch.zeros_like(head)
    for s in (-1, 1):
        blush = blush + torch.exp(-((sc.qx - s * 0.5 * p.a[:, None, None]) ** 2 + (sc.qy - 0.3) ** 2) / 0.03)
    jaw = smoothstep(-0.25, 0.0, sd) * (sc.qy > 0)
    colour = skin * sc.shade
    colour = colour * (1 - 0.12 * jaw[:, None]) + blush[:, None] * 0.06 * torch.tensor([0.6, -0.2, -0.2]).to(sc.device, non_blocking=True)[None, :, None, None]
    canvas.over(head, colour, "face")

    # ears at the sides of the head, fading as they turn away
    ears = sc.id.ears
    for s in (-1.0, 1.0):
        yaw = p.yaw
        xr = s * p.a * torch.cos(yaw) - 0.1 * p.c * torch.sin(yaw)
        zr = -s * p.a * torch.sin(yaw) - 0.1 * p.c * torch.cos(yaw)
        ex = (xr / p.fx + s * 0.05)[:, None, None]
        ey = (ears[:, 1] * p.b)[:, None, None]
        size = ears[:, 0, None, None]
        vis = smoothstep(-0.5, -0.2, zr / p.a)[:, None, None]
        ear_sd = ellipse_sd(sc.qx - ex, sc.qy - ey, 0.12 * size, 0.24 * size)
        ear = coverage(ear_sd, sc.aa) * vis
        inner = coverage(ellipse_sd(sc.qx - ex - s * 0.025 * size, sc.qy - ey, 0.05 * size, 0.14 * size), sc.aa)
        ear_colour = skin * sc.shade * (0.93 - 0.2 * inner[:, None])
        canvas.over(ear, ear_colour, "face")
        head = torch.maximum(head, ear)
    return head


def _frames(sc) -> Features:
    p, i, m = sc.pose, sc.id, sc.motion
    sep, eye_y = i.eyes[:, 2], i.eyes[:, 3]
    brow_y = eye_y - i.brows[:, 3] - 0.06 * m["brow_raise"]
    tip_y = eye_y + i.nose[:, 0] + 0.06
    z = torch.zeros_like(sep)
    xs = torch.stack([-sep, sep, -(sep + 0.02), sep + 0.02, z, z], 1)
    ys = torch.stack([eye_y, eye_y, brow_y, brow_y, tip_y, i.mouth[:, 3]], 1)
    lift = torch.tensor([0.0, 0.0, 0.03, 0.03, 0.22, 0.05]).to(sc.device, non_blocking=True)[None]
    centre, J, vis = p.surface_frame(xs, ys, lift)
    return Features(centre=centre, J=J, vis=vis)


def _eye_shape(f: Features, sc):
    i, m = sc.id, sc.motion
    w, h = i.eyes[:, 0], i.eyes[:, 1]
    openness = m["eyes_open"]
    f.eye = dict(w=w, hu=h * openness.clamp(min=0.04), hl=0.55 * h * openness.clamp(min=0.04), slant=i.eyes[:, 5],
                 iris=i.eyes[:, 4] * 1.6 * h)


def _eye_lids(f: Features, u: torch.Tensor, k: int):
    e = f.eye
    side = SIDE[k]
    w = e["w"][:, None, None]
    t = (u / w).clamp(-1, 1)
    bow = 1 - t * t
    shift = -e["slant"][:, None, None] * (u * side)  # outer corner raised by `slant`
    return w, shift - e["hu"][:, None, None] * bow, shift + e["hl"][:, None, None] * bow


def _paint_eyes(sc, canvas, f: Features, head: torch.Tensor):
    region = torch.zeros_like(head)
    for k in (EYE_R, EYE_L):
        u, v = f.coords(sc, k)
        w, upper, lower = _eye_lids(f, u, k)
        sd = torch.maximum(torch.maximum(u.abs() - w, upper - v), v - lower)
        vis = smoothstep(0.0, 0.25, f.vis[:, k])[:, None, None] * head
        eye = coverage(sd, sc.aa) * vis
        region = torch.maximum(region, coverage(sd - 0.005, sc.aa) * vis)
        ir = f.eye["iris"][:, None, None]
        iris_sd = ellipse_sd(u, v, ir, ir)
        canvas.over(eye, torch.full_like(sc.col(sc.id.skin), 0.93) * sc.shade, "face")
        iris_tex = 0.75 + 0.25 * torch.cos(torch.atan2(v, u) * 9) * smoothstep(0.3, 1.0, (u * u + v * v).sqrt() / ir)
        canvas.over(coverage(iris_sd, sc.aa) * eye, sc.col(sc.id.iris) * iris_tex[:, None], "face")
        canvas.over(coverage(ellipse_sd(u, v, 0.42 * ir, 0.42 * ir), sc.aa) * eye, torch.full_like(sc.col(sc.id.skin), 0.03), "face")
        canvas.over(coverage(ellipse_sd(u - 0.3 * ir, v + 0.35 * ir, 0.18 * ir, 0.18 * ir), sc.aa) * eye,
                    torch.full_like(sc.col(sc.id.skin), 1.0), "face")
        lash = coverage((v - upper).abs() - 0.011, sc.aa) * coverage(u.abs() - w * 1.04, sc.aa) * vis
        canvas.over(lash, torch.full_like(sc.col(sc.id.skin), 0.06), "face")
        crease = coverage((v - upper + 0.045).abs() - 0.005, sc.aa) * coverage(u.abs() - w * 0.8, sc.aa) * vis
        canvas.over(crease * 0.35, sc.col(sc.id.skin) * 0.6, "face")
    f.regions["eyes"] = region


def _brow_line(f: Features, sc, u: torch.Tensor, k: int):
    i = sc.id
    L = i.brows[:, 2, None, None]
    arch, tilt, T = i.brows[:, 1, None, None], i.brows[:, 4, None, None], i.brows[:, 0, None, None]
    o = u * SIDE[k]
    tt = (u / L).clamp(-1, 1)
    centre = -arch * (1 - tt * tt) - tilt * o * 0.5
    thick = T * (1 - 0.45 * ((o / L + 1) / 2).clamp(0, 1))
    return L, centre, thick


def _paint_brows(sc, canvas, f: Features, head: torch.Tensor):
    region = torch.zeros_like(head)
    for k in (BROW_R, BROW_L):
        u, v = f.coords(sc, k)
        L, centre, thick = _brow_line(f, sc, u, k)
        sd = torch.maximum((v - centre).abs() - thick / 2, u.abs() - L)
        vis = smoothstep(0.0, 0.25, f.vis[:, k])[:, None, None] * head
        brow = coverage(sd, sc.aa) * vis
        strands = 0.75 + 0.25 * torch.sin(u * 160 + v * 60)
        canvas.over(brow * 0.92, sc.col(sc.id.brow_colour) * strands[:, None] * sc.shade, "face")
        region = torch.maximum(region, brow)
    f.regions["brows"] = region


def _paint_nose(sc, canvas, f: Features, head: torch.Tensor):
    i = sc.id
    u, v = f.coords(sc, NOSE)
    nw = i.nose[:, 1, None, None]
    length = i.nose[:, 0, None, None] + 0.06
    lx = sc.id.light[:, 0, None, None]
    away = -torch.sign(lx + 1e-6)
    vis = smoothstep(0.0, 0.25, f.vis[:, NOSE])[:, None, None] * head
    skin = sc.col(sc.id.skin) * sc.shade
    # shadow along the bridge on the side away from the light
    bridge = coverage(torch.maximum((u - away * 0.55 * nw).abs() - 0.035, torch.maximum(-v - length * 0.95, v - 0.02)), sc.aa)
    canvas.over(bridge * vis * 0.4, skin * 0.62, "face")
    wing = coverage(ellipse_sd(u - away * 0.8 * nw, v - 0.01, 0.45 * nw, 0.08), sc.aa)
    canvas.over(wing * vis * 0.45, skin * 0.62, "face")
    tip = coverage(ellipse_sd(u, v + 0.01, i.nose[:, 2, None, None], i.nose[:, 2, None, None] * 0.85), sc.aa)
    canvas.over(tip * vis * 0.35, skin * 1.12, "face")
    for s in (-1, 1):
        nostril = coverage(ellipse_sd(u - s * 0.5 * nw, v - 0.045, 0.32 * nw, 0.022), sc.aa)
        canvas.over(nostril * vis * 0.85, skin * 0.35, "face")
    f.nose = dict(w=nw[:, 0, 0], length=length[:, 0, 0])


def _mouth_curves(f: Features, u: torch.Tensor):
    mo = f.mouth
    w = mo["w"][:, None, None] if u.dim() == 3 else mo["w"][:, None]
    def ex(t):
        return t[:, None, None] if u.dim() == 3 else t[:, None]
    t = (u / w).clamp(-1, 1)
    bow = 1 - t * t
    lift = -0.05 * ex(mo["smile"]) * t * t
    gap = ex(mo["gap"])
    up_outer = lift - gap / 2 * bow - ex(mo["upper"]) * bow * (1 + 0.35 * torch.exp(-(t * 6) ** 2 / 2))
    up_inner = lift - gap / 2 * bow
    lo_inner = lift + gap / 2 * bow
    lo_outer = lift + gap / 2 * bow + ex(mo["lower"]) * bow
    return w, up_outer, up_inner, lo_inner, lo_outer


def _paint_mouth(sc, canvas, f: Features, head: torch.Tensor):
    i, m = sc.id, sc.motion
    f.mouth = dict(w=i.mouth[:, 0] * (1 + 0.12 * m["smile"].clamp(min=0)), upper=i.mouth[:, 1], lower=i.mouth[:, 2],
                   gap=0.16 * m["mouth_open"], smile=m["smile"])
    u, v = f.coords(sc, MOUTH)
    w, uo, ui, li, lo = _mouth_curves(f, u)
    vis = smoothstep(0.0, 0.25, f.vis[:, MOUTH])[:, None, None] * head
    outer_sd = torch.maximum(torch.maximum(u.abs() - w, uo - v), v - lo)
    inner_sd = torch.maximum(torch.maximum(u.abs() - w * 0.97, ui - v), v - li)
    mouth = coverage(outer_sd, sc.aa) * vis
    shade = sc.shade
    canvas.over(mouth, sc.col(sc.id.lips) * shade * (0.9 + 0.15 * (v > ui).float()[:, None]), "face")
    inner = coverage(inner_sd, sc.aa) * vis
    canvas.over(inner, torch.tensor([0.22, 0.06, 0.07]).to(sc.device, non_blocking=True)[None, :, None, None] * shade, "face")
    teeth = coverage(torch.maximum(inner_sd, v - (ui + (li - ui) * 0.38)), sc.aa) * vis
    canvas.over(teeth, torch.tensor([0.93, 0.91, 0.86]).to(sc.device, non_blocking=True)[None, :, None, None] * shade, "face")
    seam = coverage((v - (ui + li) / 2).abs() - 0.006, sc.aa) * coverage(u.abs() - w, sc.aa) * vis
    canvas.over(seam * 0.6, sc.col(sc.id.lips) * 0.4, "face")
    f.regions["mouth"] = coverage(outer_sd - 0.01, sc.aa) * vis


def paint_features(sc, canvas, head: torch.Tensor) -> Features:
    f = _frames(sc)
    _eye_shape(f, sc)
    _paint_brows(sc, canvas, f, head)
    _paint_eyes(sc, canvas, f, head)
    _paint_nose(sc, canvas, f, head)
    _paint_mouth(sc, canvas, f, head)
    return f


def keypoints(sc, f: Features) -> torch.Tensor:
    """The 68 iBUG points in normalised image units, [B, 68, 2]."""
    B = sc.B
    pts = [jaw_points(sc)]
    # 17–26: brows, each listed from image left to image right
    for k in (BROW_R, BROW_L):
        L = sc.id.brows[:, 2, None]
        u = torch.tensor([-0.9, -0.45, 0.0, 0.45, 0.9]).to(sc.device, non_blocking=True)[None] * L
        _, centre, _ = _brow_line(f, sc, u[:, :, None], k)
        pts.append(apply_frame(f.centre[:, k], f.J[:, k], u, centre[:, :, 0]))
    # 27–30: nose bridge from between the eyes to the tip; 31–35 nostril base
    i = sc.id
    eye_y = i.eyes[:, 3]
    tip_y = eye_y + i.nose[:, 0] + 0.06
    t = torch.linspace(0, 1, 4, device=sc.device)[None]
    ys = eye_y[:, None] + (tip_y - eye_y)[:, None] * t
    xs = torch.zeros_like(ys)
    zs = sc.pose.surface_z(xs, ys) + 0.22 * t ** 1.5
    pts.append(sc.pose.project(torch.stack([xs, ys, zs], -1)))
    nw = f.nose["w"][:, None]
    u = torch.tensor([-1.0, -0.5, 0.0, 0.5, 1.0]).to(sc.device, non_blocking=True)[None] * nw
    v = torch.tensor([0.02, 0.05, 0.06, 0.05, 0.02]).to(sc.device, non_blocking=True)[None].expand(B, 5)
    pts.append(apply_frame(f.centre[:, NOSE], f.J[:, NOSE], u, v))
    # 36–47: eyes. Right eye (image left): outer, two upper, inner, two lower; left eye: inner first.
    for k, us in ((EYE_R, (-1, -1 / 3, 1 / 3, 1, 1 / 3, -1 / 3)), (EYE_L, (-1, -1 / 3, 1 / 3, 1, 1 / 3, -1 / 3))):
        w = f.eye["w"][:, None]
        u = torch.tensor(us).to(sc.device, non_blocking=True)[None] * w
        _, upper, lower = _eye_lids(f, u[:, :, None], k)
        upper, lower = upper[:, :, 0], lower[:, :, 0]
        v = torch.cat([upper[:, :3], upper[:, 3:4] * 0 + (upper[:, 3:4] + lower[:, 3:4]) / 2, lower[:, 4:]], 1)
        v[:, 0] = (upper[:, 0] + lower[:, 0]) / 2
        pts.append(apply_frame(f.centre[:, k], f.J[:, k], u, v))
    # 48–59 outer lip, 60–67 inner lip
    w = f.mouth["w"][:, None]
    uo = torch.tensor([-1, -0.66, -0.33, 0, 0.33, 0.66, 1, 0.66, 0.33, 0, -0.33, -0.66]).to(sc.device, non_blocking=True)[None] * w
    _, up_o, up_i, lo_i, lo_o = _mouth_curves(f, uo)
    vo = torch.cat([up_o[:, :7], lo_o[:, 7:]], 1)
    vo[:, 0] = (up_o[:, 0] + lo_o[:, 0]) / 2
    vo[:, 6] = (up_o[:, 6] + lo_o[:, 6]) / 2
    pts.append(apply_frame(f.centre[:, MOUTH], f.J[:, MOUTH], uo, vo))
    ui = torch.tensor([-0.85, -0.4, 0, 0.4, 0.85, 0.4, 0, -0.4]).to(sc.device, non_blocking=True)[None] * w
    _, _, up_i, lo_i, _ = _mouth_curves(f, ui)
    vi = torch.cat([up_i[:, :5], lo_i[:, 5:]], 1)
    vi[:, 0] = (up_i[:, 0] + lo_i[:, 0]) / 2
    vi[:, 4] = (up_i[:, 4] + lo_i[:, 4]) / 2
    pts.append(apply_frame(f.centre[:, MOUTH], f.J[:, MOUTH], ui, vi))
    kp = torch.cat(pts, 1)
    assert kp.shape[1] == 68, kp.shape
    return kp
