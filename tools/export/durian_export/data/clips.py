"""Training samples from real clips on disk.

Format (the same that `python -m durian_export.synth sample` writes, and that
`durian_export.annotate` will write for real videos):

    DIR/<clip>/frames/0000.png …            RGB frames, all the same size
    DIR/<clip>/masks/0000_<class>.png …     8-bit soft masks, one per class of catalog.MASK_CLASSES
    DIR/<clip>/keypoints.json               {"layout": "ibug68", "size": [w, h], "frames": [[[x, y] × 68] …]}

Real clips have no render of the same person wearing another variant, so mask expansion falls
back to growing the attribute mask: a dilation plus a random one-sided growth (documented
deviation from the exact SynthPortrait counterpart).
"""
from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..config import TrainConfig
from ..synth import catalog
from .synth_data import TrainBatch, assemble_batch

CLS = catalog.CLS


def _png(path: Path, size: int) -> torch.Tensor:
    img = Image.open(path)
    img = img.convert("RGB") if img.mode not in ("L",) else img
    if img.size != (size, size):
        img = img.resize((size, size), Image.BILINEAR)
    a = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0)
    return a.permute(2, 0, 1) if a.dim() == 3 else a[None]


class Clip:
    def __init__(self, path: Path):
        self.path = path
        self.frames = sorted((path / "frames").glob("*.png"))
        kp = json.loads((path / "keypoints.json").read_text())
        if kp.get("layout") != "ibug68":
            raise ValueError(f"{path}: keypoints layout must be ibug68, got {kp.get('layout')!r}")
        self.keypoints = torch.tensor(kp["frames"], dtype=torch.float32)  # [F, 68, 2]
        self.size = kp["size"]
        if len(self.frames) != len(self.keypoints) or len(self.frames) < 3:
            raise ValueError(f"{path}: {len(self.frames)} frames but {len(self.keypoints)} keypoint frames (need ≥ 3)")

    def load(self, f: int, size: int):
        rgb = _png(self.frames[f], size)
        masks = torch.cat([_png(self.path / "masks" / f"{self.frames[f].stem}_{c}.png", size) for c in catalog.MASK_CLASSES])
        kp = self.keypoints[f] * torch.tensor([size / self.size[0], size / self.size[1]])
        return rgb, masks, kp


def grow_mask(mask: torch.Tensor, g: torch.Generator, dilate: int = 5, grow: float = 0.15) -> torch.Tensor:
    """Mask-expansion fallback: dilate by `dilate` px, then extend to one random side by up to
    `grow` × the image size. mask [B, 1, H, W]."""
    m = F.max_pool2d(mask, 2 * dilate + 1, stride=1, padding=dilate)
    B, _, H, W = m.shape
    out = m.clone()
    for b in range(B):
        steps = int(torch.randint(1, max(2, int(grow * H)), (1,), generator=g))
        dy, dx = [(1, 0), (-1, 0), (0, 1), (0, -1)][int(torch.randint(4, (1,), generator=g))]
        shifted = torch.roll(m[b], shifts=(dy * steps, dx * steps), dims=(1, 2))
        out[b] = torch.maximum(out[b], shifted)
    return out


class ClipBatchMaker:
    """The same interface as SynthBatchMaker (`images`, `batch`) over clips on disk."""

    def __init__(self, cfg: TrainConfig, root: Path, device="cpu", size: int | None = None):
        self.cfg = cfg
        self.clips = [Clip(p) for p in sorted(Path(root).iterdir()) if (p / "keypoints.json").exists()]
        if not self.clips:
            raise ValueError(f"no clips (folders with keypoints.json) under {root}")
        self.device = torch.device(device)
        self.size = size or cfg.model.image_size

    def _rng(self, step: int, rank: int):
        # ints only: a str in the tuple would make the hash, and so the batches, change per process
        # (PYTHONHASHSEED); the trailing 1 keeps this stream apart from SynthBatchMaker's
        seed = hash((self.cfg.train_seed, step, rank, 1)) & 0x7FFFFFFF
        return random.Random(seed), torch.Generator().manual_seed(seed)

    def images(self, step: int, rank: int, batch: int, frames: int = 1):
        """As SynthBatchMaker.images: `frames` > 1 gives runs of consecutive frames [B, F, …]."""
        rng, _ = self._rng(step, rank)
        items = []
        for _ in range(batch):
            clip = rng.choice(self.clips)
            if len(clip.frames) < frames:
                raise ValueError(f"{clip.path} has {len(clip.frames)} frames; a sample needs {frames} consecutive ones")
            start = rng.randrange(len(clip.frames) - frames + 1)
            run = [clip.load(start + k, self.size) for k in range(frames)]
            items.append(run[0] if frames == 1 else tuple(torch.stack(x) for x in zip(*run)))
        rgb, masks, kp = (torch.stack(x).to(self.device) for x in zip(*items))
        return rgb, masks, kp

    def batch(self, step: int, rank: int, batch: int, frames: int) -> TrainBatch:
        cfg = self.cfg
        rng, g = self._rng(step, rank)
        P, Pm, A, Am, T, Tm, Tk, classes = [], [], [], [], [], [], [], []
        for _ in range(batch):
            clip = rng.choice(self.clips)
            picks = rng.sample(range(len(clip.frames)), min(len(clip.frames), 2 + frames))
            while len(picks) < 2 + frames:
                picks.append(rng.randrange(len(clip.frames)))
            loaded = [clip.load(f, self.size) for f in picks]
            present = [c for c in catalog.ATTRIBUTE_CLASSES if float(loaded[1][1][CLS[c]].max()) > 0.5]
            cls = rng.choice(present or ["hair"])
            classes.append(cls)
            c = CLS[cls]
            P.append(loaded[0][0])
            Pm.append(loaded[0][1][c:c + 1])
            A.append(loaded[1][0])
            Am.append(loaded[1][1][c:c + 1])
            T.append(torch.stack([x[0] for x in loaded[2:]]))
            Tm.append(torch.stack([x[1] for x in loaded[2:]]))
            Tk.append(torch.stack([x[2] for x in loaded[2:]]))
        d = self.device
        portrait, m_attr_i = torch.stack(P).to(d), torch.stack(Pm).to(d)
        attr_img, m_attr_j = torch.stack(A).to(d), torch.stack(Am).to(d)
        target, target_masks, target_kp = torch.stack(T).to(d), torch.stack(Tm).to(d), torch.stack(Tk).to(d)
        m_port = grow_mask(m_attr_i, g) if cfg.mask_expansion else m_attr_i
        return assemble_batch(cfg, g, portrait, m_port, attr_img, m_attr_j, target, target_masks, target_kp, classes)
