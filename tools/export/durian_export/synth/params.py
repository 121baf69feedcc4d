"""Seeded sampling of SynthPortrait parameters: identities, attributes and motion.

Every random choice comes from a generator seeded by (seed, stream, index), so the parameters of
clip `index` do not depend on which other clips are sampled with it. All tensors live on the CPU
here; the renderer moves them to its device.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, fields, replace
from typing import Sequence

import torch

from . import catalog

_STREAMS = {"identity": 1, "attributes": 2, "motion": 3}


def _generator(seed: int, stream: str, index: int) -> torch.Generator:
    digest = hashlib.sha256(f"{seed}:{_STREAMS[stream]}:{index}".encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") & ((1 << 63) - 1))


def _u(g: torch.Generator, lo: float, hi: float, n: int = 1) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=g)


def _choice(g: torch.Generator, n: int) -> int:
    return int(torch.randint(n, (1,), generator=g))


def _jitter(rgb: Sequence[float], g: torch.Generator, amount: float) -> torch.Tensor:
    return (torch.tensor(rgb) * (1 + amount * (2 * torch.rand(3, generator=g) - 1))).clamp(0, 1)


class _Batch:
    """Dataclass mixin: stack, index, move and (de)serialise a batch of tensor fields."""

    @classmethod
    def stack(cls, items):
        return cls(**{f.name: torch.stack([getattr(i, f.name) for i in items]) for f in fields(cls)})

    def __getitem__(self, idx):
        return type(self)(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})

    def to(self, device):
        return type(self)(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})

    def replace(self, **changes):
        return replace(self, **changes)

    def set_item(self, i: int, row):
        """A copy with item i replaced by the single-item batch `row`."""
        changes = {}
        for f in fields(self):
            v = getattr(self, f.name).clone()
            v[i] = getattr(row, f.name)[0]
            changes[f.name] = v
        return replace(self, **changes)

    def __len__(self):
        return getattr(self, fields(self)[0].name).shape[0]

    def to_json(self) -> list[dict]:
        """One dict per item, plain Python numbers (for params.json)."""
        out = []
        for i in range(len(self)):
            out.append({f.name: getattr(self, f.name)[i].tolist() for f in fields(self)})
        return out


@dataclass
class Identity(_Batch):
    """Who the person is and how the clip is lit and framed. One row per clip."""

    head: torch.Tensor      # [N, 4] half-width, height ratio, jaw taper, chin pointedness
    skin: torch.Tensor      # [N, 3]
    eyes: torch.Tensor      # [N, 6] half-width, height, half-separation, y, iris radius frac, slant
    iris: torch.Tensor      # [N, 3]
    brows: torch.Tensor     # [N, 5] thickness, arch, half-length, gap above eye, tilt
    brow_colour: torch.Tensor  # [N, 3]
    nose: torch.Tensor      # [N, 3] length, width, tip size
    mouth: torch.Tensor     # [N, 4] half-width, upper lip, lower lip, y
    lips: torch.Tensor      # [N, 3]
    ears: torch.Tensor      # [N, 2] size, y
    body: torch.Tensor      # [N, 3] neck half-width, shoulder half-width, collar kind
    clothes: torch.Tensor   # [N, 3]
    light: torch.Tensor     # [N, 4] direction x, y, strength, colour temperature
    background: torch.Tensor  # [N, 12] kind, colour a (3), colour b (3), angle, freq x, freq y, phase, grain
    framing: torch.Tensor   # [N, 3] head size, x offset, y offset


@dataclass
class Attributes(_Batch):
    """What the person wears. Style 0 means none (bald for hair)."""

    hair_style: torch.Tensor    # [N] long
    hair_colour: torch.Tensor   # [N, 3]
    hair_shape: torch.Tensor    # [N, 4] volume, length, part side (±1), texture phase
    hat_style: torch.Tensor     # [N] long
    hat_colour: torch.Tensor    # [N, 6] main and secondary colour
    hat_pattern: torch.Tensor   # [N] long
    hat_side: torch.Tensor      # [N] ±1, the side a beret tilts to
    glasses_style: torch.Tensor  # [N] long
    glasses: torch.Tensor       # [N, 8] frame colour (3), lens tint strength, lens colour (3), size
    beard_style: torch.Tensor   # [N] long
    beard: torch.Tensor         # [N, 4] colour (3), density

    def style(self, cls: str) -> torch.Tensor:
        return getattr(self, f"{cls}_style")

    def swap_class(self, cls: str, other: "Attributes") -> "Attributes":
        """These attributes with every field of class `cls` taken from `other`."""
        keys = {"hair": ("hair_style", "hair_colour", "hair_shape"),
                "hat": ("hat_style", "hat_colour", "hat_pattern", "hat_side"),
                "glasses": ("glasses_style", "glasses"),
                "beard": ("beard_style", "beard")}[cls]
        return self.replace(**{k: getattr(other, k) for k in keys})


@dataclass
class Motion(_Batch):
    """Per-frame pose and expression. Tensors [N, F]."""

    yaw: torch.Tensor
    pitch: torch.Tensor
    roll: torch.Tensor
    tx: torch.Tensor
    ty: torch.Tensor
    scale: torch.Tensor
    eyes_open: torch.Tensor
    mouth_open: torch.Tensor
    smile: torch.Tensor
    brow_raise: torch.Tensor

    @property
    def frames(self) -> int:
        return self.yaw.shape[1]


def _sample_identity(seed: int, index: int) -> Identity:
    g = _generator(seed, "identity", index)
    tone = float(_u(g, 0, len(catalog.SKIN_TONES) - 1))
    lo, frac = int(tone), tone - int(tone)
    hi = min(lo + 1, len(catalog.SKIN_TONES) - 1)
    skin = torch.tensor(catalog.SKIN_TONES[lo]) * (1 - frac) + torch.tensor(catalog.SKIN_TONES[hi]) * frac
    skin = (skin * (1 + 0.05 * (2 * torch.rand(3, generator=g) - 1))).clamp(0, 1)
    lips = (skin * torch.tensor([0.85, 0.55, 0.55]) + torch.tensor([0.08, 0.0, 0.02]) * float(_u(g, 0, 1))).clamp(0, 1)
    brow_colour = torch.tensor(catalog.HAIR_COLOURS[_choice(g, 6)][1]) * 0.9
    bg_kind = float(_choice(g, 3))
    bg = torch.cat([
        torch.tensor([bg_kind]), torch.rand(3, generator=g) * 0.8 + 0.1, torch.rand(3, generator=g) * 0.8 + 0.1,
        _u(g, 0, 2 * math.pi), _u(g, 1.0, 5.0), _u(g, 1.0, 5.0), _u(g, 0, 2 * math.pi), _u(g, 0.0, 0.035),
    ])
    return Identity(
        head=torch.cat([_u(g, 0.88, 1.08), _u(g, 1.18, 1.38), _u(g, 0.12, 0.42), _u(g, 1.5, 3.0)]),
        skin=skin,
        eyes=torch.cat([_u(g, 0.15, 0.21), _u(g, 0.07, 0.11), _u(g, 0.36, 0.44), _u(g, -0.20, -0.10),
                        _u(g, 0.38, 0.5), _u(g, -0.08, 0.12)]),
        iris=_jitter(catalog.IRIS_COLOURS[_choice(g, len(catalog.IRIS_COLOURS))], g, 0.15),
        brows=torch.cat([_u(g, 0.035, 0.075), _u(g, 0.0, 0.08), _u(g, 0.17, 0.24), _u(g, 0.13, 0.20), _u(g, -0.1, 0.15)]),
        brow_colour=brow_colour,
        nose=torch.cat([_u(g, 0.26, 0.38), _u(g, 0.09, 0.15), _u(g, 0.06, 0.09)]),
        mouth=torch.cat([_u(g, 0.17, 0.25), _u(g, 0.028, 0.05), _u(g, 0.04, 0.07), _u(g, 0.50, 0.60)]),
        lips=lips,
        ears=torch.cat([_u(g, 0.85, 1.15), _u(g, -0.05, 0.1)]),
        body=torch.cat([_u(g, 0.42, 0.55), _u(g, 1.7, 2.3), torch.tensor([float(_choice(g, 3))])]),
        clothes=_jitter(catalog.CLOTHES_COLOURS[_choice(g, len(catalog.CLOTHES_COLOURS))], g, 0.2),
        light=torch.cat([_u(g, -0.7, 0.7), _u(g, -0.7, 0.2), _u(g, 0.25, 0.55), _u(g, -1, 1)]),
        background=bg,
        framing=torch.cat([_u(g, 0.9, 1.08), _u(g, -0.06, 0.06), _u(g, -0.04, 0.04)]),
    )


DEFAULT_ATTRIBUTE_PROBS = {"hair": 0.92, "hat": 0.3, "glasses": 0.35, "beard": 0.3}


def _sample_attributes(seed: int, index: int, probs: dict[str, float]) -> Attributes:
    g = _generator(seed, "attributes", index)
    draws = torch.rand(4, generator=g)

    def style(cls: str, i: int) -> int:
        n = len(catalog.STYLES[cls])
        pick = 1 + _choice(g, n - 1)  # always consume the draw, so probs do not shift other fields
        return pick if float(draws[i]) < probs.get(cls, 0.0) else 0

    hair_idx = _choice(g, len(catalog.HAIR_COLOURS))
    hair_colour = _jitter(catalog.HAIR_COLOURS[hair_idx][1], g, 0.12)
    natural = catalog.NATURAL_HAIR_COLOURS
    own = float(_u(g, 0, 1)) < 0.8 and hair_idx < natural
    beard_colour = hair_colour if own else _jitter(catalog.HAIR_COLOURS[_choice(g, natural)][1], g, 0.1)
    hat_c = torch.cat([_jitter(catalog.HAT_COLOURS[_choice(g, len(catalog.HAT_COLOURS))], g, 0.15),
                       _jitter(catalog.HAT_COLOURS[_choice(g, len(catalog.HAT_COLOURS))], g, 0.15)])
    tinted = float(_u(g, 0, 1)) < 0.35
    lens_colour = _jitter((0.15, 0.15, 0.18), g, 0.5) if tinted else torch.tensor([0.85, 0.9, 0.95])
    glasses = torch.cat([
        _jitter(catalog.FRAME_COLOURS[_choice(g, len(catalog.FRAME_COLOURS))], g, 0.1),
        _u(g, 0.55, 0.8) if tinted else _u(g, 0.05, 0.12), lens_colour, _u(g, 0.92, 1.1),
    ])
    attrs = Attributes(
        hair_style=torch.tensor(style("hair", 0)),
        hair_colour=hair_colour,
        hair_shape=torch.cat([_u(g, 0.85, 1.2), _u(g, 0.8, 1.2), torch.tensor([1.0 if float(_u(g, 0, 1)) < 0.5 else -1.0]),
                              _u(g, 0, 2 * math.pi)]),
        hat_style=torch.tensor(style("hat", 1)),
        hat_colour=hat_c,
        hat_pattern=torch.tensor(_choice(g, len(catalog.HAT_PATTERNS))),
        hat_side=torch.tensor(0.0),
        glasses_style=torch.tensor(style("glasses", 2)),
        glasses=glasses,
        beard_style=torch.tensor(style("beard", 3)),
        beard=torch.cat([beard_colour * 0.95, _u(g, 0.7, 1.0)]),
    )
    # drawn after every other field, so adding it left the earlier draws (and renders) unchanged
    return attrs.replace(hat_side=torch.tensor(1.0 if float(_u(g, 0, 1)) < 0.5 else -1.0))


def _smooth_noise(g: torch.Generator, t: torch.Tensor, amp: float, fmin: float, fmax: float, k: int = 3) -> torch.Tensor:
    """Sum of k sinusoids with random frequencies in [fmin, fmax] Hz; peak ≈ amp."""
    f = _u(g, fmin, fmax, k)
    ph = _u(g, 0, 2 * math.pi, k)
    a = _u(g, 0.5, 1.0, k)
    a = a / a.sum()
    return amp * (a[:, None] * torch.sin(2 * math.pi * f[:, None] * t[None] + ph[:, None])).sum(0)


def _blinks(g: torch.Generator, t: torch.Tensor, fps: float) -> torch.Tensor:
    """Eye openness 1 with smooth 0.2 s blinks every 1.5–5 s."""
    openness = torch.ones_like(t)
    when = float(_u(g, 0.2, 2.0))
    dur = 0.2
    while when < float(t[-1]) + 1.0:
        d = (t - when).abs() / (dur / 2)
        openness = openness * (1 - torch.where(d < 1, 0.5 * (1 + torch.cos(math.pi * d)), torch.zeros_like(d)))
        when += float(_u(g, 1.5, 5.0))
    return openness


def _sample_motion(seed: int, index: int, frames: int, fps: float, preset: str) -> Motion:
    g = _generator(seed, "motion", index)
    t = torch.arange(frames, dtype=torch.float32) / fps
    eyes_open = _blinks(g, t, fps)
    if preset == "random":
        yaw = _smooth_noise(g, t, float(_u(g, 0.15, 0.55)), 0.05, 0.4)
        pitch = _smooth_noise(g, t, float(_u(g, 0.05, 0.25)), 0.05, 0.4)
        roll = _smooth_noise(g, t, float(_u(g, 0.03, 0.15)), 0.05, 0.3)
        tx = _smooth_noise(g, t, 0.06, 0.05, 0.3)
        ty = _smooth_noise(g, t, 0.04, 0.05, 0.3)
        scale = 1 + _smooth_noise(g, t, 0.06, 0.05, 0.2)
        mouth = (_smooth_noise(g, t, 0.8, 0.1, 0.6) + 0.1).clamp(0, 1)
        smile = _smooth_noise(g, t, 0.6, 0.05, 0.3).clamp(-0.3, 1)
        brow = _smooth_noise(g, t, 0.9, 0.05, 0.4).clamp(0, 1)
    elif preset == "talking":
        yaw = _smooth_noise(g, t, 0.22, 0.1, 0.35)
        pitch = _smooth_noise(g, t, 0.08, 0.3, 0.8) + 0.03
        roll = _smooth_noise(g, t, 0.06, 0.1, 0.3)
        tx = _smooth_noise(g, t, 0.03, 0.05, 0.2)
        ty = _smooth_noise(g, t, 0.02, 0.1, 0.5)
        scale = 1 + _smooth_noise(g, t, 0.03, 0.05, 0.2)
        syllables = torch.sin(2 * math.pi * float(_u(g, 3.0, 4.5)) * t + float(_u(g, 0, 6.28))).abs()
        words = (0.5 + 0.5 * torch.sin(2 * math.pi * float(_u(g, 0.3, 0.6)) * t + float(_u(g, 0, 6.28)))).clamp(0, 1)
        mouth = (0.75 * syllables * words ** 0.5).clamp(0, 1)
        smile = (0.25 + _smooth_noise(g, t, 0.3, 0.05, 0.2)).clamp(-0.3, 1)
        brow = (_smooth_noise(g, t, 0.8, 0.2, 0.6)).clamp(0, 1)
    else:
        raise ValueError(f"Unknown motion preset {preset!r}; valid: random, talking, still")
    return Motion(yaw=yaw, pitch=pitch, roll=roll, tx=tx, ty=ty, scale=scale, eyes_open=eyes_open,
                  mouth_open=mouth, smile=smile, brow_raise=brow)


def sample_identities(seed: int, indices: Sequence[int]) -> Identity:
    """Identity parameters of clips `indices` under `seed`."""
    return Identity.stack([_sample_identity(seed, i) for i in indices])


def sample_attributes(seed: int, indices: Sequence[int], probs: dict[str, float] | None = None) -> Attributes:
    """Attribute parameters; `probs` gives each class's chance of being present (default catalogue mix)."""
    p = DEFAULT_ATTRIBUTE_PROBS if probs is None else {**DEFAULT_ATTRIBUTE_PROBS, **probs}
    return Attributes.stack([_sample_attributes(seed, i, p) for i in indices])


