"""SynthPortrait's renderer: identity × attributes × motion → RGB frames, class masks, keypoints.

Layers are painted back to front with soft (anti-aliased) coverage; every layer also paints its
class into the mask stack, so masks partition each pixel exactly and respect occlusion.
Everything is batched over clips × frames and runs unchanged on CPU or CUDA.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from . import catalog, face, hair, wear
from .geometry import FACE_DEPTH, HEAD_SCALE, Pose, rotation
from .params import Attributes, Identity, Motion
from .shapes import coverage, ellipse_sd, hash_noise, lerp, smoothstep

CLASS_INDEX = {name: i for i, name in enumerate(catalog.MASK_CLASSES)}


@dataclass
class Frames:
    """Rendered clips. rgb and masks are float in [0, 1]; keypoints are pixel (x, y), iBUG-68."""

    rgb: torch.Tensor        # [N, F, 3, H, W]
    masks: torch.Tensor      # [N, F, C, H, W], C = len(MASK_CLASSES)
    keypoints: torch.Tensor  # [N, F, 68, 2]
    regions: dict[str, torch.Tensor] | None = None  # optional feature regions [N, F, H, W] (tests)


class Canvas:
    """Colour and class-mask accumulators with `over` compositing."""

    def __init__(self, background: torch.Tensor):
        B, _, H, W = background.shape
        self.rgb = background
        self.masks = torch.zeros(B, len(catalog.MASK_CLASSES), H, W, device=background.device)
        self.masks[:, CLASS_INDEX["background"]] = 1

    def over(self, alpha: torch.Tensor, colour: torch.Tensor, cls: str | None, mask_alpha: torch.Tensor | None = None):
        """Paint `colour` ([B, 3, H, W] or [B, 3, 1, 1]) with coverage `alpha` [B, H, W].

        `cls` is the class the painted pixels take in the masks (None keeps the masks); a separate
        `mask_alpha` lets a see-through layer (tinted lenses) own its region fully.
        """
        a = alpha[:, None]
        self.rgb = self.rgb + (colour - self.rgb) * a
        if cls is not None:
            m = (alpha if mask_alpha is None else mask_alpha)[:, None]
            one_hot = torch.zeros_like(self.masks[:1])
            one_hot[:, CLASS_INDEX[cls]] = 1
            self.masks = self.masks + (one_hot - self.masks) * m


class Scene:
    """Everything the layer painters share for one batch of frames."""

    def __init__(self, identity: Identity, attrs: Attributes, motion: Motion, height: int, width: int, device):
        N, F = motion.yaw.shape
        self.N, self.F, self.B, self.H, self.W = N, F, N * F, height, width
        self.device = device
        # Kept out of torch.compile: dynamo would compile this per field's dtype and shape (over 20
        # fields), hit its recompile limit and fall back to eager anyway, with a warning each run.
        @torch.compiler.disable
        def expand(t):
            return t.to(device, non_blocking=True).repeat_interleave(F, 0)
        self.id = Identity(**{k: expand(v) for k, v in vars(identity).items()})
        self.attrs = Attributes(**{k: expand(v) for k, v in vars(attrs).items()})
        m = {k: v.to(device, non_blocking=True).reshape(-1) for k, v in vars(motion).items()}
        self.motion = m

        unit = min(height, width) / 2
        self.px = 1.0 / unit  # one pixel in normalised units
        xs = (torch.arange(width, device=device, dtype=torch.float32) + 0.5 - width / 2) / unit
        ys = (torch.arange(height, device=device, dtype=torch.float32) + 0.5 - height / 2) / unit
        self.Y, self.X = torch.meshgrid(ys, xs, indexing="ij")
        self.unit = unit

        a = self.id.head[:, 0]
        b = a * self.id.head[:, 1]
        framing = self.id.framing
        scale = HEAD_SCALE * framing[:, 0] * m["scale"]
        centre = torch.stack([framing[:, 1] + m["tx"], framing[:, 2] + m["ty"] - 0.12], -1)
        self.pose = Pose(centre=centre, scale=scale, R=rotation(m["yaw"], m["pitch"], m["roll"]),
                         a=a, b=b, c=FACE_DEPTH * a, yaw=m["yaw"], pitch=m["pitch"], roll=m["roll"])
        self.aa = (self.px / scale)[:, None, None]  # one pixel in canonical units, [B, 1, 1]
        self.qx, self.qy = self.pose.to_head_plane(self.X, self.Y)
        self.shade = self._head_shading()

    def col(self, rgb: torch.Tensor) -> torch.Tensor:
        """[B, 3] colour → [B, 3, 1, 1] for painting."""
        return rgb[:, :, None, None]

    def _head_shading(self) -> torch.Tensor:
        """Lambert shading of the head ellipsoid, with the clip's light colour: [B, 3, H, W]."""
        light = self.id.light
        a, b = self.pose.a[:, None, None], self.pose.b[:, None, None]
        nx, ny = self.qx / (a * 1.25), self.qy / (b * 1.25)
        nz = torch.sqrt((1 - nx * nx - ny * ny).clamp(min=0.0))
        L = torch.stack([light[:, 0], light[:, 1], torch.ones_like(light[:, 0])], -1)
        L = L / L.norm(dim=-1, keepdim=True)
        lam = (nx * L[:, 0, None, None] + ny * L[:, 1, None, None] + nz * L[:, 2, None, None]).clamp(0, 1)
        k = light[:, 2, None, None]
        s = (1 - k) + k * 1.25 * lam
        temp = light[:, 3]
        tint = torch.stack([1 + 0.06 * temp, torch.ones_like(temp), 1 - 0.06 * temp], -1)
        return s[:, None] * tint[:, :, None, None]


