"""The example inputs shipped in the repository's examples/ folder, rendered reproducibly."""
from __future__ import annotations

import json
from pathlib import Path

import torch

from .io import keypoints_doc, write_image_with_sidecars, write_video
from .params import sample_attributes, sample_identities, sample_motion, with_styles
from .render import render

SEED = 2026
SIZE = 256
FPS = 25.0
NONE = dict(hat=0, glasses=0, beard=0)

# name → (identity index, forced styles, yaw)
PORTRAITS = {
    "identity-1": (0, dict(hair=2, **NONE), 0.0),
    "identity-2": (1, dict(hair=3, **NONE), 0.08),
    "identity-3": (2, dict(hair=10, **NONE), -0.06),
}
ATTRIBUTES = {
    "attr-hair-1": (10, dict(hair=7, **NONE), 0.0),
    "attr-hair-2": (11, dict(hair=8, **NONE), 0.1),
    "attr-hat-1": (12, dict(hair=2, hat=3, glasses=0, beard=0), 0.0),
    "attr-hat-2": (13, dict(hair=6, hat=1, glasses=0, beard=0), -0.1),
    "attr-glasses-1": (14, dict(hair=4, hat=0, glasses=3, beard=0), 0.0),
    "attr-glasses-2": (15, dict(hair=1, hat=0, glasses=1, beard=0), 0.05),
    "attr-beard-1": (16, dict(hair=2, hat=0, glasses=0, beard=5), 0.0),
    "attr-beard-2": (17, dict(hair=0, hat=0, glasses=0, beard=3), -0.05),
}
DRIVERS = {"drive-random": (20, "random", 48), "drive-talking": (21, "talking", 64)}


def _still(index: int, styles: dict, yaw: float):
    ident = sample_identities(SEED, [index])
    attrs = with_styles(sample_attributes(SEED, [index], probs={"hair": 1.0}), **styles)
    if styles.get("glasses") == 3:  # the aviators get tinted lenses
        g = attrs.glasses.clone()
        g[:, 3], g[:, 4:7] = 0.7, torch.tensor([0.12, 0.14, 0.16])
        attrs = attrs.replace(glasses=g)
    motion = sample_motion(SEED, [index], 1, preset="still")
    motion = motion.replace(yaw=motion.yaw + yaw)
    return render(ident, attrs, motion, size=SIZE)


def write_examples(out: Path) -> list[Path]:
    """Writes every example (portraits, attribute references, driving videos) with sidecars."""
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, (index, styles, yaw) in {**PORTRAITS, **ATTRIBUTES}.items():
        r = _still(index, styles, yaw)
        written += write_image_with_sidecars(out / f"{name}.png", r.rgb[0, 0], r.masks[0, 0], r.keypoints[0, 0])
    for name, (index, preset, frames) in DRIVERS.items():
        ident = sample_identities(SEED, [index])
        attrs = sample_attributes(SEED, [index], probs={"hair": 1.0})
        motion = sample_motion(SEED, [index], frames, FPS, preset)
        r = render(ident, attrs, motion, size=SIZE)
        path = out / f"{name}.mp4"
        write_video(path, r.rgb[0], FPS)
        kp = out / f"{name}.keypoints.json"
        kp.write_text(json.dumps(keypoints_doc(r.keypoints[0], SIZE, SIZE, FPS)))
        written += [path, kp]
    return written
