"""Durian training samples rendered by SynthPortrait (on the training device).

Per sample, frames of one clip: portrait frame i, attribute frame j, target frames k₁…k_F.
- complementary masking: portrait_ref = I_i ⊙ (1 − M_port), attr_ref = I_j ⊙ M_attr;
- mask expansion: M_port = M_attr(i) ∪ M_gen(i), M_gen from a render of the same person and pose
  wearing another variant of the class (exact here; the paper regenerates it with SDXL);
- augmentation: random affine of both references with their masks, colour jitter on the attribute;
- optional cross-identity samples: attribute from another person; the target is the renderer's
  ground truth of the portrait person wearing it.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from ..config import TrainConfig
from ..keypoint_image import render_keypoints
from ..synth import catalog, render, sample_attributes, sample_identities, sample_motion
from ..synth.params import Motion, without_held_out
from .augment import colour_jitter, random_affine

CLS = {name: i for i, name in enumerate(catalog.MASK_CLASSES)}


@dataclass
class TrainBatch:
    """Images in [0, 1]. target [B, F, 3, H, W]; refs [B, 3, H, W]; masks [B, 1, H, W]; pose [B, F, 3, H, W]."""

    target: torch.Tensor
    portrait: torch.Tensor
    portrait_mask: torch.Tensor
    attr: torch.Tensor
    attr_mask: torch.Tensor
    pose: torch.Tensor
    target_masks: torch.Tensor     # [B, F, C, H, W] class masks of the targets
    target_keypoints: torch.Tensor  # [B, F, 68, 2]
    attr_class: list[str]


def assemble_batch(cfg: TrainConfig, g: torch.Generator, portrait, m_port, attr_img, m_attr_j, target, target_masks,
                   target_kp, classes) -> TrainBatch:
    """Complementary masking, augmentation and pose images: the part every data source shares."""
    if cfg.complementary_masking:
        portrait_ref, attr_ref = portrait * (1 - m_port), attr_img * m_attr_j
    else:
        portrait_ref, attr_ref = portrait, attr_img
    if cfg.augmentation:
        portrait_ref, m_port = random_affine(portrait_ref, m_port, g)
        attr_ref, m_attr_j = random_affine(attr_ref, m_attr_j, g)
        attr_ref = colour_jitter(attr_ref, g).clamp(0, 1)
    B, F, _, H, W = target.shape
    pose = render_keypoints(target_kp.reshape(B * F, 68, 2), H, W).reshape(B, F, 3, H, W)
    return TrainBatch(target=target, portrait=portrait_ref, portrait_mask=m_port, attr=attr_ref, attr_mask=m_attr_j,
                      pose=pose, target_masks=target_masks, target_keypoints=target_kp, attr_class=classes)


def _frames(m: Motion, cols: torch.Tensor) -> Motion:
    """Motion restricted to per-clip frame columns cols [N, K]."""
    return Motion(**{k: torch.gather(v, 1, cols) for k, v in vars(m).items()})


class SynthBatchMaker:
    """Deterministic batches: batch (step, rank) is a function of the config's train seed alone."""

    def __init__(self, cfg: TrainConfig, device: torch.device | str = "cpu", size: int | None = None,
                 compile: bool = False):
        self.cfg = cfg
        self.device = torch.device(device)
        self.size = size or cfg.model.image_size
        # the renderer is hundreds of elementwise kernels; compiled, it fuses (10x faster on an H100)
        self._render = torch.compile(render, dynamic=False) if compile else render

    def render(self, ident, attrs, motion, **kw):
        """Every training render goes through here: held-out attribute combinations never appear."""
        return self._render(ident, without_held_out(attrs), motion, **kw)

    def _rng(self, step: int, rank: int) -> tuple[random.Random, torch.Generator]:
        seed = hash((self.cfg.train_seed, step, rank)) & 0x7FFFFFFF
        return random.Random(seed), torch.Generator().manual_seed(seed)

    def images(self, step: int, rank: int, batch: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Single frames for the VAE and parser stages: rgb [B, 3, H, W], masks [B, C, H, W], keypoints [B, 68, 2]."""
        rng, _ = self._rng(step, rank)
        idx = [rng.randrange(self.cfg.hold_out_seed) for _ in range(batch)]
        seed = self.cfg.train_seed
        motion = sample_motion(seed, idx, frames=25)
        cols = torch.tensor([[rng.randrange(25)] for _ in idx])
        out = self.render(sample_identities(seed, idx), sample_attributes(seed, idx), _frames(motion, cols),
                     size=self.size, device=self.device)
        return out.rgb[:, 0], out.masks[:, 0], out.keypoints[:, 0]

    def batch(self, step: int, rank: int, batch: int, frames: int) -> TrainBatch:
        cfg, seed = self.cfg, self.cfg.train_seed
        rng, g = self._rng(step, rank)
        idx = [rng.randrange(cfg.hold_out_seed) for _ in range(batch)]
        classes = [rng.choice(catalog.ATTRIBUTE_CLASSES) for _ in idx]
        ident = sample_identities(seed, idx)
        attrs = sample_attributes(seed, idx)
        # the chosen class is present, and a different variant of it exists for mask expansion
        alt = sample_attributes(seed + 7919, idx, probs={c: 1.0 for c in catalog.ATTRIBUTE_CLASSES})
        for n, c in enumerate(classes):
            styles = len(catalog.STYLES[c])
            own = rng.randrange(1, styles)
            other = rng.choice([s for s in range(1, styles) if s != own])
            attrs.style(c)[n] = own
            alt.style(c)[n] = other
        gen_attrs = attrs.replace()
        for n, c in enumerate(classes):
            gen_attrs = gen_attrs.set_item(n, gen_attrs[[n]].swap_class(c, alt[[n]]))

        clip_len = 50
        motion = sample_motion(seed, idx, frames=clip_len)
        cols = torch.tensor([rng.sample(range(clip_len), 2 + frames) for _ in idx])
        m = _frames(motion, cols)
        main = self.render(ident, attrs, m, size=self.size, device=self.device)
        gen = self.render(ident, gen_attrs, _frames(motion, cols[:, :1]), size=self.size, device=self.device)

        cls_idx = torch.tensor([CLS[c] for c in classes], device=self.device)
        pick = lambda masks: masks[torch.arange(len(idx)), cls_idx][:, None]  # noqa: E731  [B, 1, H, W]
        portrait, attr_img = main.rgb[:, 0], main.rgb[:, 1]
        target, target_masks, target_kp = main.rgb[:, 2:], main.masks[:, 2:], main.keypoints[:, 2:]
        m_attr_i, m_attr_j = pick(main.masks[:, 0]), pick(main.masks[:, 1])
        m_gen = pick(gen.masks[:, 0])

        if cfg.cross_identity > 0:
            portrait, target, target_masks, target_kp, attr_img, m_attr_i, m_attr_j, m_gen = self._cross(
                rng, idx, classes, ident, attrs, motion, cols, frames, portrait, target, target_masks, target_kp,
                attr_img, m_attr_i, m_attr_j, m_gen)

        m_port = torch.maximum(m_attr_i, m_gen) if cfg.mask_expansion else m_attr_i
        return assemble_batch(cfg, g, portrait, m_port, attr_img, m_attr_j, target, target_masks, target_kp, classes)

    def _cross(self, rng, idx, classes, ident, attrs, motion, cols, frames, portrait, target, target_masks,
               target_kp, attr_img, m_attr_i, m_attr_j, m_gen):
        """Replace a fraction of samples by cross-identity ones with exact ground truth."""
        seed = self.cfg.train_seed
        donors = [rng.randrange(self.cfg.hold_out_seed) for _ in idx]
        d_ident, d_attrs = sample_identities(seed, donors), sample_attributes(seed, donors)
        mix = attrs.replace()
        for n, c in enumerate(classes):
            d_attrs.style(c)[n] = attrs.style(c)[n] if int(d_attrs.style(c)[n]) == 0 else d_attrs.style(c)[n]
            mix = mix.set_item(n, mix[[n]].swap_class(c, d_attrs[[n]]))
        d_motion = sample_motion(seed, donors, frames=50)
        donor = self.render(d_ident, d_attrs, _frames(d_motion, cols[:, 1:2]), size=self.size, device=self.device)
        gt = self.render(ident, mix, _frames(motion, torch.cat([cols[:, :1], cols[:, 2:]], 1)), size=self.size, device=self.device)
        cls_idx = torch.tensor([CLS[c] for c in classes], device=self.device)
        use = (torch.rand(len(idx), generator=torch.Generator().manual_seed(rng.randrange(1 << 30)))
               < self.cfg.cross_identity).to(self.device)
        u4, u5 = use[:, None, None, None], use[:, None, None, None, None]
        ar = torch.arange(len(idx))
        return (portrait, torch.where(u5, gt.rgb[:, 1:], target), torch.where(u5, gt.masks[:, 1:], target_masks),
                torch.where(use[:, None, None, None], gt.keypoints[:, 1:], target_kp),
                torch.where(u4, donor.rgb[:, 0], attr_img), m_attr_i,
                torch.where(u4, donor.masks[ar, 0, cls_idx][:, None], m_attr_j),
                torch.where(u4, gt.masks[ar, 0, cls_idx][:, None], m_gen))

