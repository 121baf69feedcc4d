"""python -m durian_export.synth sample | sheet | examples | bench"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from .io import params_doc, write_clip
from .params import sample_attributes, sample_identities, sample_motion
from .render import render


def cmd_sample(args) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for start in range(0, args.clips, args.batch):
        idx = list(range(args.start + start, args.start + min(start + args.batch, args.clips)))
        ident, attrs = sample_identities(args.seed, idx), sample_attributes(args.seed, idx)
        motion = sample_motion(args.seed, idx, args.frames, args.fps, args.preset)
        r = render(ident, attrs, motion, size=args.size, device=args.device)
        for j, i in enumerate(idx):
            write_clip(out / f"clip_{i:06d}", r.rgb[j], r.masks[j], r.keypoints[j], args.fps,
                       params_doc(args.seed, i, args.preset, ident, attrs, motion, j))
        print(f"wrote clips {idx[0]}..{idx[-1]} to {out}", flush=True)


def cmd_sheet(args) -> None:
    from .sheet import make_sheet

    make_sheet(Path(args.out), seed=args.seed, tile=args.tile, device=args.device)
    print(f"wrote {args.out}")


def cmd_examples(args) -> None:
    from .examples import write_examples

    for p in write_examples(Path(args.out)):
        print(p)


def cmd_bench(args) -> None:
    """Frames/s of render() at a size and batch, after a warm-up, on one device."""
    device = torch.device(args.device)
    idx = list(range(args.batch))
    ident, attrs = sample_identities(0, idx), sample_attributes(0, idx)
    motion = sample_motion(0, idx, 1)
    ident, attrs, motion = ident.to(device), attrs.to(device), motion.to(device)
    fn = torch.compile(render, dynamic=False) if args.compile else render

    def once():
        r = fn(ident, attrs, motion, size=args.size, device=device)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return r

    once()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < args.seconds:
        once()
        n += args.batch
    dt = time.perf_counter() - t0
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)"
    print(f"synth render {args.size}x{args.size} batch {args.batch} compile={args.compile} on {name}: "
          f"{n / dt:.1f} frames/s ({n} frames in {dt:.1f} s)")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m durian_export.synth", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sample", help="render clips to PNG frames, masks, keypoints.json, params.json")
    s.add_argument("--out", required=True)
    s.add_argument("--clips", type=int, default=4)
    s.add_argument("--frames", type=int, default=16)
    s.add_argument("--size", type=int, default=256)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--start", type=int, default=0, help="first clip index")
    s.add_argument("--fps", type=float, default=25.0)
    s.add_argument("--preset", choices=("random", "talking", "still"), default="random")
    s.add_argument("--batch", type=int, default=4, help="clips rendered together")
    s.add_argument("--device", default="cpu")
    s.set_defaults(fn=cmd_sample)
    s = sub.add_parser("sheet", help="contact sheet of identities × attribute variants and motion")
    s.add_argument("--out", required=True)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--tile", type=int, default=128)
    s.add_argument("--device", default="cpu")
    s.set_defaults(fn=cmd_sheet)
    s = sub.add_parser("examples", help="write the example inputs shipped in examples/")
    s.add_argument("--out", required=True)
    s.set_defaults(fn=cmd_examples)
    s = sub.add_parser("bench", help="frames/s of the renderer")
    s.add_argument("--device", default="cpu")
    s.add_argument("--size", type=int, default=256)
    s.add_argument("--batch", type=int, default=16)
    s.add_argument("--seconds", type=float, default=10.0)
    s.add_argument("--compile", action="store_true")
    s.set_defaults(fn=cmd_bench)
    args = ap.parse_args(argv)
    args.fn(args)


if __name__ == "__main__":
    main()
