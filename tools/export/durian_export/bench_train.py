"""python -m durian_export.bench_train --config configs/base.json [--stages vae,parser,stage1,stage2]

Training throughput per stage on one device: samples/s (data rendered on the same device
included, and the renderer's share), model FLOPs per sample (forward + backward, counted by
torch's FlopCounterMode), achieved TFLOP/s, and the card's measured bf16 matmul rate.
"""
from __future__ import annotations

import argparse
import json
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from .components import Durian
from .config import load_config
from .data import SynthBatchMaker
from .train import compute_loss


def matmul_tflops(device, n: int = 8192, reps: int = 10) -> float:
    a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    torch.cuda.synchronize()
    return 2 * n ** 3 * reps / (time.perf_counter() - t) / 1e12


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def bench_stage(model: Durian, data: SynthBatchMaker, stage: str, batch: int, steps: int, device) -> dict:
    for p in model.parameters():
        p.requires_grad_(False)
    params = model.trainable(stage)
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.AdamW(params, lr=1e-5)
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else torch.autocast("cpu", enabled=False)

    def step(i):
        with amp:
            loss = compute_loss(model, data, stage, i, 0, batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for i in range(2):
        step(i)
    with FlopCounterMode(display=False) as fc:
        step(2)
    flops = fc.get_total_flops()
    sync(device)
    t = time.perf_counter()
    for i in range(steps):
        step(3 + i)
    sync(device)
    dt = time.perf_counter() - t
    # the renderer's share: the same batches, data only
    t = time.perf_counter()
    for i in range(steps):
        if stage in ("vae", "parser"):
            data.images(3 + i, 0, batch)
        else:
            data.batch(3 + i, 0, batch, 1 if stage == "stage1" else model.cfg.frames)
    sync(device)
    data_s = time.perf_counter() - t
    return {"stage": stage, "batch": batch, "samples_per_s": batch * steps / dt, "step_s": dt / steps,
            "data_share": data_s / dt, "flops_per_sample": flops / batch,
            "achieved_tflops": flops / (dt / steps) / 1e12}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m durian_export.bench_train", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True)
    ap.add_argument("--stages", default="vae,parser,stage1,stage2")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--batch-size", type=int)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args(argv)
    cfg = load_config(args.config, args.overrides)
    device = torch.device(args.device)
    torch.manual_seed(0)
    model = Durian(cfg).to(device).train()
    data = SynthBatchMaker(cfg, device)
    params = {n: sum(p.numel() for p in getattr(model, n).parameters())
              for n in ("vae", "parser", "prnet", "arnet", "unet", "pose_guider")}
    report = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
              "params": params, "stages": []}
    if device.type == "cuda":
        report["bf16_matmul_tflops"] = matmul_tflops(device)
    for stage in args.stages.split(","):
        r = bench_stage(model, data, stage, args.batch_size or cfg.batch_size, args.steps, device)
        if "bf16_matmul_tflops" in report:
            r["fraction_of_matmul_peak"] = r["achieved_tflops"] / report["bf16_matmul_tflops"]
        if device.type == "cuda":
            r["peak_mem_gib"] = torch.cuda.max_memory_allocated(device) / 2 ** 30
            torch.cuda.reset_peak_memory_stats(device)
        report["stages"].append(r)
        print(json.dumps(r), flush=True)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