def sample_motion(seed: int, indices: Sequence[int], frames: int, fps: float = 25.0, preset: str = "random") -> Motion:
    """Per-frame motion [N, F] of clips `indices`; presets: random, talking, still."""
    if preset == "still":
        def z(v=0.0):  # a new tensor per call: the fields must not share storage
            return torch.full((len(indices), frames), v)
        return Motion(yaw=z(), pitch=z(), roll=z(), tx=z(), ty=z(), scale=z(1.0), eyes_open=z(1.0), mouth_open=z(0.1),
                      smile=z(0.2), brow_raise=z())
    return Motion.stack([_sample_motion(seed, i, frames, fps, preset) for i in indices])


def with_styles(attrs: Attributes, **styles: int) -> Attributes:
    """`attrs` with the given classes forced to a style index (e.g. hair=5, hat=0)."""
    changes = {}
    for cls, s in styles.items():
        n = len(catalog.STYLES[cls])
        if not 0 <= s < n:
            raise ValueError(f"{cls} style {s} out of range 0..{n - 1}")
        changes[f"{cls}_style"] = torch.full_like(attrs.style(cls), s)
    return attrs.replace(**changes)


_COMBO_FIELDS = {  # class → (attribute field, its colour channels, palette)
    "hair": ("hair_colour", slice(0, 3), catalog.HAIR_COLOURS),
    "hat": ("hat_colour", slice(0, 3), catalog.HAT_COLOURS),
    "glasses": ("glasses", slice(0, 3), catalog.FRAME_COLOURS),
}


