"""python -m durian_export.export --checkpoint RUN_DIR --out models/NAME [--fp16]

One ONNX graph per component, `manifest.json` (docs/architecture.md) and `scheduler_config.json`
(export_onnx.py); parity is part of export: every graph against PyTorch on onnxruntime's CPU
provider (max relative error), and the whole sampling loop over the ONNX sessions against the
PyTorch sampler with the same injected noise (PSNR of the decoded frames; parity.py).
"""
from __future__ import annotations

import argparse
import contextlib
import json
from pathlib import Path

from .checkpoint import load_model
from .export_onnx import export_model
from .parity import loop_parity
from .temporal_check import temporal_off


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m durian_export.export", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True, help="run directory holding ckpt.pt")
    ap.add_argument("--out", required=True, help="model directory to write (e.g. models/durian-synth)")
    ap.add_argument("--name", help="model name in the manifest (default: the out folder's name)")
    ap.add_argument("--fp16", action="store_true",
                    help="store weights as fp16 (half the size; compute stays fp32; parity against fp32 PyTorch)")
    ap.add_argument("--no-parity", action="store_true")
    ap.add_argument("--guidance-scale", type=float,
                    help="the model's default classifier-free guidance scale, written to the manifest "
                         "(default: none written; the CLI then uses manifest.schema.json's default)")
    ap.add_argument("--eta", type=float,
                    help="the model's default DDIM eta in [0, 1], written to the manifest (default: none written: 0)")
    ap.add_argument("--temporal-off", action="store_true",
                    help="a diagnostic model: every temporal layer's output projection zeroed, so each frame is "
                         "denoised on its own; exported beside the real one, it measures through the CLI what "
                         "stage 2 adds (the name in the manifest says so)")
    ap.add_argument("--noise-correlation", type=float,
                    help="the model's default frame-to-frame noise correlation in [0, 1), written to the manifest "
                         "(default: none written: 0)")
    ap.add_argument("--temporal-min-t", type=int, metavar="T",
                    help="export with the temporal layers acting only at timesteps t >= T (a gate inside the UNet "
                         "graph; ModelArgs.temporal_min_t), whatever the checkpoint's config says")
    args = ap.parse_args(argv)
    model = load_model(Path(args.checkpoint))
    if args.temporal_min_t is not None:
        if not 0 <= args.temporal_min_t < model.cfg.num_train_timesteps:
            raise SystemExit(f"--temporal-min-t must be in [0, {model.cfg.num_train_timesteps}), got {args.temporal_min_t}")
        model.cfg.model.temporal_min_t = args.temporal_min_t
    out = Path(args.out)
    name = args.name or out.name
    with temporal_off(model) if args.temporal_off else contextlib.nullcontext() as zeroed:
        if args.temporal_off:
            if not zeroed:
                raise SystemExit(f"--temporal-off: {args.checkpoint} has no temporal layers")
            name += " (temporal layers off)"
        report = export_model(model, out, name, fp16=args.fp16, parity=not args.no_parity,
                              guidance_scale=args.guidance_scale, eta=args.eta,
                              noise_correlation=args.noise_correlation)
        if not args.no_parity:
            report["loop"] = loop_parity(model, out)
    (out / "parity.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
