"""python -m durian_export.bench_sampler --config configs/base.json --out DIR [--frames 8 --steps 10]

The PyTorch side of bench/pipeline-vs-torch.js: builds the config's model with seeded weights,
exports it to DIR/model (once), writes the generation case (prepared references, keypoints,
initial latents) to DIR/case.json, runs `sample_video` eagerly on this machine's CPU after a
warm-up, and writes its per-stage seconds to DIR/torch.json.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from .components import Durian
from .config import load_config
from .export_onnx import export_model
from .sample import sample_video, transfer_case


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m durian_export.bench_sampler", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--guidance-scale", type=float, default=2.5)
    ap.add_argument("--window", type=int, default=16)
    ap.add_argument("--overlap", type=int, default=4)
    args = ap.parse_args(argv)
    out = Path(args.out)
    torch.manual_seed(0)
    model = Durian(load_config(args.config)).eval()
    with torch.no_grad():  # zero-initialised outputs would make the work trivial
        for p in model.parameters():
            if p.abs().max() == 0:
                p.normal_(0, 0.02)
    if not (out / "model" / "manifest.json").exists():
        export_model(model, out / "model", "bench", parity=False)
    size = model.cfg.model.image_size
    case = transfer_case(model.cfg.hold_out_seed, 0, size, args.frames, "hair")
    latents = torch.randn(1, 4, args.frames, size // 8, size // 8, generator=torch.Generator().manual_seed(1))
    flat = lambda t: [round(float(v), 6) for v in t.reshape(-1)]  # noqa: E731
    (out / "case.json").write_text(json.dumps({
        "frames": args.frames, "steps": args.steps, "guidance_scale": args.guidance_scale, "window": args.window,
        "overlap": args.overlap, "portrait": flat(case.portrait[0]), "portrait_mask": flat(case.portrait_mask[0, 0]),
        "attr": flat(case.attrs[0][0][0]), "attr_mask": flat(case.attrs[0][1][0, 0]),
        "pose": [flat(p) for p in case.pose], "latents": flat(latents)}))
    kw = dict(steps=args.steps, guidance_scale=args.guidance_scale, latents=latents, window=args.window, overlap=args.overlap)
    with torch.no_grad():
        sample_video(model, case, **{**kw, "steps": 1})  # warm-up
        timings: dict = {}
        t = time.perf_counter()
        sample_video(model, case, timings=timings, **kw)
        total = time.perf_counter() - t
    result = {"threads": torch.get_num_threads(), "frames": args.frames, "steps": args.steps, "total_s": total,
              **{f"{k}_s": v for k, v in timings.items()}}
    (out / "torch.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
