"""python -m durian_export.make_align_fixtures --out test/fixtures/align

The shared fixture of the attribute aligner: per attribute class one SynthPortrait cross-identity
pair (align_bench.make_pairs) — the donor's class mask, the donor's and the identity's keypoints,
the renderer's ground-truth mask of the identity wearing the donor's attribute — and the mask
data/align.py makes of it. src/face/attribute-align.ts must make the same mask from the same files.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .align_bench import make_pairs
from .data.align import align_attribute
from .synth import catalog
from .synth.io import save_png


def _load_mask(path: Path) -> torch.Tensor:
    """The PNG as both sides read it: 8-bit grey / 255, [1, 1, H, W]."""
    return torch.from_numpy(np.asarray(Image.open(path).convert("L"), dtype=np.float32) / 255)[None, None]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--size", type=int, default=256)
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    cases = []
    for cls in catalog.ATTRIBUTE_CLASSES:
        p = make_pairs(cls, 1, args.seed, args.size)
        save_png(args.out / f"{cls}.donor-mask.png", p.donor_mask[0, 0])
        save_png(args.out / f"{cls}.truth-mask.png", p.truth_mask[0, 0])
        donor = _load_mask(args.out / f"{cls}.donor-mask.png")
        _, aligned = align_attribute(torch.zeros(1, 3, args.size, args.size), donor, p.donor_kp, p.identity_kp, [cls])
        save_png(args.out / f"{cls}.aligned-mask.png", aligned[0, 0])
        # float32 values written as the exact doubles they are, so both sides fit from identical numbers
        cases.append({"class": cls, "size": [args.size, args.size], "donor_keypoints": p.donor_kp[0].flatten().tolist(),
                      "identity_keypoints": p.identity_kp[0].flatten().tolist()})
    (args.out / "cases.json").write_text(json.dumps({"seed": args.seed, "cases": cases}) + "\n")


if __name__ == "__main__":
    main()
