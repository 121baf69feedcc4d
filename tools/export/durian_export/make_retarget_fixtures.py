"""python -m durian_export.make_retarget_fixtures --out test/fixtures/retarget

Ground truth for motion retargeting (src/face/retarget.ts): SynthPortrait drivers with known head
rotations (and one with translation and zoom), each paired with an identity of another face shape.
Per case: the identity's keypoints (frontal, neutral), the driver's keypoints (frame 0 frontal and
neutral, then one frame per pose, expression unchanged) and the renderer's keypoints of the
identity itself in each of those poses — what retargeting should reproduce.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from .synth import render, sample_attributes, sample_identities, sample_motion

# (yaw, pitch, roll, tx, ty, scale) of the driver's frames after its frontal first frame
POSES = ((0.45, 0.0, 0.0, 0.0, 0.0, 1.0), (-0.35, 0.0, 0.0, 0.0, 0.0, 1.0), (0.0, 0.25, 0.0, 0.0, 0.0, 1.0),
         (0.0, -0.2, 0.0, 0.0, 0.0, 1.0), (0.0, 0.0, 0.2, 0.0, 0.0, 1.0), (0.3, -0.15, 0.1, 0.0, 0.0, 1.0),
         (-0.25, 0.12, -0.08, 0.05, -0.03, 1.08))
SIZE = 256


def _motion(n: int, poses) -> "object":
    frames = len(poses)
    m = sample_motion(0, list(range(n)), frames=frames, preset="still")
    cols = list(zip(*poses))
    fields = ("yaw", "pitch", "roll", "tx", "ty", "scale")
    return m.replace(**{f: torch.tensor(c, dtype=torch.float32)[None].expand(n, -1).clone() for f, c in zip(fields, cols)})


def _pick_pairs(seed: int, pool: int, pairs: int) -> list[tuple[int, int]]:
    """Identity/driver pairs with the most different head shapes (height ratio, jaw taper, eye spacing)."""
    ident = sample_identities(seed, list(range(pool)))
    shape = torch.stack([ident.head[:, 1], ident.head[:, 2], ident.eyes[:, 2] / ident.head[:, 0]], -1)
    shape = (shape - shape.mean(0)) / shape.std(0)
    d = torch.cdist(shape, shape)
    out, used = [], set()
    for flat in d.flatten().argsort(descending=True).tolist():
        a, b = divmod(flat, pool)
        if a in used or b in used or a == b:
            continue
        out.append((a, b))
        used |= {a, b}
        if len(out) == pairs:
            break
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--pairs", type=int, default=4)
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    pairs = _pick_pairs(args.seed, 64, args.pairs)
    ids, drivers = [a for a, _ in pairs], [b for _, b in pairs]
    n = len(pairs)
    bare = {"hair": 0.0, "hat": 0.0, "glasses": 0.0, "beard": 0.0}
    poses = ((0.0, 0.0, 0.0, 0.0, 0.0, 1.0),) + POSES
    motion = _motion(n, poses)
    flat = lambda kp: [[round(float(v), 4) for v in frame.flatten()] for frame in kp]  # noqa: E731
    drive = render(sample_identities(args.seed, drivers), sample_attributes(args.seed, drivers, probs=bare), motion, size=SIZE)
    truth = render(sample_identities(args.seed, ids), sample_attributes(args.seed, ids, probs=bare), motion, size=SIZE)
    cases = [{"identity_index": a, "driver_index": b, "identity": flat(truth.keypoints[i, :1])[0],
              "driver": flat(drive.keypoints[i]), "truth": flat(truth.keypoints[i])} for i, (a, b) in enumerate(pairs)]
    doc = {"seed": args.seed, "size": [SIZE, SIZE], "poses": [dict(zip(("yaw", "pitch", "roll", "tx", "ty", "scale"), p)) for p in poses],
           "cases": cases}
    (args.out / "cases.json").write_text(json.dumps(doc) + "\n")


if __name__ == "__main__":
    main()
