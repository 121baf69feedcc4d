"""python -m durian_export.make_media_fixtures --out test/fixtures/media

Golden keypoint images for src/media/keypoint-render.ts: the 68 points of examples/identity-1 scaled
to a small canvas and drawn by keypoint_image.render_keypoints, so the TypeScript renderer can be
checked against the one the pose guider was trained with.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from .keypoint_image import GROUPS, SIGMA_PER_PIXEL_OF_256, render_keypoints

REPO = Path(__file__).resolve().parents[3]
SOURCE = REPO / "examples" / "identity-1.keypoints.json"
# (height, width): one square canvas and one wide one, so an H/W mix-up shows
CANVASES = ((64, 64), (48, 64))


def make_case(points: list[list[float]], height: int, width: int) -> dict:
    """points [68][x, y] in pixels of the H×W canvas → {height, width, points (flat), image [3·H·W]}."""
    # both sides read the points as float32, so they render from identical numbers
    kp = torch.tensor(points, dtype=torch.float32)
    image = render_keypoints(kp[None], height, width)[0]  # [3, H, W]
    return {
        "height": height,
        "width": width,
        "points": [v for xy in points for v in xy],
        "image": [round(v, 6) for v in image.flatten().tolist()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for keypoints-64.json")
    args = parser.parse_args()

    source = json.loads(SOURCE.read_text())
    src_w, src_h = source["size"]
    points = source["points"]
    assert len(points) == 68, f"expected 68 keypoints in {SOURCE}, got {len(points)}"

    cases = []
    for height, width in CANVASES:
        scaled = [[round(x * width / src_w, 6), round(y * height / src_h, 6)] for x, y in points]
        cases.append(make_case(scaled, height, width))

    fixture = {
        "source": SOURCE.relative_to(REPO).as_posix(),
        "keypoint_image": {
            "sigma_per_pixel_of_256": SIGMA_PER_PIXEL_OF_256,
            "groups": [{"name": n, "start": s, "end": e, "colour": list(c)} for n, s, e, c in GROUPS],
        },
        "cases": cases,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "keypoints-64.json"
    path.write_text(json.dumps(fixture, separators=(",", ":")) + "\n")
    print(f"wrote {path} ({len(cases)} cases)")


if __name__ == "__main__":
    main()
