"""python -m durian_export.vae_sheet OUT.png RUN [RUN ...] [--names A,B] [--renders 0,3,5] [--seed 2000000]

A picture for comparing VAEs by eye: held-out renders (the identities `vae_health` reads, the
validation seed by default) in the top row and each run's round trip (encode → decode with the
latent mean) in a row below it, named on the left. Each render is followed by a 2× enlargement of
its top-centre quarter, where the hair and the hat sit: fine texture (strands, stripes, stipple) is
what a round trip loses first, and at full size it is easy to miss.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from .synth.io import to_uint8
from .vae_health import held_out_renders

LABEL = 90  # pixels of the name column


def zoom(images: torch.Tensor) -> torch.Tensor:
    """The top-centre quarter of each image (hair and hats), enlarged 2× to the image's size."""
    s = images.shape[-1]
    crop = images[..., s // 16: s // 16 + s // 2, s // 4: s // 4 + s // 2]
    return F.interpolate(crop, size=(s, s), mode="nearest")


def build_sheet(rows: list[torch.Tensor], names: list[str]) -> Image.Image:
    """rows: [N, 3, S, S] in [0, 1] each, the same renders; one row of image + zoom pairs per entry."""
    n, s = rows[0].shape[0], rows[0].shape[-1]
    sheet = Image.new("RGB", (LABEL + 2 * n * s, len(rows) * s), "white")
    draw = ImageDraw.Draw(sheet)
    for r, (images, name) in enumerate(zip(rows, names)):
        pairs = torch.stack([images, zoom(images)], 1).flatten(0, 1)  # image, zoom, image, zoom, …
        strip = torch.cat(list(pairs), -1)
        sheet.paste(Image.fromarray(to_uint8(strip)), (LABEL, r * s))
        draw.text((6, r * s + s // 2 - 6), name, fill="black")
    return sheet


def main(argv=None) -> None:
    from .checkpoint import load_model

    ap = argparse.ArgumentParser(prog="python -m durian_export.vae_sheet", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", help="the picture to write (.png or .jpg)")
    ap.add_argument("runs", nargs="+", help="run directories or checkpoint folders (ckpt.pt or its parts)")
    ap.add_argument("--names", help="comma-separated row names (default: the folders' names)")
    ap.add_argument("--renders", default="0,1,2,3", help="which held-out renders, comma-separated (default 0,1,2,3)")
    ap.add_argument("--seed", type=int, default=2_000_000,
                    help="identity seed of the renders (default 2000000, the validation people vae_health reads)")
    ap.add_argument("--size", type=int, default=256)
    args = ap.parse_args(argv)
    names = args.names.split(",") if args.names else [Path(r).name for r in args.runs]
    if len(names) != len(args.runs):
        raise SystemExit(f"--names has {len(names)} names for {len(args.runs)} runs")
    picks = [int(i) for i in args.renders.split(",")]
    renders = held_out_renders(args.seed, max(picks) + 1, args.size).images[picks]
    rows = [renders]
    for run in args.runs:
        vae = load_model(Path(run)).vae.eval()
        with torch.no_grad():
            mean, _ = vae.encoder(renders * 2 - 1)
            rows.append(((vae.decoder(mean) + 1) / 2).clamp(0, 1))
    build_sheet(rows, ["renders"] + names).save(args.out)
    print(f"{args.out}: {len(picks)} renders × {len(args.runs)} VAEs")


if __name__ == "__main__":
    main()
