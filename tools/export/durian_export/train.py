"""python -m durian_export.train --config CFG --stage vae|parser|stage1|stage2 --out DIR [--resume]

One flat loop for every stage: batches → loss → AdamW with warm-up + cosine → EMA → checkpoint.
A run directory holds one checkpoint (all components, the resolved config, per-stage progress), so
stages follow each other in the same directory and any stage can be continued chunk after chunk
(`--resume`, `--max-minutes`).

Fast path on a GPU: `--pool N` keeps a pool of N rendered (and, for stages 1 and 2, VAE-encoded)
samples on the device, refreshed by `--pool-refresh` fresh samples every step that data-loader
workers plan ahead (data/pool.py); `--compile` compiles the step's model (torch.compile).
Multi-GPU: `torchrun --nproc-per-node N -m durian_export.train ...` wraps the step's model in
PyTorch's DistributedDataParallel (bucketed all-reduce overlapped with the backward pass), one
batch per rank; NCCL on GPUs, gloo on the CPU. Several hosts: the same command under
`torchrun --nnodes M --node-rank K --rdzv-backend c10d --rdzv-endpoint HOST:PORT`.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP

from .adversary import Adversary
from .checkpoint import (
    apply_stage_ema,
    checkpoint_exists,
    load_checkpoint,
    restore_weights,
    save_checkpoint,
    split_checkpoint,
)
from .compile_cache import load_compile_cache, save_compile_cache
from .components import (
    STAGES,
    DenoisedDecoderObjective,
    DiffusionObjective,
    Durian,
    ImageObjective,
    denoised_decoder_loss,
    diffusion_loss,
    diffusion_loss_latent,
    encode_batch,
    null_reference,
    parser_loss,
    vae_loss,
)
from .config import RESUMABLE_OVERRIDES, TrainConfig, apply_overrides, diffusion_samples, load_config, stage_frames
from .data import SynthBatchMaker
from .data.augment import degrade
from .data.clips import ClipBatchMaker
from .data.pool import Pool, plan_stream, pool_reuse
from .data.synth_data import clip_columns
from .held_out import HeldOut
from .transfer import to_device


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
    if stage == "vae" and model.cfg.vae_denoised_t > 0:
        b = data.batch(step, rank, batch, stage_frames(model.cfg, stage))
        return denoised_decoder_loss(DenoisedDecoderObjective(model), model, encode_batch(model, b), b.target, g)
    if stage == "vae":
        rgb, _, _ = data.images(step, rank, batch, model.cfg.vae_frames)
        return vae_loss(model, rgb, g)
    if stage == "parser":
        rgb, masks, kp = data.images(step, rank, batch)
        return parser_loss(model, rgb, masks, kp)
    return diffusion_loss(model, data.batch(step, rank, batch, stage_frames(model.cfg, stage)), g)


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
    ap.add_argument("--stop-at", type=float, default=0,
                    help="stop, checkpoint and exit at this wall-clock time (Unix seconds): for chunks chained "
                         "in one time-limited call, where the time before this chunk started is not its own")
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
    ap.add_argument("--compile", action="store_true", help="torch.compile the step's model (CUDA)")
    ap.add_argument("--compile-cache", metavar="FILE",
                    help="with --compile/--compile-render: load torch.compile's cache artifacts from FILE before "
                         "compiling and write them back at the end, so that a fresh machine skips most of the "
                         "compilation (kernels, autotuning) a previous run already did")
    ap.add_argument("--channels-last", action="store_true",
                    help="vae and parser stages: the net's convolutions in channels-last (NHWC) memory format")
    ap.add_argument("--pool", type=int, default=0,
                    help="keep a device pool of this many rendered samples, refreshed every step (0: render "
                         "every batch afresh)")
    ap.add_argument("--pool-refresh", type=int, default=32, help="fresh samples that enter the pool every step")
    ap.add_argument("--data-workers", type=int, default=0,
                    help="data-loader processes that plan batches (or pool chunks) ahead on the CPU")
    ap.add_argument("--eval-every", type=int, default=0,
                    help="log a held-out loss (fresh renders of held-out people, fixed noise) every N steps; a "
                         "multiple of --log-every")
    ap.add_argument("--eval-batches", type=int, default=4, help="held-out batches (of the training batch size)")
    ap.add_argument("overrides", nargs="*", help="key=value config overrides, e.g. lr=1e-4 model.heads=4")
    args = ap.parse_args(argv)
    train(args)


def latent_shape(cfg: TrainConfig, batch: int) -> tuple[int, ...]:
    f = 2 ** (len(cfg.model.vae_channels) - 1)
    size = cfg.model.image_size // f
    return (batch, cfg.model.latent_channels, size, size)


class Trainer:
    """One stage's training step: data (direct renders or the pool), the objective (optionally in
    DistributedDataParallel and compiled), AdamW (fused on CUDA), gradient clipping and EMA."""

    def __init__(self, model: Durian, stage: str, data, batch: int, device: torch.device, world: int = 1,
                 rank: int = 0, compile: bool = False, pool: int = 0, pool_refresh: int = 32, workers: int = 0,
                 start: int = 0, channels_last: bool = False):
        self.model, self.cfg, self.stage, self.data = model, model.cfg, stage, data
        if channels_last and stage in ("vae", "parser"):
            # the image nets' convolutions in NHWC, the layout of cuDNN's bf16 tensor-core kernels
            # (and PixelNorm's channel statistics contiguous); the same function. Not the 5-D UNet.
            (model.vae if stage == "vae" else model.parser).to(memory_format=torch.channels_last)
        self.batch, self.device, self.world, self.rank = batch, device, world, rank
        for p in model.parameters():
            p.requires_grad_(False)
        self.params = model.trainable(stage)
        dead = model.unreachable(stage) | model.frozen(stage)
        for p in self.params:
            p.requires_grad_(id(p) not in dead)
        self.diffusion = stage in ("stage1", "stage2")
        # the VAE stage's decoder trained on the denoiser's estimates (vae_denoised_t): diffusion samples in
        self.denoised = stage == "vae" and self.cfg.vae_denoised_t > 0
        if self.denoised and (self.cfg.vae_frames != 1 or self.cfg.vae_adv_weight > 0):
            raise ValueError("vae_denoised_t decodes the denoiser's estimate of a clip of `frames` frames; it does "
                             "not combine with vae_frames > 1 or vae_adv_weight")
        if stage == "vae" and self.cfg.vae_denoised_roundtrip and not self.denoised:
            raise ValueError("vae_denoised_roundtrip weighs the round trip beside vae_denoised_t's estimates; "
                             "without vae_denoised_t the VAE stage trains the round trip alone")
        # stage 2 trains only the temporal layers, which act only at t >= temporal_min_t: it draws those steps
        self.t_min = self.cfg.model.temporal_min_t if stage == "stage2" else 0
        self.frames = stage_frames(self.cfg, stage)
        if diffusion_samples(self.cfg, stage):  # a clip setting the clip cannot hold fails here, not in a data worker later
            clip_columns(random.Random(0), self.frames, sampling=self.cfg.clip_sampling, stride=self.cfg.clip_stride)
        self.adversary = None
        if stage == "vae" and self.cfg.vae_adv_weight > 0:
            self.adversary = Adversary(self.cfg, device, compile=compile, channels_last=channels_last)
        self.objective = DiffusionObjective(model) if self.diffusion else DenoisedDecoderObjective(model) \
            if self.denoised else ImageObjective(model, stage, parts=self.adversary is not None)
        net = self.objective
        if world > 1:
            net = DDP(net, device_ids=[device.index] if device.type == "cuda" else None, broadcast_buffers=False,
                      gradient_as_bucket_view=True)
        self.net = torch.compile(net) if compile else net
        self.null_ref = null_reference(model, torch.zeros((), device=device)) \
            if diffusion_samples(self.cfg, stage) else None
        self.pool = self.plans = None
        if not pool and workers and isinstance(data, SynthBatchMaker):
            # fresh renders every step, planned ahead by worker processes: the same batches as
            # data.batch(step, …), only sooner
            self.plans = plan_stream(self.cfg, stage, rank, batch, self.frames, start, workers)
            self.next_plan = start
        if pool:
            self.pool = Pool(self.cfg, model, stage, data, pool, pool_refresh, rank, start, workers)
            self.reuse = pool_reuse(batch, pool_refresh)

    def loss(self, step: int, eager: bool = False) -> torch.Tensor:
        """The training loss of step `step` (rendered or drawn from the pool, then the objective;
        `eager`: the plain objective, neither compiled nor in DDP, e.g. to count its FLOPs)."""
        g = step_generator(self.cfg, self.stage, step, self.rank)
        net = self.objective if eager else self.net
        with self.amp:
            if self.diffusion:
                lb = self.pool.batch(step, self.batch).latents if self.pool is not None else \
                    encode_batch(self.model, self._rendered(step))
                return diffusion_loss_latent(net, self.model, lb, g, self.null_ref, self.t_min)
            if self.denoised:
                if self.pool is not None:
                    pb = self.pool.batch(step, self.batch)
                    lb, images = pb.latents, pb.images
                else:
                    b = self._rendered(step)
                    lb, images = encode_batch(self.model, b), b.target
                return denoised_decoder_loss(net, self.model, lb, images, g, self.null_ref)
            if self.pool is not None:
                pb = self.pool.batch(step, self.batch)
                rgb, masks, kp = pb.images, pb.masks, pb.keypoints
            elif self.plans is not None:
                rgb, masks, kp = self.data.realize_images(self._plan(step))
            else:
                rgb, masks, kp = self.data.images(step, self.rank, self.batch, self.frames)
            if self.stage == "vae":  # the CPU draw travels without waiting for the device
                noise = torch.randn(latent_shape(self.cfg, rgb.shape[0]), generator=g)
                if self.adversary is not None:
                    return self.adversary.generator_loss(self.model, *net(rgb, to_device(noise, self.device)))
                return net(rgb, to_device(noise, self.device))
            if self.cfg.parser_degrade:  # outside the compiled objective (its draws stay exact on resume), in fp32
                with torch.autocast(self.device.type, enabled=False):
                    rgb = degrade(rgb.float(), g)
            return net(rgb, masks, kp)

    def after_step(self, lr: float | None = None) -> None:
        """Call once the step's forward, backward and optimiser step are launched: the discriminator's
        step (at `lr`, or its last rate), if the stage has one, and the pool's refresh, which then
        overlaps them on the device (data/pool.py)."""
        if self.adversary is not None:
            self.adversary.step(lr)
        if self.pool is not None:
            self.pool.replace_oldest()

    @property
    def amp(self):
        """bf16 autocast on CUDA (a fresh context each time: one autocast object must not be nested)."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.device.type == "cuda")

    def _rendered(self, step: int):
        """Step `step`'s diffusion batch rendered afresh (planned ahead by the workers, if any)."""
        return self.data.realize(self._plan(step)) if self.plans is not None else \
            self.data.batch(step, self.rank, self.batch, self.frames)

    def _plan(self, step: int):
        if step != self.next_plan:
            raise ValueError(f"planned batches come in step order: step {step} asked, {self.next_plan} next")
        self.next_plan += 1
        return next(self.plans)


