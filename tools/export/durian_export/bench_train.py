"""python -m durian_export.bench_train --config configs/base.json [--stages vae,parser,stage1,stage2]

Training throughput per stage, measured with the training loop's own step (train.Trainer):
samples/s end to end (a fresh batch every step, data included), model FLOPs per sample (the
objective's forward + backward, counted by torch's FlopCounterMode), achieved TFLOP/s and its
share of the card's bf16 matmul rate (measured in the same run), the data path's share of a step
and peak GPU memory.

Two settings, chosen with --mode:
- `direct`: every batch rendered afresh in the step, eager model (the loop before the pool);
- `pool`: the device pool refreshed every step (`--pool`, `--pool-refresh`, `--data-workers`),
  compiled model (`--compile`), fused AdamW, as `train --pool … --compile` runs it.

Under torchrun every rank trains (DistributedDataParallel) and rank 0 prints the global rate.
`graphs_compiled_while_timed` says whether torch.compile made a graph inside the timed steps (then
the rate includes compilation and does not stand). `--sync-debug N` and `--profile N` run N more
steps to say where the host waits for the device and which operators take the host's and the
device's time (torch.profiler).
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch
import torch.distributed as dist
from torch.utils.flop_counter import FlopCounterMode

from .components import Durian
from .config import load_config
from .data import SynthBatchMaker
from .train import Trainer, calibrate_latent_scale


def matmul_tflops(device, n: int = 8192, reps: int = 10) -> float:
    """The card's dense bf16 matmul rate, measured: the ceiling achieved TFLOP/s is read against
    (bench_train, bench_sampler)."""
    a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    torch.cuda.synchronize(device)
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    torch.cuda.synchronize(device)
    return 2 * n ** 3 * reps / (time.perf_counter() - t) / 1e12


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def barrier(world: int):
    if world > 1:
        dist.barrier()


def bench_stage(model: Durian, stage: str, args, device, world: int, rank: int) -> dict:
    cfg = model.cfg
    pool = args.mode == "pool"
    data = SynthBatchMaker(cfg, device, compile=args.compile_render)
    batch = args.batch_size or cfg.batch_size
    t_build = time.perf_counter()
    trainer = Trainer(model, stage, data, batch, device, world, rank, compile=args.compile, channels_last=args.channels_last,
                      pool=args.pool if pool else 0, pool_refresh=args.pool_refresh, workers=args.data_workers)
    build_s = time.perf_counter() - t_build
    opt = torch.optim.AdamW(trainer.params, lr=1e-6, fused=device.type == "cuda")

    def step(i):
        loss = trainer.loss(i)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainer.params, 1.0)
        opt.step()
        trainer.after_step()

    t = time.perf_counter()
    for i in range(args.warmup):  # compilation happens here
        step(i)
    sync(device)
    warmup_s = time.perf_counter() - t
    # FLOPs of the objective, eager (data and the pool's encode are not counted)
    with FlopCounterMode(display=False) as fc:
        trainer.loss(args.warmup, eager=True).backward()
    opt.zero_grad(set_to_none=True)
    flops = fc.get_total_flops()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    barrier(world)
    sync(device)
    graphs = compiled_graphs()
    t = time.perf_counter()
    first = args.warmup + 1
    for i in range(args.steps):
        step(first + i)
    sync(device)
    dt = time.perf_counter() - t
    # a graph compiled inside the timed steps puts its compile time (up to minutes) into the rate
    graphs = compiled_graphs() - graphs
    # the data path alone, the same amount of work: pool refreshes, or the direct renders
    t = time.perf_counter()
    with trainer.amp, torch.no_grad():
        for i in range(args.steps):
            if pool:
                trainer.pool._add()
            elif stage in ("vae", "parser"):
                data.images(first + i, rank, batch)
            else:
                data.batch(first + i, rank, batch, trainer.frames)
    sync(device)
    data_s = time.perf_counter() - t
    rate = torch.tensor(batch * args.steps / dt, device=device)
    if world > 1:
        dist.all_reduce(rate)
    r = {"stage": stage, "mode": args.mode, "world": world, "batch_per_rank": batch, "compile": args.compile,
         "samples_per_s": float(rate), "step_s": dt / args.steps, "data_share": data_s / dt,
         "flops_per_sample": flops / batch, "achieved_tflops": float(rate) * flops / batch / 1e12,
         "setup_s": build_s, "warmup_s": warmup_s, "graphs_compiled_while_timed": graphs}
    if pool:
        r.update(pool=args.pool, pool_refresh=args.pool_refresh, pool_reuse=batch / args.pool_refresh,
                 data_workers=args.data_workers)
    if device.type == "cuda":
        r["peak_mem_gib"] = torch.cuda.max_memory_allocated(device) / 2 ** 30
    if args.sync_debug and device.type == "cuda":
        r["host_syncs"] = host_syncs(step, first + args.steps, args.sync_debug)
    if args.profile:
        r["profile"] = profile_steps(step, first + args.steps + args.sync_debug, args.profile, device)
    return r


def profile_steps(step, first: int, steps: int, device) -> dict:
    """Where the time of `steps` more (untimed) steps goes, by torch.profiler: the operators that take
    the most host time and the most device time, and how busy the device was over the wall time."""
    from torch.profiler import ProfilerActivity, profile

    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    sync(device)
    t = time.perf_counter()
    with profile(activities=acts) as prof:
        for i in range(steps):
            step(first + i)
        sync(device)
    wall = time.perf_counter() - t
    ev = prof.key_averages()
    dev_key = "self_device_time_total"

    def top(key: str) -> list[dict]:
        ranked = sorted(ev, key=lambda e: getattr(e, key), reverse=True)[:15]
        return [{"op": e.key[:80], "ms_per_step": getattr(e, key) / 1e3 / steps, "calls_per_step": e.count / steps}
                for e in ranked]

    out = {"wall_s_per_step": wall / steps, "host": top("self_cpu_time_total")}
    if device.type == "cuda":
        busy = sum(getattr(e, dev_key) for e in ev) / 1e6
        out.update(device=top(dev_key), device_busy_s_per_step=busy / steps,
                   kernel_launches_per_step=sum(e.count for e in ev if e.key.startswith("cuda") and "Launch" in e.key) / steps)
    return out


def compiled_graphs() -> int:
    """How many graphs torch.compile has made in this process so far."""
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


def host_syncs(step, first: int, steps: int) -> dict:
    """Steps that make the host wait for the device (a blocking copy, a value read back) leave the
    device idle while the host then launches the next work. CUDA's sync debug mode warns at every
    such call; count them per step, by the Python line that made them (untimed steps)."""
    import collections
    import warnings

    where = collections.Counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            for i in range(steps):
                step(first + i)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    for w in caught:
        if "synchroniz" in str(w.message):
            where[f"{Path(w.filename).name}:{w.lineno}"] += 1
    return {"per_step": sum(where.values()) / steps, "top": dict(where.most_common(12))}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m durian_export.bench_train", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True)
    ap.add_argument("--stages", default="vae,parser,stage1,stage2")
    ap.add_argument("--mode", choices=("direct", "pool"), default="pool")
    ap.add_argument("--steps", type=int, default=20, help="timed steps")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps first (compilation)")
    ap.add_argument("--batch-size", type=int)
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--channels-last", action="store_true", help="vae and parser stages: NHWC convolutions")
    ap.add_argument("--compile-render", action="store_true")
    ap.add_argument("--pool", type=int, default=4096)
    ap.add_argument("--pool-refresh", type=int, default=32)
    ap.add_argument("--data-workers", type=int, default=0)
    ap.add_argument("--json-out", help="also write the report here (rank 0)")
    ap.add_argument("--sync-debug", type=int, default=0, metavar="STEPS",
                    help="after timing, run STEPS more steps in CUDA's sync debug mode and report where the host "
                         "waits for the device")
    ap.add_argument("--profile", type=int, default=0, metavar="STEPS",
                    help="then run STEPS more steps under torch.profiler and report the operators that take the most "
                         "host and device time")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args(argv)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    device = torch.device(args.device)
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if world > 1:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    cfg = load_config(args.config, args.overrides)
    torch.manual_seed(0)
    model = Durian(cfg).to(device).train()
    if cfg.latent_scale == 1.0:
        cfg.latent_scale = calibrate_latent_scale(model, SynthBatchMaker(cfg, device))
    params = {n: sum(p.numel() for p in getattr(model, n).parameters())
              for n in ("vae", "parser", "prnet", "arnet", "unet", "pose_guider")}
    report = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
              "world": world, "params": params, "stages": []}
    if device.type == "cuda":
        report["bf16_matmul_tflops"] = matmul_tflops(device)
    for stage in args.stages.split(","):
        r = bench_stage(model, stage, args, device, world, rank)
        if "bf16_matmul_tflops" in report:
            r["fraction_of_matmul_peak"] = r["achieved_tflops"] / (report["bf16_matmul_tflops"] * world)
        report["stages"].append(r)
        if rank == 0:
            print(json.dumps(r), flush=True)
    if rank == 0:
        print(json.dumps(report, indent=1))
        if args.json_out:
            with open(args.json_out, "w") as f:
                json.dump(report, f, indent=1)
    if world > 1:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
