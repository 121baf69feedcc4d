"""python -m durian_export.train --config CFG --stage vae|parser|stage1|stage2 --out DIR [--resume]

One flat loop for every stage: batches → loss → AdamW with warm-up + cosine → EMA → checkpoint.
A run directory holds one checkpoint (all components, the resolved config, per-stage progress), so
stages follow each other in the same directory and any stage can be continued chunk after chunk
(`--resume`, `--max-minutes`). Multi-GPU: `torchrun --nproc-per-node N -m durian_export.train ...`
(gradients all-reduced across ranks, one batch per rank; gloo on CPU, NCCL on GPU).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import torch
import torch.distributed as dist

from .checkpoint import checkpoint_exists, load_checkpoint, save_checkpoint, split_checkpoint
from .components import STAGES, Durian, diffusion_loss, parser_loss, vae_loss
from .config import RESUMABLE_OVERRIDES, TrainConfig, apply_overrides, load_config
from .data import SynthBatchMaker
from .data.clips import ClipBatchMaker


def lr_at(step: int, cfg: TrainConfig, total: int) -> float:
    """Linear warm-up, then cosine decay to 10 % (per stage)."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = (step - cfg.warmup) / max(1, total - cfg.warmup)
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def step_generator(cfg: TrainConfig, stage: str, step: int, rank: int) -> torch.Generator:
    return torch.Generator().manual_seed((cfg.seed * 1_000_003 + STAGES.index(stage) * 100_003 + step * 101 + rank) & 0x7FFFFFFF)


def compute_loss(model: Durian, data: SynthBatchMaker, stage: str, step: int, rank: int, batch: int) -> torch.Tensor:
    g = step_generator(model.cfg, stage, step, rank)
    if stage == "vae":
        rgb, _, _ = data.images(step, rank, batch)
        return vae_loss(model, rgb, g)
    if stage == "parser":
        rgb, masks, kp = data.images(step, rank, batch)
        return parser_loss(model, rgb, masks, kp)
    frames = 1 if stage == "stage1" else model.cfg.frames
    return diffusion_loss(model, data.batch(step, rank, batch, frames), g)


def all_reduce_grads(params: list[torch.nn.Parameter], world: int) -> None:
    """Average gradients over ranks in one flat buffer (what DDP's buckets do)."""
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world
    offset = 0
    for p, g in zip(params, grads):
        n = g.numel()
        p.grad = flat[offset:offset + n].view_as(p).clone()
        offset += n


def calibrate_latent_scale(model: Durian, data: SynthBatchMaker, batches: int = 4, batch: int = 8) -> float:
    """1 / std of VAE latents over synthetic frames (Stable Diffusion's 0.18215, measured)."""
    with torch.no_grad():
        zs = [model.vae.encoder(data.images(10_000 + i, 0, batch)[0] * 2 - 1)[0] for i in range(batches)]
    return float(1.0 / torch.cat(zs).std())


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m durian_export.train", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", help="experiment JSON (tools/export/configs/*.json)")
    ap.add_argument("--stage", required=True, choices=STAGES)
    ap.add_argument("--out", required=True, help="run directory (checkpoint, loss log, samples)")
    ap.add_argument("--resume", action="store_true", help="continue from the run directory's checkpoint")
    ap.add_argument("--steps", type=int, help="total steps of this stage (default: config steps)")
    ap.add_argument("--batch-size", type=int, help="per-rank batch (default: config)")
    ap.add_argument("--max-minutes", type=float, default=0, help="stop, checkpoint and exit after this long")
    ap.add_argument("--stop-after", type=int, default=0, help="stop, checkpoint and exit after this many steps of this call")
    ap.add_argument("--save-every", type=int, default=200)
    ap.add_argument("--sample-every", type=int, default=0, help="write a sample sheet every N steps (0: at the end)")
    ap.add_argument("--log-every", type=int, default=10)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--fixed-batch", action="store_true", help="train on step 0's batch only (overfitting check)")
    ap.add_argument("--fp16-checkpoint", action="store_true", help="store weights in fp16 (smaller files)")
    ap.add_argument("--split-checkpoint", action="store_true",
                    help="split the final checkpoint into ckpt.pt.partNNN files of at most 15 MiB")
    ap.add_argument("--data", help="train on clips on disk (data/clips.py format) instead of SynthPortrait")
    ap.add_argument("--ema-decay", type=float, help="EMA decay for this call (default: config ema)")
    ap.add_argument("--restart-schedule", action="store_true",
                    help="this stage's warm-up + cosine start again at the current step and span to --steps "
                         "(fine-tuning a finished stage; kept in the checkpoint for later chunks)")
    ap.add_argument("--reinit", action="store_true",
                    help="with --resume: start this stage's weights afresh (seeded init), keeping the other stages'")
    ap.add_argument("--compile-render", action="store_true", help="torch.compile the renderer (CUDA; faster data)")
    ap.add_argument("overrides", nargs="*", help="key=value config overrides, e.g. lr=1e-4 model.heads=4")
    args = ap.parse_args(argv)
    train(args)