def _palette(cls: str) -> torch.Tensor:
    pal = _COMBO_FIELDS[cls][2]
    return torch.tensor([c[1] if isinstance(c[0], str) else c for c in pal])


def palette_index(attrs: Attributes, cls: str) -> torch.Tensor:
    """[N] index of the palette entry nearest each sample's `cls` colour (see catalog.HELD_OUT_COMBINATIONS)."""
    field, ch, _ = _COMBO_FIELDS[cls]
    colour = getattr(attrs, field)[:, ch].float().cpu()
    return torch.cdist(colour, _palette(cls)).argmin(1)


def _held_out_in(attrs: Attributes, cls: str) -> torch.Tensor:
    """[N] bool: the sample's `cls` style and palette colour form one of catalog.HELD_OUT_COMBINATIONS."""
    styles, idx = attrs.style(cls).cpu(), palette_index(attrs, cls)
    hit = torch.zeros(len(styles), dtype=torch.bool)
    for c, style, colour in catalog.HELD_OUT_COMBINATIONS:
        if c == cls:
            hit |= (styles == catalog.STYLES[cls].index(style)) & (idx == colour)
    return hit


def held_out_mask(attrs: Attributes) -> torch.Tensor:
    """[N] bool: the sample wears one of catalog.HELD_OUT_COMBINATIONS."""
    hit = torch.zeros(len(attrs.hair_style), dtype=torch.bool)
    for cls in _COMBO_FIELDS:
        hit |= _held_out_in(attrs, cls)
    return hit


