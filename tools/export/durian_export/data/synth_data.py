"""Durian training samples rendered by SynthPortrait (on the training device).

Per sample, frames of one 2-second clip: portrait frame i, attribute frame j, and F target frames
k, k+1, …, k+F−1 in order (a contiguous run, as a window of a video is at inference).
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
from ..synth.params import Attributes, Identity, Motion, without_held_out
from ..transfer import index, to_device
from .align import align_attribute
from .augment import colour_jitter, random_affine

CLS = catalog.CLS


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


def _per_frame(m: Motion) -> Motion:
    """[N, K] motion → [N·K, 1]: every frame its own one-frame clip (frames render independently)."""
    return Motion(**{k: v.reshape(-1, 1) for k, v in vars(m).items()})


CLIP_LEN = 50  # frames of motion sampled per training clip (2 s at 25 fps)


CLIP_SAMPLING = ("run", "random")


def clip_columns(rng: random.Random, frames: int, clip_len: int = CLIP_LEN, sampling: str = "run",
                 stride: int = 1) -> list[int]:
    """Frame columns of one training sample: the portrait frame, the attribute frame, then `frames`
    target frames. sampling "run": the targets are every `stride`-th frame of a run of the clip, in
    order, as a window of a video is at inference (stride 1: contiguous). "random": the portrait,
    attribute and target frames are distinct frames of the clip in random order, as stage 2 drew them
    before ordered runs (the shipped model's temporal layers were trained so); the temporal layers
    then cannot lean on neighbouring frames being alike, only on one person's look across a clip."""
    if sampling == "random":
        if 2 + frames > clip_len:
            raise ValueError(f"clip_sampling=random needs 2 + {frames} distinct frames of a {clip_len}-frame clip")
        return rng.sample(range(clip_len), 2 + frames)
    if sampling != "run":
        raise ValueError(f"clip_sampling must be one of {', '.join(CLIP_SAMPLING)}, not {sampling!r}")
    span = stride * (frames - 1) + 1
    if stride < 1 or span > clip_len:
        raise ValueError(f"clip_stride={stride} with {frames} frames spans {span} frames; the clip has {clip_len}")
    start = rng.randrange(clip_len - span + 1)
    return [rng.randrange(clip_len), rng.randrange(clip_len)] + list(range(start, start + span, stride))


@dataclass
class BatchPlan:
    """The CPU half of a batch: every random choice and every frame to render, one row per frame.

    Frame rows: the clips' frames [B × (2 + F)] (portrait, attribute, targets), the mask-expansion
    renders [B], then, with cross-identity samples, the donors [B] and the ground truths of the
    portrait person wearing the donor's attribute [B × (1 + F)].
    """

    seed: int
    classes: list[str]
    frames: int
    ident: Identity
    attrs: Attributes
    motion: Motion
    cross: torch.Tensor | None  # [B] bool: the samples that take their attribute from a donor


@dataclass
class ImagePlan:
    ident: Identity
    attrs: Attributes
    motion: Motion


class SynthBatchMaker:
    """Deterministic batches: batch (step, rank) is a function of the config's train seed alone.

    Each batch is planned on the CPU (`plan_batch`, `plan_images`: parameter sampling, which is
    plain Python per sample and can run in data-loader workers) and realised on the device
    (`realize`, `realize_images`: one render call, masks, augmentation, keypoint images).
    `held_out=True` draws people from the held-out seed range instead (validation losses).
    """

    def __init__(self, cfg: TrainConfig, device: torch.device | str = "cpu", size: int | None = None,
                 compile: bool = False, held_out: bool = False):
        self.cfg = cfg
        self.device = torch.device(device)
        self.size = size or cfg.model.image_size
        self.held_out = held_out
        # the renderer is hundreds of elementwise kernels; compiled, it fuses (10x faster on an H100)
        self._render = torch.compile(render, dynamic=False) if compile else render

    def render(self, ident, attrs, motion, **kw):
        """Every training render goes through here: held-out attribute combinations never appear.

        Always without autograd and in full precision, whoever calls: the pool's first fill, its
        refresh after a step, a step's own draw under bf16 autocast, an evaluation under no_grad.
        The compiled renderer guards on both states, so a call from a new state compiled the whole
        renderer again (about a minute on the GPU host, inside whatever step made that call), and
        a render under autocast differed from one outside it."""
        with torch.no_grad(), torch.autocast(self.device.type, enabled=False):
            return self._render(ident, without_held_out(attrs), motion, **kw)

    def _rng(self, step: int, rank: int) -> tuple[random.Random, int]:
        seed = hash((self.cfg.train_seed, step, rank, 2) if self.held_out else (self.cfg.train_seed, step, rank))
        seed &= 0x7FFFFFFF
        return random.Random(seed), seed

    def _person(self, rng: random.Random) -> int:
        lo = self.cfg.hold_out_seed
        return rng.randrange(lo, 2 * lo) if self.held_out else rng.randrange(lo)

    def plan_images(self, step: int, rank: int, batch: int, frames: int = 1) -> ImagePlan:
        """`frames` > 1: each sample is that many consecutive frames of its clip (the VAE's
        frame-to-frame term); 1 draws exactly what it drew before that existed."""
        if not 1 <= frames <= 25:
            raise ValueError(f"an image sample holds 1 to 25 consecutive frames of its clip, not {frames}")
        rng, _ = self._rng(step, rank)
        idx = [self._person(rng) for _ in range(batch)]
        seed = self.cfg.train_seed
        motion = sample_motion(seed, idx, frames=25)
        cols = torch.tensor([[c + k for k in range(frames)] for c in (rng.randrange(26 - frames) for _ in idx)])
        return ImagePlan(sample_identities(seed, idx), sample_attributes(seed, idx), _frames(motion, cols))

    def realize_images(self, plan: ImagePlan) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """rgb [B, 3, H, W], masks [B, C, H, W], keypoints [B, 68, 2]; a plan of several frames a
        sample keeps the frame axis: [B, F, 3, H, W] and so on."""
        out = self.render(plan.ident, plan.attrs, plan.motion, size=self.size, device=self.device)
        if out.rgb.shape[1] > 1:
            return out.rgb, out.masks, out.keypoints
        return out.rgb[:, 0], out.masks[:, 0], out.keypoints[:, 0]

    def images(self, step: int, rank: int, batch: int, frames: int = 1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Single frames for the VAE and parser stages: rgb [B, 3, H, W], masks [B, C, H, W], keypoints
        [B, 68, 2]; with `frames` > 1, runs of consecutive frames: [B, F, 3, H, W] and so on."""
        return self.realize_images(self.plan_images(step, rank, batch, frames))

    def plan_batch(self, step: int, rank: int, batch: int, frames: int) -> BatchPlan:
        cfg, seed = self.cfg, self.cfg.train_seed
        rng, gseed = self._rng(step, rank)
        idx = [self._person(rng) for _ in range(batch)]
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

        motion = sample_motion(seed, idx, frames=CLIP_LEN)
        cols = torch.tensor([clip_columns(rng, frames, sampling=cfg.clip_sampling, stride=cfg.clip_stride) for _ in idx])
        B, per = len(idx), 2 + frames
        rows = torch.arange(B).repeat_interleave(per)
        idents, attr_rows = [ident[rows], ident], [attrs[rows], gen_attrs]
        motions = [_per_frame(_frames(motion, cols)), _per_frame(_frames(motion, cols[:, :1]))]
        cross = None
        if cfg.cross_identity > 0:
            donors = [self._person(rng) for _ in idx]
            d_ident, d_attrs = sample_identities(seed, donors), sample_attributes(seed, donors)
            mix = attrs.replace()
            for n, c in enumerate(classes):
                d_attrs.style(c)[n] = attrs.style(c)[n] if int(d_attrs.style(c)[n]) == 0 else d_attrs.style(c)[n]
                mix = mix.set_item(n, mix[[n]].swap_class(c, d_attrs[[n]]))
            d_motion = sample_motion(seed, donors, frames=CLIP_LEN)
            gt_cols = torch.cat([cols[:, :1], cols[:, 2:]], 1)
            gt_rows = torch.arange(B).repeat_interleave(1 + frames)
            idents += [d_ident, ident[gt_rows]]
            attr_rows += [d_attrs, mix[gt_rows]]
            motions += [_per_frame(_frames(d_motion, cols[:, 1:2])), _per_frame(_frames(motion, gt_cols))]
            cross = torch.rand(B, generator=torch.Generator().manual_seed(rng.randrange(1 << 30))) < cfg.cross_identity
        cat = lambda parts: type(parts[0])(**{f: torch.cat([getattr(p, f) for p in parts])  # noqa: E731
                                               for f in vars(parts[0])})
        return BatchPlan(seed=gseed, classes=classes, frames=frames, ident=cat(idents), attrs=cat(attr_rows),
                         motion=cat(motions), cross=cross)

    def realize(self, plan: BatchPlan) -> TrainBatch:
        cfg, d = self.cfg, self.device
        B, Fr = len(plan.classes), plan.frames
        out = self.render(plan.ident, plan.attrs, plan.motion, size=self.size, device=d)
        rgb, masks, kp = out.rgb[:, 0], out.masks[:, 0], out.keypoints[:, 0]
        n_main = B * (2 + Fr)
        main = lambda t: t[:n_main].reshape(B, 2 + Fr, *t.shape[1:])  # noqa: E731
        m_rgb, m_masks, m_kp = main(rgb), main(masks), main(kp)
        gen_masks = masks[n_main:n_main + B]
        cls_idx = index([CLS[c] for c in plan.classes], d)
        ar = torch.arange(B, device=d)
        portrait, attr_img = m_rgb[:, 0], m_rgb[:, 1]
        target, target_masks, target_kp = m_rgb[:, 2:], m_masks[:, 2:], m_kp[:, 2:]
        m_attr_i, m_attr_j = m_masks[ar, 0, cls_idx][:, None], m_masks[ar, 1, cls_idx][:, None]
        m_gen = gen_masks[ar, cls_idx][:, None]
        attr_kp = m_kp[:, 1]
        if plan.cross is not None:
            # cross-identity samples: the attribute from another person; the target is the renderer's
            # ground truth of the portrait person wearing it
            o = n_main + B
            donor_rgb, donor_masks = rgb[o:o + B], masks[o:o + B]
            gt = lambda t: t[o + B:].reshape(B, 1 + Fr, *t.shape[1:])  # noqa: E731
            g_rgb, g_masks, g_kp = gt(rgb), gt(masks), gt(kp)
            use = to_device(plan.cross, d)
            u4, u5 = use[:, None, None, None], use[:, None, None, None, None]
            target = torch.where(u5, g_rgb[:, 1:], target)
            target_masks = torch.where(u5, g_masks[:, 1:], target_masks)
            target_kp = torch.where(use[:, None, None, None], g_kp[:, 1:], target_kp)
            attr_img = torch.where(u4, donor_rgb, attr_img)
            m_attr_j = torch.where(u4, donor_masks[ar, cls_idx][:, None], m_attr_j)
            m_gen = torch.where(u4, g_masks[ar, 0, cls_idx][:, None], m_gen)
            attr_kp = torch.where(use[:, None, None], kp[o:o + B], attr_kp)
        if cfg.align_attribute:
            # the attribute reaches the portrait as the CLI brings it: warped onto its keypoints
            attr_img, m_attr_j = align_attribute(attr_img, m_attr_j, attr_kp, m_kp[:, 0], plan.classes)
        m_port = torch.maximum(m_attr_i, m_gen) if cfg.mask_expansion else m_attr_i
        g = torch.Generator().manual_seed(plan.seed)
        return assemble_batch(cfg, g, portrait, m_port, attr_img, m_attr_j, target, target_masks, target_kp,
                              plan.classes)

    def batch(self, step: int, rank: int, batch: int, frames: int) -> TrainBatch:
        return self.realize(self.plan_batch(step, rank, batch, frames))