def train(args) -> dict:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    # where the time before the first step goes (the first log line carries it): on a fresh GPU host the
    # set-up before step 1 is a large share of a device call, and the per-step figures do not show it
    setup, mark = {}, time.time()

    def lap(name: str):
        nonlocal mark
        now = time.time()
        setup[name] = round(now - mark, 1)
        mark = now

    if args.compile_cache:
        load_compile_cache(Path(args.compile_cache))
    lap("compile_cache_load")
    device = torch.device(args.device)
    if world > 1:
        if device.type == "cuda":
            device = torch.device("cuda", local)
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    elif device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
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
        restore_weights(model, state)
        progress.update(state["progress"])
        if state.get("stage") not in (None, stage):
            # a new stage on this host's full checkpoint builds on the previous stage's EMA where that
            # stage stopped early, as it would on the slim checkpoint (the same stage resumes its raw
            # weights and keeps its EMA beside them)
            apply_stage_ema(model, state)
        if keep:
            with torch.no_grad():
                for n, p in model.named_parameters():
                    if n in keep:
                        p.copy_(keep[n])
            progress[stage] = 0
    total = args.steps or cfg.steps
    batch = args.batch_size or cfg.batch_size
    lap("model")
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

    # 2. data, what trains, optimiser, EMA
    data = ClipBatchMaker(cfg, args.data, device) if args.data else SynthBatchMaker(cfg, device, compile=args.compile_render)
    if stage in ("stage1", "stage2") and cfg.latent_scale == 1.0 and progress["vae"] > 0:
        cfg.latent_scale = calibrate_latent_scale(model, data)
    lap("data")
    if args.pool and args.data:
        raise SystemExit("--pool renders SynthPortrait samples; it does not read --data clips")
    if args.fixed_batch and (args.pool or args.data_workers):
        raise SystemExit("--fixed-batch trains on one rendered batch; it does not combine with --pool or --data-workers")
    model.train()
    trainer = Trainer(model, stage, data, batch, device, world, rank, compile=args.compile, channels_last=args.channels_last, pool=args.pool,
                      pool_refresh=args.pool_refresh, workers=args.data_workers, start=start)
    params = trainer.params
    lap("trainer")
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.99),
                            fused=device.type == "cuda")
    ema = [p.detach().clone() for p in params]
    fresh_optimiser = True
    if state is not None and state.get("stage") == stage and args.resume and not args.reinit and "optim" in state:
        opt.load_state_dict(state["optim"])
        ema = [e.to(device) for e in state["ema"]]
        fresh_optimiser = False
        if trainer.adversary is not None and "adversary" in state:
            trainer.adversary.load_state_dict(state["adversary"])
    # A stage resumed mid-schedule without its optimiser state (a slim checkpoint): AdamW's first
    # steps move every weight by about the learning rate whatever its gradient's size, which at the
    # scheduled rate undoes trained weights (a VAE resumed at 2.7e-4 went from loss 0.07 to 0.38 in one
    # step). So the rate ramps up again over the config's warm-up, on top of the schedule.
    if fresh_optimiser and start > 0 and not args.restart_schedule and cfg.warmup > 0:
        scheduled = lr_for
        lr_for = lambda s: scheduled(s) * min(1.0, (s - start + 1) / cfg.warmup)  # noqa: E731
    held_out = HeldOut(trainer, args.eval_batches) if args.eval_every and rank == 0 and not args.data else None
    ema_decay = args.ema_decay if args.ema_decay is not None else cfg.ema
    lap("optimiser_heldout")

    out.mkdir(parents=True, exist_ok=True)
    log = open(out / "loss.jsonl", "a") if rank == 0 else None
    t0 = time.time()
    timed = bool(args.max_minutes or args.stop_at)
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
                                    "schedule": schedule, "finished": final,
                                    **({"adversary": trainer.adversary.state_dict()} if trainer.adversary else {})},
                        fp16=args.fp16_checkpoint)

    # 3. the loop
    step = start
    stopped_early = False
    while step < total:
        for group in opt.param_groups:
            group["lr"] = lr_for(step)
        loss = trainer.loss(0 if args.fixed_batch else step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        opt.step()
        trainer.after_step(lr_for(step))
        with torch.no_grad():
            d = min(ema_decay, (1 + step) / (10 + step))
            torch._foreach_lerp_(ema, [p.detach() for p in params], 1 - d)
        step += 1
        progress[stage] = step
        samples += batch * world
        loss_sum += loss.detach().float()
        loss_n += 1
        if log and (step % args.log_every == 0 or step == total):
            now = time.time()
            rec = {"stage": stage, "step": step, "loss": float(loss_sum) / loss_n, "lr": lr_for(step - 1),
                   "samples_per_s": samples / (now - last_log), "elapsed_s": now - t0, "world": world, "batch": batch}
            if trainer.pool is not None:
                rec["pool"], rec["pool_reuse"] = args.pool, trainer.reuse
            if trainer.adversary is not None:
                rec.update(trainer.adversary.log())
            if setup:  # once: the set-up before t0 (seconds per phase; "trainer" fills the pool)
                rec["setup_s"], setup = setup, {}
            if held_out is not None and (step % args.eval_every == 0 or step == total):
                rec["heldout_loss"] = held_out.loss()
                if held_out.check is not None:
                    try:
                        rec["heldout_x0_rel"] = held_out.x0_errors()
                    except Exception as e:  # a diagnostic; a device call's training must not die of it
                        rec["heldout_x0_rel_error"] = f"{type(e).__name__}: {e}"[:300]
                        held_out.check = None
            log.write(json.dumps(rec) + "\n")
            log.flush()
            print(json.dumps(rec), flush=True)
            loss_sum, loss_n, samples, last_log = torch.zeros((), device=device), 0, 0, time.time()
        if step % args.save_every == 0 and step < total:
            save(False)
        if args.sample_every and step % args.sample_every == 0 and rank == 0:
            from .sample import write_sample_sheet
            write_sample_sheet(model, stage, out / f"samples-{stage}-{step:06d}.png", device)
        now = time.time()
        out_of_time = (bool(args.max_minutes) and (now - t0) / 60 > args.max_minutes) or \
            (bool(args.stop_at) and now > args.stop_at)
        # every rank must stop at the same step, or the others hang: agree on it every 10 steps (the
        # all-reduce and its read-back wait for the device, so not every step)
        if world > 1 and timed and step % 10 == 0:
            flag = torch.tensor(float(out_of_time), device=device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            out_of_time = bool(flag.item())
        if world > 1 and timed and step % 10:
            out_of_time = False
        if (out_of_time or (args.stop_after and step - start >= args.stop_after)) and step < total:
            stopped_early = True
            break

    if stage == "vae" and not stopped_early and not model.frozen("vae"):  # a held encoder keeps its scale
        cfg.latent_scale = calibrate_latent_scale(model, data)
    save(not stopped_early)
    if rank == 0 and args.split_checkpoint:
        split_checkpoint(ckpt_path)
    if rank == 0 and not stopped_early:
        from .sample import write_sample_sheet
        write_sample_sheet(model, stage, out / f"samples-{stage}-{step:06d}.png", device)
    if rank == 0 and args.compile_cache:
        size = save_compile_cache(Path(args.compile_cache))
        print(f"compile cache: {size:,} bytes written to {args.compile_cache}" if size else "compile cache: nothing to write",
              file=sys.stderr)
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return {"step": step, "stopped_early": stopped_early}


if __name__ == "__main__":
    main()