def without_held_out(attrs: Attributes) -> Attributes:
    """`attrs` with every held-out combination re-coloured: the colour moves by the difference
    between its palette entry and the next one (keeping its jitter), until no combination is held out."""
    for cls, (field, ch, _) in _COMBO_FIELDS.items():
        pal = _palette(cls)
        for _ in range(len(pal)):
            held = _held_out_in(attrs, cls)
            if not held.any():
                break
            value = getattr(attrs, field).clone()
            idx = palette_index(attrs, cls)
            step = (pal[(idx + 1) % len(pal)] - pal[idx]).to(value.device, value.dtype)
            value[:, ch] = torch.where(held.to(value.device)[:, None], (value[:, ch] + step).clamp(0, 1), value[:, ch])
            attrs = attrs.replace(**{field: value})
    return attrs


def with_combination(attrs: Attributes, cls: str, style: str, colour: int) -> Attributes:
    """`attrs` with class `cls` forced to `style` in palette colour `colour` (exact, no jitter)."""
    field, ch, _ = _COMBO_FIELDS[cls]
    value = getattr(attrs, field).clone()
    value[:, ch] = _palette(cls)[colour].to(value.device, value.dtype)
    return with_styles(attrs, **{cls: catalog.STYLES[cls].index(style)}).replace(**{field: value})
