"""A GPU-resident pool of training items, refreshed continuously (the fast data path).

Rendering a training sample costs more GPU time than a compiled training step spends on it, and
sampling its parameters is plain Python per sample. So:

- data-loader worker processes plan chunks of `refresh` samples on the CPU (every random choice,
  `SynthBatchMaker.plan_batch`), in parallel and ahead of time;
- the training process renders each chunk on the device in one call and stores what the step
  reads: for stages 1 and 2 the frozen VAE's latents of the targets and both references (the
  encode is done once per item, not once per use), the keypoint images as 8-bit (and, for the
  vae stage with vae_denoised_t, the 8-bit target frames beside them); for the vae and parser
  stages the 8-bit frames (and masks, keypoints);
- every step replaces the oldest chunk with a fresh one and draws its batch from the whole pool,
  so each item is used batch/refresh times on average and the data never stop changing.

Deterministic: the pool drawn from at step s holds chunks s … s + size/refresh − 1, a function of
the seed alone, so a resumed run rebuilds it exactly (resume is bit-identical on the CPU).

Overlap on CUDA: the refresh runs on a second stream, and the trainer starts it only after it has
launched the step's forward and backward (`Trainer.after_step` → `replace_oldest`), so the host issues
the render while the device is busy with the step. Nothing on the step's own path may wait for
the device: a blocking host → device copy (`tensor.to(cuda)` of pageable memory without
non_blocking, `torch.tensor(..., device=cuda)`) synchronises its stream, which would hold the host
until the device had caught up and leave nothing to overlap. The draw's indices therefore travel
through pinned memory.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader, Dataset

from ..components import Durian, LatentBatch, encode_batch
from ..config import TrainConfig, diffusion_samples, stage_frames
from ..transfer import to_device
from .synth_data import SynthBatchMaker


class ChunkPlans(Dataset):
    """chunk id → the CPU plan of that chunk (runs in data-loader workers)."""

    def __init__(self, cfg: TrainConfig, stage: str, rank: int, chunk: int, frames: int, held_out: bool = False):
        self.maker = SynthBatchMaker(cfg, "cpu", held_out=held_out)
        self.stage, self.rank, self.chunk, self.frames = stage, rank, chunk, frames
        self.diffusion = diffusion_samples(cfg, stage)

    def __len__(self) -> int:  # an endless stream; the sampler decides which ids are asked for
        return 1 << 62

    def __getitem__(self, chunk_id: int):
        if self.diffusion:
            return self.maker.plan_batch(chunk_id, self.rank, self.chunk, self.frames)
        if self.stage == "vae":
            return self.maker.plan_images(chunk_id, self.rank, self.chunk, self.frames)
        return self.maker.plan_images(chunk_id, self.rank, self.chunk)  # parser


def _one_thread(_worker: int) -> None:
    torch.set_num_threads(1)  # many workers × many threads would fight over the cores


def plan_stream(cfg: TrainConfig, stage: str, rank: int, chunk: int, frames: int, start: int, workers: int,
                held_out: bool = False):
    """The plans of chunks start, start + 1, … in order (worker processes keep several ahead)."""
    ds = ChunkPlans(cfg, stage, rank, chunk, frames, held_out)
    if workers <= 0:
        return (ds[i] for i in itertools.count(start))
    loader = DataLoader(ds, batch_size=None, sampler=itertools.count(start), num_workers=workers,
                        prefetch_factor=4, worker_init_fn=_one_thread, persistent_workers=False)
    return iter(loader)


@dataclass
class PoolBatch:
    """What one training step reads from the pool."""

    latents: LatentBatch | None = None  # stages 1 and 2, vae with vae_denoised_t
    images: torch.Tensor | None = None  # vae, parser: [B, 3, H, W] in [0, 1]; vae_denoised_t: the targets [B, F, 3, H, W]
    masks: torch.Tensor | None = None   # parser: [B, C, H, W]
    keypoints: torch.Tensor | None = None


def _u8(x: torch.Tensor) -> torch.Tensor:
    return (x.clamp(0, 1) * 255).round().to(torch.uint8)


def _f(x: torch.Tensor) -> torch.Tensor:
    return x.float() / 255


class Pool:
    def __init__(self, cfg: TrainConfig, model: Durian, stage: str, maker: SynthBatchMaker, size: int,
                 refresh: int, rank: int, start_step: int, workers: int = 0):
        if size % refresh:
            raise ValueError(f"pool size {size} must be a multiple of the refresh chunk {refresh}")
        self.cfg, self.model, self.stage, self.maker = cfg, model, stage, maker
        self.size, self.refresh, self.rank = size, refresh, rank
        self.frames = stage_frames(cfg, stage)
        self.diffusion = diffusion_samples(cfg, stage)
        self.device = maker.device
        # on CUDA the refresh runs on a stream of its own, beside the training step (see replace_oldest)
        self.side = torch.cuda.Stream(self.device) if self.device.type == "cuda" else None
        self.written: torch.cuda.Event | None = None   # the last refresh's write (side stream)
        self.gathered: torch.cuda.Event | None = None  # the last draw's gather (step stream)
        self.pending = False                            # a draw happened; its refresh has not
        self.slots = size // refresh
        self.store: dict[str, torch.Tensor] = {}
        self.plans = plan_stream(cfg, stage, rank, refresh, self.frames, start_step, workers)
        self.chunk = start_step  # the id of the next chunk the stream yields
        for _ in range(self.slots):
            self._add()

    def _items(self, plan) -> dict[str, torch.Tensor]:
        if not self.diffusion:
            rgb, masks, kp = self.maker.realize_images(plan)
            items = {"images": _u8(rgb)}
            if self.stage == "parser":
                items.update(masks=_u8(masks), keypoints=kp.float())
            return items
        b = self.maker.realize(plan)
        with torch.no_grad(), torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.device.type == "cuda"):
            lb = encode_batch(self.model, b)
        items = {"x0": lb.x0.float(), "portrait_in": lb.portrait_in.float(), "attr_in": lb.attr_in.float(),
                 "pose": _u8(lb.pose), "region": _u8(lb.region), "eyes": _u8(lb.eyes)}
        if self.stage == "vae":  # vae_denoised_t: the decoder's targets too
            items["images"] = _u8(b.target)
        return items

    def _add(self) -> None:
        """Realise the next chunk into its slot (chunk c lives in slot c mod slots)."""
        items = self._items(next(self.plans))
        at = (self.chunk % self.slots) * self.refresh
        for k, v in items.items():
            if k not in self.store:
                self.store[k] = torch.empty((self.size, *v.shape[1:]), dtype=v.dtype, device=self.device)
            self.store[k][at:at + self.refresh] = v
        self.chunk += 1

    def replace_oldest(self) -> None:
        """Replace the oldest chunk by the next one, once per draw (a no-op if the last draw's
        refresh already ran). Call it after the step's work is launched: on CUDA it runs on the side
        stream, which first waits for the draw's gather (so the step reads the old items), and the
        next draw waits for its write."""
        if not self.pending:
            return
        self.pending = False
        if self.side is None:
            self._add()
            return
        self.side.wait_event(self.gathered)
        with torch.cuda.stream(self.side):
            self._add()
        self.written = torch.cuda.Event()
        self.written.record(self.side)

    def batch(self, step: int, batch: int) -> PoolBatch:
        """Step `step`'s batch: `batch` distinct items drawn from the pool (the pool drawn from at
        step s holds chunks s … s + size/refresh − 1). The oldest chunk is replaced by `replace_oldest`,
        which the trainer calls once the step is launched (or the next draw, if nobody did)."""
        if batch > self.size:
            raise ValueError(f"batch {batch} is larger than the pool ({self.size})")
        self.replace_oldest()
        if self.written is not None:
            torch.cuda.current_stream(self.device).wait_event(self.written)
        g = torch.Generator().manual_seed(hash((self.cfg.train_seed, step, self.rank, 3)) & 0x7FFFFFFF)
        idx = to_device(torch.randperm(self.size, generator=g)[:batch], self.device)
        s = {k: v.index_select(0, idx) for k, v in self.store.items()}
        if self.side is not None:
            self.gathered = torch.cuda.Event()
            self.gathered.record(torch.cuda.current_stream(self.device))
        self.pending = True
        if not self.diffusion:
            return PoolBatch(images=_f(s["images"]), masks=_f(s["masks"]) if "masks" in s else None,
                             keypoints=s.get("keypoints"))
        return PoolBatch(latents=LatentBatch(x0=s["x0"], portrait_in=s["portrait_in"], attr_in=s["attr_in"],
                                             pose=_f(s["pose"]), region=_f(s["region"]), eyes=_f(s["eyes"])),
                         images=_f(s["images"]) if "images" in s else None)


def pool_reuse(batch: int, refresh: int) -> float:
    """Mean number of steps that use one item: it stays size/refresh steps, each draws batch/size."""
    return batch / refresh