def _background(sc: Scene) -> torch.Tensor:
    bg = sc.id.background
    kind = bg[:, 0].round()
    ca, cb = sc.col(bg[:, 1:4]), sc.col(bg[:, 4:7])
    ang, fx, fy, ph, grain = (bg[:, i, None, None] for i in range(7, 12))
    X, Y = sc.X[None], sc.Y[None]
    grad = (0.5 + 0.35 * (X * torch.cos(ang) + Y * torch.sin(ang))).clamp(0, 1)
    tex = 0.5 + 0.3 * torch.sin(fx * X * 3.1 + ph) * torch.sin(fy * Y * 2.7 + ph * 1.3) + 0.2 * torch.sin(
        (fx + fy) * (X - Y) * 2.3 + ph * 0.7)
    t = torch.where(kind[:, None, None] == 0, torch.zeros_like(grad), torch.where(kind[:, None, None] == 1, grad, tex))
    rgb = lerp(ca, cb, t[:, None])
    noise = hash_noise(sc.X * sc.unit, sc.Y * sc.unit, 0.0)[None, None] - 0.5
    return (rgb + grain[:, None] * noise).clamp(0, 1)


def _body(sc: Scene, canvas: Canvas) -> torch.Tensor:
    """Shoulders in clothes and the neck; returns the neck coverage (long hair passes behind it)."""
    p = sc.pose
    body = sc.id.body
    s = p.scale[:, None, None]
    cx = (p.centre[:, 0] - 0.4 * sc.motion["tx"])[:, None, None]
    chin_y = (p.centre[:, 1])[:, None, None] + p.b[:, None, None] * s * 0.9
    X, Y = sc.X[None], sc.Y[None]
    sh_y = chin_y + 0.3 * s + 1.15 * s
    sh_sd = ellipse_sd(X - cx, Y - sh_y, body[:, 1, None, None] * s, 1.15 * s)
    clothes = sc.col(sc.id.clothes) * (0.8 + 0.2 * smoothstep(0.6, -0.6, (X - cx) / s * 0.3 + sc.id.light[:, 0, None, None]))[:, None]
    # the collar kind: 1 = V-neck (skin shows through), 2 = contrasting collar band
    kind = body[:, 2, None, None].round()
    neck_w = body[:, 0, None, None] * s * p.a[:, None, None]
    neck_sd = torch.maximum((X - cx).abs() - neck_w, p.centre[:, 1, None, None] - Y)
    top = sh_y - 1.15 * s
    vneck = (X - cx).abs() - (Y - top) * 0.45
    vneck_sd = torch.maximum(vneck, Y - top - 0.45 * s)
    clothes_alpha = coverage(sh_sd, sc.px)
    band = coverage(torch.abs(sh_sd + 0.06 * s) - 0.04 * s, sc.px) * (kind == 2)
    canvas.over(clothes_alpha, clothes, "clothes")
    canvas.over(band * clothes_alpha, clothes * 0.55, "clothes")
    neck_alpha = coverage(torch.minimum(neck_sd, torch.where(kind == 1, vneck_sd, torch.full_like(vneck_sd, 1e3))), sc.px)
    neck_alpha = torch.maximum(neck_alpha, coverage(neck_sd, sc.px))
    shadow = 0.78 + 0.17 * smoothstep(chin_y, chin_y + 0.4 * s, Y)
    canvas.over(neck_alpha, sc.col(sc.id.skin) * shadow[:, None], "face")
    return coverage(neck_sd, sc.px)


def render(identity: Identity, attrs: Attributes, motion: Motion, size: int | tuple[int, int] = 256,
           device: str | torch.device = "cpu", return_regions: bool = False) -> Frames:
    """Renders N clips of F frames: clip i is identity[i] wearing attrs[i] moving as motion[i]."""
    H, W = (size, size) if isinstance(size, int) else size
    if not (len(identity) == len(attrs) == len(motion)):
        raise ValueError(f"batch sizes differ: identity {len(identity)}, attrs {len(attrs)}, motion {len(motion)}")
    sc = Scene(identity, attrs, motion, H, W, torch.device(device))

    canvas = Canvas(_background(sc))
    neck = _body(sc, canvas)
    hair.paint_back(sc, canvas, neck)
    head = face.paint_head(sc, canvas)
    feats = face.paint_features(sc, canvas, head)
    wear.paint_beard(sc, canvas, head, feats)
    hair.paint_front(sc, canvas, head)
    wear.paint_glasses(sc, canvas, feats)
    wear.paint_hat(sc, canvas)

    kp = face.keypoints(sc, feats)
    unit = sc.unit
    kp_px = torch.stack([kp[..., 0] * unit + W / 2, kp[..., 1] * unit + H / 2], -1)
    N, F = sc.N, sc.F
    regions = None
    if return_regions:
        regions = {k: v.reshape(N, F, H, W) for k, v in {**feats.regions, "head": head}.items()}
    return Frames(
        rgb=canvas.rgb.clamp(0, 1).reshape(N, F, 3, H, W),
        masks=canvas.masks.reshape(N, F, -1, H, W),
        keypoints=kp_px.reshape(N, F, 68, 2),
        regions=regions,
    )
