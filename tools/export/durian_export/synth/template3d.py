"""python -m durian_export.synth.template3d --out src/face/face-template-3d.json

A 3-D mean shape of the 68 iBUG keypoints from SynthPortrait, for fitting a head rotation to 2-D
keypoints (src/face/retarget.ts). x, y: the keypoints of a frontal, neutral render in canonical head
units (the head half-width is about 1; x to the image right, y down, origin at the head centre); z
(toward the viewer): each point's depth as the renderer moves it, (x(+δ) − x(−δ)) / 2 sin δ under a
small yaw δ. The jaw points are drawn on the head's silhouette, not as surface points: they shift
with yaw but hardly with pitch, so `depth_pitch` holds each point's depth as pitch moves it,
(y(+δ) − y(−δ)) / 2 sin δ (the same as z except on the jaw). Averaged over many identities, with
the principal modes of their shapes (x, y and both depths), by which retarget.ts estimates a face's
own depth from its 2-D keypoints.
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import torch

from . import render, sample_attributes, sample_identities, sample_motion
from .geometry import HEAD_SCALE

SIZE = 64  # keypoints are computed in normalised units: the image size does not change them
YAW_STEP = 0.02
COMPONENTS = 8


def _canonical(seed: int, n: int, yaw: float, pitch: float = 0.0) -> torch.Tensor:
    """Keypoints [n, 68, 2] of n identities at `yaw` and `pitch`, framed alike, in canonical head units."""
    ids = list(range(n))
    ident = sample_identities(seed, ids)
    ident = ident.replace(framing=torch.tensor([[1.0, 0.0, 0.0]] * n))  # head size 1, centred
    attrs = sample_attributes(seed, ids, probs={"hair": 0.0, "hat": 0.0, "glasses": 0.0, "beard": 0.0})
    motion = sample_motion(seed, ids, frames=1, preset="still")
    motion = motion.replace(yaw=torch.full((n, 1), yaw), pitch=torch.full((n, 1), pitch))
    kp = render(ident, attrs, motion, size=SIZE).keypoints[:, 0]
    unit = SIZE / 2
    x = (kp[..., 0] - SIZE / 2) / unit / HEAD_SCALE
    y = ((kp[..., 1] - SIZE / 2) / unit + 0.12) / HEAD_SCALE  # the renderer puts the head centre 0.12 up
    return torch.stack([x, y], -1)


def shapes(seed: int = 0, n: int = 64) -> torch.Tensor:
    """[n, 68, 4] canonical keypoints x, y of n identities with their effective depth under yaw and under pitch."""
    front = _canonical(seed, n, 0.0)
    right, left = _canonical(seed, n, YAW_STEP), _canonical(seed, n, -YAW_STEP)
    down, up = _canonical(seed, n, 0.0, YAW_STEP), _canonical(seed, n, 0.0, -YAW_STEP)
    z_yaw = (right[..., 0] - left[..., 0]) / (2 * math.sin(YAW_STEP))
    z_pitch = (down[..., 1] - up[..., 1]) / (2 * math.sin(YAW_STEP))  # y' = cos·y + sin·z under pitch
    return torch.cat([front, z_yaw[..., None], z_pitch[..., None]], -1)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--identities", type=int, default=256)
    args = ap.parse_args(argv)
    all_shapes = shapes(args.seed, args.identities)
    pts = all_shapes.mean(0)
    # principal modes of the identities' shapes (x, y, both depths together), so that a face's own
    # depth can be estimated from its 2-D keypoints: [K, 68, 4] unit vectors and their std devs
    flat = (all_shapes - pts).reshape(args.identities, -1).double()
    _, sv, vt = torch.linalg.svd(flat, full_matrices=False)
    modes = vt[:COMPONENTS].reshape(COMPONENTS, 68, 4)
    std = sv[:COMPONENTS] / math.sqrt(args.identities - 1)
    doc = {"layout": "ibug68", "units": "canonical head units: x right, y down, z toward the viewer",
           "source": f"SynthPortrait mean of {args.identities} identities (seed {args.seed}), "
                     "python -m durian_export.synth.template3d",
           "points": [[round(float(v), 4) for v in p[:3]] for p in pts],
           "depth_pitch": [round(float(p[3]), 4) for p in pts],
           "modes": [[[round(float(v), 5) for v in p] for p in m] for m in modes],
           "mode_std": [round(float(v), 5) for v in std]}
    args.out.write_text(json.dumps(doc) + "\n")


if __name__ == "__main__":
    main()
