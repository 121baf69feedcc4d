"""python -m durian_export.bench_sampler --config configs/base.json --out DIR [--frames 8 --steps 10]
                                          [--checkpoint RUN] [--runs cpu:fp32,cuda:fp32,cuda:bf16:cudagraphs]
                                          [--windows-per-call N]

The PyTorch side of bench/pipeline-vs-torch.js: builds the config's model with seeded weights (or
loads a run's checkpoint, whose weights the JS side then reads from the model exported from it),
exports it to DIR/model (once; not with --checkpoint), writes the generation case (prepared
references, keypoints, initial latents) to DIR/case.json, runs `sample_video` eagerly on each
device:dtype[:mode] of --runs after a warm-up, and writes per-stage seconds to DIR/torch.json — with
the model's FLOPs per frame per denoising step (both guidance branches, counted by torch's
FlopCounterMode) and, on CUDA, the card's measured bf16 matmul rate.

mode: `eager` (default: attention as the exported graph computes it, an explicit softmax); `sdpa`
(eager with PyTorch's fused attention, `F.scaled_dot_product_attention`, as training runs it);
`compile` (sdpa, and the denoiser — pose features in, prediction out — through torch.compile);
`cudagraphs` (compile with mode "reduce-overhead": the compiled denoiser replayed as CUDA graphs;
CUDA only). The warm-up run compiles, so the timed runs do not. The sampler makes the
pose features once per video in every mode. `--windows-per-call N` puts N of a step's temporal windows
in one denoiser call (all of them: a large N), PyTorch's side of the CLI's windowsPerCall.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import time
from pathlib import Path

import torch

from .bench_train import matmul_tflops
from .checkpoint import load_model
from .components import Durian
from .config import load_config
from .export_onnx import export_model
from .models.attention import fused_attention_in_eval
from .sample import sample_video, transfer_case


def denoise_flops_per_frame_step(model: Durian, case, kw: dict) -> float:
    """FLOPs of one denoising step per frame: the count for 2 steps minus the count for 1 step."""
    from torch.utils.flop_counter import FlopCounterMode

    totals = []
    for steps in (1, 2):
        with FlopCounterMode(display=False) as counter:
            sample_video(model, case, **{**kw, "steps": steps})
        totals.append(counter.get_total_flops())
    return (totals[1] - totals[0]) / case.pose.shape[0]


MODES = ("eager", "sdpa", "compile", "cudagraphs")


def compiled_denoiser(model: Durian, mode: str):
    """`model.denoise_features` as the mode runs it (None: eager)."""
    if mode in ("eager", "sdpa"):
        return None
    fn = torch.compile(model.denoise_features, mode="reduce-overhead" if mode == "cudagraphs" else None, dynamic=False)
    if mode == "compile":
        return fn

    def replay(*args):
        # a new replay may overwrite the previous call's outputs: the sampler has used them by now
        torch.compiler.cudagraph_mark_step_begin()
        return fn(*args)
    return replay


def run_once(model: Durian, case, kw: dict, device: str, dtype: str, repeat: int = 1, mode: str = "eager") -> dict:
    """One warm-up (which also compiles), then `repeat` timed runs; the fastest run's figures (the
    least disturbed by whatever else the machine does)."""
    model.to(device)
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if dtype == "bf16" else contextlib.nullcontext()
    best: tuple[float, dict] | None = None
    kw = {**kw, "denoise": compiled_denoiser(model, mode)}
    with torch.no_grad(), amp, fused_attention_in_eval(mode != "eager"):
        sample_video(model, case, **{**kw, "steps": 1})  # warm-up (kernel selection, allocator)
        if device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats(device)
        for _ in range(repeat):
            timings: dict = {}
            t = time.perf_counter()
            sample_video(model, case, timings=timings, **kw)
            total = time.perf_counter() - t
            if best is None or total < best[0]:
                best = (total, timings)
    total, timings = best
    out = {"device": device, "dtype": dtype, "mode": mode, "windows_per_call": kw.get("windows_per_call", 1), "total_s": total, "repeat": repeat, **{f"{k}_s": v for k, v in timings.items()}}
    if device.startswith("cuda"):
        out["gpu"] = torch.cuda.get_device_name(device)
        out["peak_gpu_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    else:
        out["threads"] = torch.get_num_threads()
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m durian_export.bench_sampler", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True)
    ap.add_argument("--checkpoint", help="run directory (ckpt.pt) to take the weights from, instead of seeded ones")
    ap.add_argument("--out", required=True)
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--guidance-scale", type=float, default=2.5)
    ap.add_argument("--repeat", type=int, default=1, help="timed runs per configuration; the fastest is reported")
    ap.add_argument("--window", type=int, default=16)
    ap.add_argument("--overlap", type=int, default=4)
    ap.add_argument("--runs", default="cpu:fp32",
                    help="comma-separated device:dtype[:mode] (dtype fp32 or bf16, bf16 on CUDA only; mode eager, "
                         "sdpa, compile or cudagraphs, cudagraphs on CUDA only)")
    ap.add_argument("--windows-per-call", type=int, default=1, help="temporal windows per denoiser call")
    ap.add_argument("--eta", type=float, default=0.0,
                    help="DDIM's fresh noise per step on both sides (the CLI's default is 1). Above 0 each side draws "
                         "its own noise, so their frames differ; 0 keeps them comparable")
    args = ap.parse_args(argv)
    if not 0 <= args.eta <= 1:
        ap.error("--eta must be in [0, 1]")
    runs = []
    for r in args.runs.split(","):
        parts = r.split(":") + (["eager"] if r.count(":") == 1 else [])
        device, dtype, mode = parts if len(parts) == 3 else (r, "", "")  # anything else is refused below
        cuda = device.startswith("cuda")
        if dtype not in ("fp32", "bf16") or (dtype == "bf16" and not cuda) or mode not in MODES or (mode == "cudagraphs" and not cuda):
            ap.error(f"--runs: {r} is not device:dtype[:mode] with dtype fp32 or bf16 (bf16 on CUDA only) and mode "
                     f"{', '.join(MODES)} (cudagraphs on CUDA only)")
        runs.append((device, dtype, mode))
    if args.windows_per_call < 1:
        ap.error("--windows-per-call must be at least 1")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.checkpoint:
        model = load_model(Path(args.checkpoint)).eval()
    else:
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
    latents = torch.randn(1, model.cfg.model.latent_channels, args.frames, size // 8, size // 8, generator=torch.Generator().manual_seed(1))
    def flat(t):
        return [round(float(v), 6) for v in t.reshape(-1)]
    (out / "case.json").write_text(json.dumps({
        "frames": args.frames, "steps": args.steps, "guidance_scale": args.guidance_scale, "window": args.window,
        # the same eta on both sides: sample_video's below, and the TypeScript run's (bench/common.js), which
        # would otherwise take the model's own default (the shipped manifest's is 1: fresh noise a step)
        "eta": args.eta, "overlap": args.overlap, "portrait": flat(case.portrait[0]), "portrait_mask": flat(case.portrait_mask[0, 0]),
        "attr": flat(case.attrs[0][0][0]), "attr_mask": flat(case.attrs[0][1][0, 0]),
        "pose": [flat(p) for p in case.pose], "latents": flat(latents)}))
    kw = dict(steps=args.steps, guidance_scale=args.guidance_scale, latents=latents, window=args.window, overlap=args.overlap,
              windows_per_call=args.windows_per_call, eta=args.eta)
    model.to(runs[0][0])
    with torch.no_grad():
        flops = denoise_flops_per_frame_step(model, case, kw)
    result = {"frames": args.frames, "steps": args.steps, "flops_per_frame_step": flops, "runs": []}
    for device, dtype, mode in runs:
        r = run_once(model, case, kw, device, dtype, args.repeat, mode)
        r["denoise_tflops"] = flops * args.frames * args.steps / r["denoise_s"] / 1e12
        result["runs"].append(r)
        if device.startswith("cuda") and "bf16_matmul_tflops" not in result:
            result["bf16_matmul_tflops"] = matmul_tflops(device, reps=50)
    (out / "torch.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
