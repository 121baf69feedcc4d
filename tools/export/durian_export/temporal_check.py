"""python -m durian_export.temporal_check --checkpoint RUN_DIR [--cases 12 --frames 16 --steps 16]

Do the temporal layers help? On validation transfers (held-out people drawn from --case-seed,
never the benchmark's seed), the PyTorch sampler makes each video twice with the same noise: as
trained, and with every temporal layer's output projection zeroed (the layers switched off). Each
video is scored against the renderer's ground truth: PSNR over the frame, and jitter — the mean
|second difference| of the output's keypoints as the model's parser reads them, in pixels.
Printed: the per-variant means and the paired difference (on − off) with a bootstrap 95 %
confidence interval (scipy.stats.bootstrap, BCa, 10,000 resamples).
"""
from __future__ import annotations

import argparse
import contextlib
import json

import numpy as np
import torch

from .checkpoint import load_model
from .metrics import keypoint_jitter, paired_bootstrap, psnr
from .sample import sample_video, transfer_case

VALIDATION_SEED = 2_000_000


@contextlib.contextmanager
def temporal_off(model):
    """Zero every temporal layer's output projection (restored afterwards)."""
    saved = []
    for name, mod in model.unet.named_modules():
        if name.endswith("temporal.attn.to_out"):
            saved.append((mod, mod.weight.detach().clone(), mod.bias.detach().clone()))
            with torch.no_grad():
                mod.weight.zero_()
                mod.bias.zero_()
    try:
        yield len(saved)
    finally:
        with torch.no_grad():
            for mod, w, b in saved:
                mod.weight.copy_(w)
                mod.bias.copy_(b)


@torch.no_grad()
def keypoints(model, frames: torch.Tensor) -> np.ndarray:
    return model.parser(frames * 2 - 1)[2].float().numpy()


def paired(on: list[float], off: list[float]) -> dict:
    """Means with the layers on and off, and the paired difference on − off with its 95 % interval
    (metrics.paired_bootstrap, the benchmark's own)."""
    d = paired_bootstrap(on, off)
    return {"on": float(np.mean(on)), "off": float(np.mean(off)), "diff": d["mean"], "ci95": [d["low"], d["high"]]}


@torch.no_grad()
def objective_gap(model, batches: int, timesteps: list[int], frames: int, batch: int = 2) -> dict:
    """The stage-2 training objective on held-out clips (ordered, `frames` long, the training recipe's
    batches of held-out people), per timestep, with the temporal layers on and off: same clips, same
    noise, references and pose kept. Sampling quality and this loss can disagree; this says whether
    the layers learned to denoise better (training) or whether sampling loses it (inference)."""
    from .components import DiffusionObjective, Draws, encode_batch, null_reference
    from .data import SynthBatchMaker

    cfg = model.cfg
    maker = SynthBatchMaker(cfg, torch.device("cpu"), held_out=True)
    objective = DiffusionObjective(model)
    rows = {t: {"on": [], "off": []} for t in timesteps}
    for i in range(batches):
        lb = encode_batch(model, maker.batch(i, 0, batch, frames))
        null = null_reference(model, lb.portrait_in)
        draws = Draws.draw(cfg, lb.x0.shape, torch.Generator().manual_seed(1_000_003 + i))
        kept = torch.ones(batch)
        for t in timesteps:
            tt = torch.full((batch,), t, dtype=torch.long)
            for name, ctx in (("on", contextlib.nullcontext()), ("off", temporal_off(model))):
                with ctx:
                    loss = objective(lb.x0, lb.portrait_in, lb.attr_in, lb.pose, kept, kept, draws.noise, tt, null)
                rows[t][name].append(float(loss))
    return {str(t): {k: float(np.mean(v)) for k, v in r.items()} for t, r in rows.items()}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m durian_export.temporal_check", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--cases", type=int, default=12)
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--steps", type=int, default=16)
    ap.add_argument("--guidance-scale", type=float, default=4.0)
    ap.add_argument("--eta", type=float, default=0.0,
                    help="DDIM eta: 0 deterministic (the CLI's sampler), 1 fresh noise every step as DDPM")
    ap.add_argument("--case-seed", type=int, default=VALIDATION_SEED)
    ap.add_argument("--json-out")
    ap.add_argument("--objective", type=int, default=0, metavar="BATCHES",
                    help="instead of sampling: the held-out training loss per timestep, layers on vs off, over "
                         "BATCHES batches of 2 clips")
    args = ap.parse_args(argv)
    model = load_model(args.checkpoint).eval()
    if args.objective:
        gap = objective_gap(model, args.objective, [20, 100, 250, 500, 750, 950], args.frames)
        print(json.dumps(gap, indent=1))
        if args.json_out:
            with open(args.json_out, "w") as f:
                json.dump({"checkpoint": str(args.checkpoint), "batches": args.objective, "objective": gap}, f, indent=1)
        return
    size = model.cfg.model.image_size
    rows = []
    for i in range(args.cases):
        case = transfer_case(model.cfg.train_seed, args.case_seed + 2 * i, size, args.frames, "hair")
        gt_kp = keypoints(model, case.target)
        row = {"case": i, "gt_jitter": keypoint_jitter(gt_kp)}
        for name, ctx in (("on", contextlib.nullcontext()), ("off", temporal_off(model))):
            with ctx:
                out = sample_video(model, case, steps=args.steps, guidance_scale=args.guidance_scale, seed=i,
                                   eta=args.eta)
            row[name] = {"psnr": psnr(out, case.target), "jitter": keypoint_jitter(keypoints(model, out))}
        rows.append(row)
        print(json.dumps(row), flush=True)
    report = {"checkpoint": args.checkpoint, "cases": args.cases, "frames": args.frames, "steps": args.steps, "eta": args.eta,
              "case_seed": args.case_seed, "gt_jitter": float(np.mean([r["gt_jitter"] for r in rows])),
              "psnr": paired([r["on"]["psnr"] for r in rows], [r["off"]["psnr"] for r in rows]),
              "jitter": paired([r["on"]["jitter"] for r in rows], [r["off"]["jitter"] for r in rows])}
    print(json.dumps(report, indent=1))
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({**report, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