def train(args) -> dict:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device(args.device)
    if world > 1:
        if device.type == "cuda":
            device = torch.device("cuda", local)
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    out = Path(args.out)
    ckpt_path = out / "ckpt.pt"

    # 1. config and model, fresh or from the run directory
    if checkpoint_exists(ckpt_path):
        state = load_checkpoint(ckpt_path)
        cfg = TrainConfig.from_json(state["config"])
    else:
        if args.resume:
            raise SystemExit(f"--resume: no checkpoint at {ckpt_path}")
        state = None
        cfg = load_config(args.config, args.overrides)
    if state is not None and args.overrides:
        fixed = [o for o in args.overrides if o.lstrip("-").partition("=")[0] not in RESUMABLE_OVERRIDES]
        if fixed:
            raise SystemExit(f"{', '.join(fixed)}: the run directory fixes this; on --resume only "
                             f"{', '.join(RESUMABLE_OVERRIDES)} may change")
        apply_overrides(cfg, args.overrides)
    torch.manual_seed(cfg.seed)  # the initial weights are part of the experiment
    model = Durian(cfg).to(device)
    progress = {s: 0 for s in STAGES}
    stage = args.stage
    if state is not None:
        # --reinit: this stage's trainable weights keep the seeded init just made; the rest load
        trained = {id(p) for p in model.trainable(stage)} if args.reinit else set()
        keep = {n: p.detach().clone() for n, p in model.named_parameters() if id(p) in trained}
        model.load_state_dict(state["model"])
        progress.update(state["progress"])
        if keep:
            with torch.no_grad():
                for n, p in model.named_parameters():
                    if n in keep:
                        p.copy_(keep[n])
            progress[stage] = 0
    total = args.steps or cfg.steps
    batch = args.batch_size or cfg.batch_size
    if progress[stage] > 0 and not args.resume:
        raise SystemExit(f"{out} already trained {stage} for {progress[stage]} steps; pass --resume to continue")
    start = progress[stage]
    # where this stage's learning-rate schedule starts (0 unless a chunk restarted it)
    schedule = dict(state.get("schedule", {})) if state is not None else {}
    if args.reinit:
        schedule.pop(stage, None)
    if args.restart_schedule:
        if total <= start + cfg.warmup:
            raise SystemExit(f"--restart-schedule: --steps {total} leaves no room after step {start} "
                             f"and a {cfg.warmup}-step warm-up")
        schedule[stage] = start
    origin = schedule.get(stage, 0)
    lr_for = lambda s: lr_at(s - origin, cfg, total - origin)  # noqa: E731

    # 2. what trains, optimiser, EMA
    for p in model.parameters():
        p.requires_grad_(False)
    params = model.trainable(stage)
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.99))
    ema = [p.detach().clone() for p in params]
    if state is not None and state.get("stage") == stage and args.resume and not args.reinit and "optim" in state:
        opt.load_state_dict(state["optim"])
        ema = [e.to(device) for e in state["ema"]]
    data = ClipBatchMaker(cfg, args.data, device) if args.data else SynthBatchMaker(cfg, device, compile=args.compile_render)
    if stage in ("stage1", "stage2") and cfg.latent_scale == 1.0 and progress["vae"] > 0:
        cfg.latent_scale = calibrate_latent_scale(model, data)
    model.train()
    ema_decay = args.ema_decay if args.ema_decay is not None else cfg.ema
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else torch.autocast("cpu", enabled=False)

    out.mkdir(parents=True, exist_ok=True)
    log = open(out / "loss.jsonl", "a") if rank == 0 else None
    t0 = time.time()
    last_log, samples = t0, 0
    loss_sum, loss_n = torch.zeros((), device=device), 0  # summed on the device: no host sync per step

    def save(final: bool):
        if rank != 0:
            return
        if final:  # the finished stage keeps its EMA weights
            with torch.no_grad():
                for p, e in zip(params, ema):
                    p.copy_(e)
        save_checkpoint(ckpt_path, {"config": cfg.to_json(), "stage": stage, "progress": progress,
                                    "model": model.state_dict(), "optim": opt.state_dict(), "ema": ema,
                                    "schedule": schedule, "finished": final}, fp16=args.fp16_checkpoint)

    # 3. the loop
    step = start
    stopped_early = False
    while step < total:
        for group in opt.param_groups:
            group["lr"] = lr_for(step)
        with amp:
            loss = compute_loss(model, data, stage, 0 if args.fixed_batch else step, rank, batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if world > 1:
            all_reduce_grads(params, world)
        torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        opt.step()
        with torch.no_grad():
            d = min(ema_decay, (1 + step) / (10 + step))
            for e, p in zip(ema, params):
                e.lerp_(p.detach(), 1 - d)
        step += 1
        progress[stage] = step
        samples += batch * world
        loss_sum += loss.detach().float()
        loss_n += 1
        if log and (step % args.log_every == 0 or step == total):
            now = time.time()
            rec = {"stage": stage, "step": step, "loss": float(loss_sum) / loss_n, "lr": lr_for(step - 1),
                   "samples_per_s": samples / (now - last_log), "elapsed_s": now - t0, "world": world}
            log.write(json.dumps(rec) + "\n")
            log.flush()
            print(json.dumps(rec), flush=True)
            loss_sum, loss_n, samples, last_log = torch.zeros((), device=device), 0, 0, now
        if step % args.save_every == 0 and step < total:
            save(False)
        if args.sample_every and step % args.sample_every == 0 and rank == 0:
            from .sample import write_sample_sheet
            write_sample_sheet(model, stage, out / f"samples-{stage}-{step:06d}.png", device)
        out_of_time = bool(args.max_minutes) and (time.time() - t0) / 60 > args.max_minutes
        if world > 1 and args.max_minutes:  # every rank must stop at the same step, or the others hang
            flag = torch.tensor(float(out_of_time), device=device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            out_of_time = bool(flag.item())
        if (out_of_time or (args.stop_after and step - start >= args.stop_after)) and step < total:
            stopped_early = True
            break

    if stage == "vae" and not stopped_early:
        cfg.latent_scale = calibrate_latent_scale(model, data)
    save(not stopped_early)
    if rank == 0 and args.split_checkpoint:
        split_checkpoint(ckpt_path)
    if rank == 0 and not stopped_early:
        from .sample import write_sample_sheet
        write_sample_sheet(model, stage, out / f"samples-{stage}-{step:06d}.png", device)
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return {"step": step, "stopped_early": stopped_early}


if __name__ == "__main__":
    main()
