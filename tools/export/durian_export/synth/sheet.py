"""Contact sheet: identities × attribute variants, and motion strips, in one labelled PNG."""
from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image, ImageDraw

from . import catalog
from .io import to_uint8
from .params import Attributes, sample_attributes, sample_identities, sample_motion, with_styles
from .render import render

TILE = 128
LABEL = 14


def _row(ident, attrs: Attributes, motion, tile: int, device) -> list[torch.Tensor]:
    out = render(ident, attrs, motion, size=tile, device=device)
    return [out.rgb[i, 0] for i in range(len(ident))]


def _blocks() -> list[list[tuple[str, int]]]:
    """Column sets: all hair styles; then hats, glasses and beards."""
    hair = [("hair", i) for i in range(len(catalog.HAIR_STYLES))]
    wear = [(cls, i) for cls in ("hat", "glasses", "beard") for i in range(1, len(catalog.STYLES[cls]))]
    return [hair, wear]


def _block_rows(seed: int, ident, base: Attributes, still, cols, tile: int, device) -> list[list[torch.Tensor]]:
    n = len(ident)
    donors = sample_attributes(seed + 1, range(len(cols)), probs={"hair": 1.0, "hat": 1.0, "glasses": 1.0, "beard": 1.0})
    rows = []
    for r in range(n):
        idx = [r] * len(cols)
        attrs = base[idx]
        for c, (cls, style) in enumerate(cols):
            attrs = attrs.set_item(c, attrs[[c]].swap_class(cls, with_styles(donors[[c]], **{cls: style})))
        out = render(ident[idx], attrs, still[idx], size=tile, device=device)
        rows.append([out.rgb[i, 0] for i in range(len(cols))])
    return rows


def make_sheet(path: Path, seed: int = 0, identities: int = 4, tile: int = TILE, device: str = "cpu") -> None:
    """Writes the sheet: a block of identities × hair styles, a block of the same identities × hats,
    glasses and beards, then two motion strips (random and talking presets)."""
    ids = list(range(identities))
    ident = sample_identities(seed, ids)
    base = with_styles(sample_attributes(seed, ids, probs={"hair": 1.0}), hat=0, glasses=0, beard=0)
    still = sample_motion(seed, ids, frames=1, preset="still")
    turn = torch.tensor([0.0, 0.3, -0.25, 0.12, -0.1, 0.2][:identities])[:, None]
    still = still.replace(yaw=still.yaw + turn, pitch=still.pitch + 0.3 * turn.flip(0))
    blocks = [(cols, _block_rows(seed, ident, base, still, cols, tile, device)) for cols in _blocks()]
    width = max(len(c) for c, _ in blocks)

    strips = []
    for k, preset in enumerate(("random", "talking")):
        who = [identities + k]
        m = sample_motion(seed, who, frames=width * 3, preset=preset)
        a = sample_attributes(seed, who, probs={"hair": 1.0})
        out = render(sample_identities(seed, who), a, m, size=tile, device=device)
        strips.append([out.rgb[0, 3 * f] for f in range(width)])

    H = sum(LABEL + tile * len(rows) for _, rows in blocks) + LABEL + 2 * tile
    sheet = Image.new("RGB", (tile * width, H), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    y = 0
    for cols, rows in blocks:
        for c, (cls, style) in enumerate(cols):
            draw.text((c * tile + 3, y + 1), f"{cls}: {catalog.STYLES[cls][style]}", fill=(0, 0, 0))
        y += LABEL
        for row in rows:
            for c, img in enumerate(row):
                sheet.paste(Image.fromarray(to_uint8(img)), (c * tile, y))
            y += tile
    draw.text((3, y + 1), "motion: random preset (top), talking preset (bottom); every 3rd frame at 25 fps", fill=(0, 0, 0))
    y += LABEL
    for strip in strips:
        for c, img in enumerate(strip):
            sheet.paste(Image.fromarray(to_uint8(img)), (c * tile, y))
        y += tile
    sheet.save(path)

