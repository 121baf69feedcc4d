"""The set of trained components built from one ModelArgs, and the per-stage training losses.

Stages: `vae` (autoencoder), `parser` (keypoints + masks), `stage1` (ReferenceNets, denoiser
spatial layers and pose guider on single frames), `stage2` (temporal layers only, on clips).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import TrainConfig
from .data.synth_data import TrainBatch
from .metrics import REGIONS, keypoint_box
from .models import VAE, Parser, PoseGuider, UNet
from .schedulers import NoiseSchedule, correlate_frames
from .synth import catalog
from .transfer import to_device

STAGES = ("vae", "parser", "stage1", "stage2")


class Durian(nn.Module):
    def __init__(self, cfg: TrainConfig):
        super().__init__()
        a = cfg.model
        self.cfg = cfg
        self.vae = VAE(a)
        self.parser = Parser(a, len(catalog.MASK_CLASSES))
        self.prnet = UNet(a, reference=True)
        # ablation "single ReferenceNet": one module serves both references
        self.arnet = self.prnet if a.shared_reference else UNet(a, reference=True)
        self.unet = UNet(a, reference=False)
        self.pose_guider = PoseGuider(a)
        self.schedule = NoiseSchedule(cfg.num_train_timesteps, cfg.beta_start, cfg.beta_end, cfg.beta_schedule,
                                      cfg.prediction_type)

    def trainable(self, stage: str) -> list[nn.Parameter]:
        if stage == "vae":
            return list(self.vae.parameters())
        if stage == "parser":
            return list(self.parser.parameters())
        if stage == "stage1":
            mods = [self.prnet, self.pose_guider] + ([] if self.cfg.model.shared_reference else [self.arnet])
            params = [p for m in mods for p in m.parameters()]
            return params + [p for n, p in self.unet.named_parameters() if ".temporal." not in n]
        if stage == "stage2":
            return [p for n, p in self.unet.named_parameters() if ".temporal." in n]
        raise ValueError(f"Unknown stage {stage!r}; valid: {', '.join(STAGES)}")

    def frozen(self, stage: str) -> set[int]:
        """ids of trainable parameters the recipe holds fixed: the VAE's encoder with
        `vae_freeze_encoder` (and `vae_denoised_t`, whose loss does not reach it). Like `unreachable` ones they stay in the optimiser (checkpoint layout)
        and take no gradient."""
        if stage == "vae" and (self.cfg.vae_freeze_encoder or self.cfg.vae_denoised_t > 0):
            return {id(p) for p in self.vae.encoder.parameters()}
        return set()

    def unreachable(self, stage: str) -> set[int]:
        """ids of trainable parameters that cannot affect the stage's loss: in a ReferenceNet the
        last transformer's attention and feed-forward act after its last recorded tokens. They stay
        in the optimiser (checkpoint layout) but take no gradient (DDP needs every gradient-taking
        parameter to get one each step)."""
        if stage != "stage1":
            return set()
        nets = [self.prnet] + ([] if self.cfg.model.shared_reference else [self.arnet])
        last = [net.up[-1][-1].spatial for net in nets]
        return {id(p) for t in last for m in (t.attn, t.norm2, t.ff) for p in m.parameters()}

    # --- encoding helpers (images in [0, 1]) ---
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        mean, _ = self.vae.encoder(images * 2 - 1)
        return mean * self.cfg.latent_scale

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """`encode`'s inverse: model latents [B, C, h, w] → images [B, 3, H, W] in [0, 1]."""
        return ((self.vae.decoder(latents / self.cfg.latent_scale) + 1) / 2).clamp(0, 1)

    def reference_input(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Masked reference image [B, 3, H, W] + mask [B, 1, H, W] → ReferenceNet input [B, 5, h, w]."""
        z = self.encode(image)
        if not self.cfg.model.mask_channel:
            return z
        m = F.interpolate(mask, size=z.shape[-2:], mode="area")
        return torch.cat([z, m], 1)

    def references(self, portrait: torch.Tensor, portrait_mask: torch.Tensor, attrs: list[tuple[torch.Tensor, torch.Tensor]]):
        """Hidden states and pooled embeddings of the portrait and each attribute reference."""
        hp, pp = self.prnet.forward_reference(self.reference_input(portrait, portrait_mask))
        per_attr = [self.arnet.forward_reference(self.reference_input(img, m)) for img, m in attrs]
        ha = [torch.stack([h[layer] for h, _ in per_attr], 1) for layer in range(len(hp))]
        pa = torch.stack([p for _, p in per_attr], 1)
        return hp, pp, ha, pa

    def references_of_inputs(self, portrait_in: torch.Tensor, attr_in: torch.Tensor):
        """`references` from ReferenceNet inputs already made (reference_input), one attribute
        reference per sample: what the training objective and its checks condition on."""
        hp, pp = self.prnet.forward_reference(portrait_in)
        ha, pa = self.arnet.forward_reference(attr_in)
        return hp, pp, [h[:, None] for h in ha], pa[:, None]

    def denoise(self, noisy: torch.Tensor, t: torch.Tensor, pose_images: torch.Tensor, refs, members, weights):
        """noisy [B, C, F, h, w]; pose_images [B, F, 3, H, W] → prediction [B, C, F, h, w]."""
        return self.denoise_features(noisy, t, self.pose_features(pose_images), refs, members, weights)

    def pose_features(self, pose_images: torch.Tensor) -> torch.Tensor:
        """pose_images [B, F, 3, H, W] → the pose guider's features [B, C0, F, h, w] (frame by frame)."""
        B, Fr = pose_images.shape[:2]
        pose = self.pose_guider(pose_images.flatten(0, 1))
        return pose.reshape(B, Fr, *pose.shape[1:]).permute(0, 2, 1, 3, 4)

    def denoise_features(self, noisy: torch.Tensor, t: torch.Tensor, pose: torch.Tensor, refs, members, weights):
        """`denoise` with the pose features [B, C0, F, h, w] given (the sampler makes them once)."""
        hp, pp, ha, pa = refs
        return self.unet(noisy, t, pose, hp, ha, members, weights, pp, pa)


@dataclass
class LatentBatch:
    """A diffusion batch after the frozen VAE: what the denoising objective reads.

    x0 [B, C, F, h, w] target latents; portrait_in, attr_in [B, C + 1, h, w] ReferenceNet inputs
    (latent ⊕ mask, or 4 channels without the mask channel); pose [B, F, 3, H, W] keypoint images;
    region [B, 1, F, h, w] the targets' attribute-class mask at latent resolution (the fraction of
    each latent pixel's image pixels inside it), for `attr_loss_weight`; eyes [B, 1, F, h, w] the
    targets' eye boxes the same way, for `eye_loss_weight`.
    """

    x0: torch.Tensor
    portrait_in: torch.Tensor
    attr_in: torch.Tensor
    pose: torch.Tensor
    region: torch.Tensor | None = None
    eyes: torch.Tensor | None = None


def attribute_region(b: TrainBatch, hw: tuple[int, int]) -> torch.Tensor:
    """[B, 1, F, h, w]: each target frame's mask of its sample's attribute class, area-averaged to
    the latent grid `hw`."""
    B, Fr, _, H, W = b.target_masks.shape
    cls = torch.tensor([catalog.CLS[c] for c in b.attr_class], device=b.target_masks.device)
    m = b.target_masks[torch.arange(B, device=cls.device), :, cls]  # [B, F, H, W]
    m = F.adaptive_avg_pool2d(m.reshape(B * Fr, 1, H, W).float(), hw)
    return m.reshape(B, Fr, *hw)[:, None]


def eye_region(b: TrainBatch, hw: tuple[int, int]) -> torch.Tensor:
    """[B, 1, F, h, w]: each target frame's two eye boxes (metrics.keypoint_box of each eye's six
    keypoints, the boxes the benchmark scores), area-averaged to the latent grid `hw`."""
    B, Fr, _, H, W = b.target.shape
    kp = b.target_keypoints.reshape(B * Fr, 68, 2).float().to(b.target.device)
    boxes = sum(keypoint_box(kp, *REGIONS[e], (H, W)) for e in ("right_eye", "left_eye")).clamp(max=1)
    m = F.adaptive_avg_pool2d(boxes, hw)
    return m.reshape(B, Fr, *hw)[:, None]


@torch.no_grad()
def encode_batch(model: Durian, b: TrainBatch) -> LatentBatch:
    """The VAE half of a diffusion step: it does not train in stage 1 or 2, so its outputs can be
    computed once per sample and cached (data/pool.py)."""
    B, Fr = b.target.shape[:2]
    x0 = model.encode(b.target.flatten(0, 1))
    x0 = x0.reshape(B, Fr, *x0.shape[1:]).permute(0, 2, 1, 3, 4)
    return LatentBatch(x0=x0, portrait_in=model.reference_input(b.portrait, b.portrait_mask),
                       attr_in=model.reference_input(b.attr, b.attr_mask), pose=b.pose,
                       region=attribute_region(b, tuple(x0.shape[-2:])), eyes=eye_region(b, tuple(x0.shape[-2:])))


@torch.no_grad()
def null_reference(model: Durian, like: torch.Tensor) -> torch.Tensor:
    """The ReferenceNet input of a dropped reference (zero image, zero mask): [1, C, h, w]."""
    size = model.cfg.model.image_size
    zero = torch.zeros(1, 3, size, size, device=like.device)
    return model.reference_input(zero, zero[:, :1]).to(like.dtype)


def coarse_noise(shape, finest: int, g: torch.Generator) -> torch.Tensor:
    """Sum of one standard-normal draw a cell on grids of 1, 2, 4, ... up to `finest` cells a side,
    each upsampled bilinearly to the last two dims of `shape` ([..., h, w]; every leading index,
    frames included, draws its own)."""
    *lead, h, w = shape
    if finest < 1 or finest > min(h, w) or finest & (finest - 1):
        raise ValueError(f"noise_offset_grid must be a power of two from 1 to {min(h, w)}, not {finest}")
    out = torch.zeros(shape)
    n = 1
    while n <= finest:
        cells = torch.randn((*lead, n, n), generator=g).reshape(-1, 1, n, n)
        up = cells.expand(-1, 1, h, w) if n == 1 else F.interpolate(cells, size=(h, w), mode="bilinear",
                                                                     align_corners=False)
        out += up.reshape(shape)
        n *= 2
    return out


@dataclass
class Draws:
    """The random numbers of one diffusion step, drawn on the CPU from the step's generator (so a
    compiled objective takes them as plain inputs and runs are reproducible on any device)."""

    keep: torch.Tensor       # [B] 1 = references kept, 0 = unconditional branch
    pose_keep: torch.Tensor  # [B] 0 = pose dropped on its own
    noise: torch.Tensor      # like x0
    t: torch.Tensor          # [B] integer timesteps

    @classmethod
    def draw(cls, cfg: TrainConfig, x0_shape, g: torch.Generator, t_min: int = 0) -> "Draws":
        """`t_min`: timesteps from [t_min, N) only (stage 2 with ModelArgs.temporal_min_t)."""
        B = x0_shape[0]
        keep = (torch.rand(B, generator=g) >= cfg.ref_dropout).float()
        pose_keep = (torch.rand(B, generator=g) >= cfg.pose_dropout).float()
        noise = torch.randn(x0_shape, generator=g)
        t = torch.randint(t_min, cfg.num_train_timesteps, (B,), generator=g)
        if cfg.noise_offset > 0:
            noise = noise + cfg.noise_offset * coarse_noise(x0_shape, cfg.noise_offset_grid, g)
        if cfg.noise_correlation > 0 and len(x0_shape) == 5:
            noise = correlate_frames(noise, cfg.noise_correlation)
        return cls(keep=keep, pose_keep=pose_keep, noise=noise, t=t)

    def to(self, device) -> "Draws":
        return Draws(**{k: v.to(device, non_blocking=True) for k, v in vars(self).items()})


class DiffusionObjective(nn.Module):
    """ε- (or v-) MSE of the denoiser on a LatentBatch: the trainable part of stages 1 and 2, as one
    module, so it can be compiled and wrapped in DistributedDataParallel."""

    def __init__(self, model: Durian):
        super().__init__()
        self.model = model
        w = model.cfg.channel_loss_weights
        if w and (len(w) != model.cfg.model.latent_channels or min(w) < 0 or sum(w) <= 0):
            raise ValueError(f"channel_loss_weights needs {model.cfg.model.latent_channels} weights ≥ 0, not all 0; "
                             f"got {w}")
        for name in ("attr_loss_weight", "eye_loss_weight"):
            if getattr(model.cfg, name) < 0:
                raise ValueError(f"{name} must be ≥ 0, not {getattr(model.cfg, name)}")
        # a buffer, so it moves with the objective and a compiled objective sees a tensor, not a list;
        # made on the model's device, since training wraps a model that is already there (a CPU
        # buffer beside CUDA activations stopped the first GPU chunk with it)
        device = next(model.parameters()).device
        self.register_buffer("channel_weights", torch.tensor(w, dtype=torch.float32, device=device) if w else None,
                             persistent=False)

    def forward(self, x0, portrait_in, attr_in, pose, keep, pose_keep, noise, t, null_ref, region=None, eyes=None):
        model, cfg = self.model, self.model.cfg
        B, Fr = pose.shape[:2]
        k4 = keep[:, None, None, None].bool()
        # the unconditional branch drops both references and the pose (as the samplers do); the
        # pose alone is dropped too, now and then
        portrait_in = torch.where(k4, portrait_in, null_ref)
        attr_in = torch.where(k4, attr_in, null_ref)
        pose = pose * (keep * pose_keep)[:, None, None, None, None].to(pose.dtype)
        refs = model.references_of_inputs(portrait_in, attr_in)
        members = torch.ones(B, 1, 1, device=x0.device)
        weights = torch.ones(B, Fr, 1, device=x0.device)
        noisy = model.schedule.add_noise(x0, noise, t)
        pred = model.denoise(noisy, t.float(), pose, refs, members, weights)
        sq = (pred.float() - model.schedule.target(x0, noise, t).float()) ** 2
        if self.channel_weights is not None:
            sq = sq * self.channel_weights.view(1, -1, *([1] * (sq.dim() - 2)))
        if region is not None and cfg.attr_loss_weight > 0:
            sq = sq * (1 + cfg.attr_loss_weight * region.float())  # [B, 1, F, h, w] over the channels
        if eyes is not None and cfg.eye_loss_weight > 0:
            sq = sq * (1 + cfg.eye_loss_weight * eyes.float())
        err = sq.flatten(1).mean(1)  # [B]
        if cfg.min_snr_gamma > 0:
            # Min-SNR-γ: the low-noise steps, easy and many, stop crowding out the ones that set structure.
            # In clean-latent terms the weight is min(SNR, γ): at t = 900 (SNR ≈ 0.014) an x0 error
            # counts 0.014 × its square, yet those steps set a frame's colours. min_snr_floor f raises
            # that weight to at least f (f = 1: "truncated SNR" at the noisy end; 0: plain Min-SNR-γ)
            ab = model.schedule.alphas_cumprod.to(x0.device)[t].float()
            snr = ab / (1 - ab)
            x0_weight = snr.clamp(max=cfg.min_snr_gamma).clamp(min=cfg.min_snr_floor)
            w = x0_weight / (snr if cfg.prediction_type == "epsilon" else snr + 1)
            return (err * w).mean()
        return err.mean()


def diffusion_loss_latent(objective: nn.Module, model: Durian, lb: LatentBatch, g: torch.Generator,
                          null_ref: torch.Tensor | None = None, t_min: int = 0) -> torch.Tensor:
    """The objective on an encoded batch with this step's draws (`objective` may be compiled or DDP;
    `t_min`: see Draws.draw)."""
    d = Draws.draw(model.cfg, lb.x0.shape, g, t_min).to(lb.x0.device)
    if null_ref is None:
        null_ref = null_reference(model, lb.portrait_in)
    # the region goes in only when it counts, so a run without the weight compiles the graph it had
    region = lb.region if model.cfg.attr_loss_weight > 0 else None
    if model.cfg.attr_loss_weight > 0 and region is None:
        raise ValueError("attr_loss_weight needs the targets' attribute masks; this batch has none")
    eyes = lb.eyes if model.cfg.eye_loss_weight > 0 else None
    if model.cfg.eye_loss_weight > 0 and eyes is None:
        raise ValueError("eye_loss_weight needs the targets' eye regions; this batch has none")
    return objective(lb.x0, lb.portrait_in, lb.attr_in, lb.pose, d.keep, d.pose_keep, d.noise, d.t,
                     null_ref, region, eyes)


def diffusion_loss(model: Durian, b: TrainBatch, g: torch.Generator) -> torch.Tensor:
    """Stage 1/2 loss straight from rendered images (encode, then the objective)."""
    return diffusion_loss_latent(DiffusionObjective(model), model, encode_batch(model, b), g)


def vae_forward(model: Durian, images: torch.Tensor, g: torch.Generator | None, noise: torch.Tensor | None = None):
    """The VAE's round trip of `images` (in [0, 1]) through a sampled latent: (x in [-1, 1], the
    decoded image, the KL term). `noise` (the latent sample's ε, drawn ahead) replaces the draw from
    `g` in compiled steps. Runs of frames [B, F, 3, H, W] come back with their frame axis, and the
    frames of a run share one ε ([B, …]), so that what differs between their decoded frames comes
    from their latents' means alone."""
    run = images.dim() == 5
    if run:
        b, f = images.shape[:2]
        images = images.flatten(0, 1)
    x = images * 2 - 1
    mean, logvar = model.vae.encoder(x)
    if noise is None:
        noise = torch.randn((b, *mean.shape[1:]) if run else mean.shape, generator=g)
    noise = noise.to(mean.device)
    if run:
        noise = noise.repeat_interleave(f, 0)
    z = mean + noise * torch.exp(0.5 * logvar)
    rec = model.vae.decoder(z)
    if run:
        x, rec = x.unflatten(0, (b, f)), rec.unflatten(0, (b, f))
    return x, rec, model.vae.kl(mean, logvar)


def frame_change_loss(rec: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """L1 between the decoded frames' change from one frame to the next and the truth's, over runs
    [B, F, C, H, W]. It is 0 for an error that stays put from frame to frame and counts an error that
    comes and goes twice; the per-image L1 cannot tell them apart, but only the second is seen as
    jitter. Written by hand: it is two subtractions."""
    return ((rec[:, 1:] - rec[:, :-1]) - (x[:, 1:] - x[:, :-1])).abs().mean()


def reconstruction_loss(model: Durian, rec: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The VAE's per-image terms: L1, plus an L1 on image gradients that keeps edges (eyes, glasses
    frames) sharp, plus the optional texture term; on runs of frames [B, F, …], those on every frame
    plus `vae_temporal_weight` times the frame-to-frame term."""
    if rec.dim() == 5:
        change = frame_change_loss(rec, x)
        rest = reconstruction_loss(model, rec.flatten(0, 1), x.flatten(0, 1))
        return rest + model.cfg.vae_temporal_weight * change if model.cfg.vae_temporal_weight else rest
    l1 = (rec - x).abs().mean()
    grad = lambda t: (t[..., 1:, :] - t[..., :-1, :], t[..., :, 1:] - t[..., :, :-1])  # noqa: E731
    (rx, ry), (xx, xy) = grad(rec), grad(x)
    loss = l1 + 0.5 * ((rx - xx).abs().mean() + (ry - xy).abs().mean())
    if model.cfg.vae_texture_weight:
        loss = loss + model.cfg.vae_texture_weight * texture_loss(rec, x)
    if model.cfg.vae_ssim_weight:
        loss = loss + model.cfg.vae_ssim_weight * structure_loss(rec, x)
    return loss


def structure_loss(rec: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """1 − SSIM of decoded images against the truth, both in [-1, 1] (torchmetrics, in fp32, with the
    settings the benchmark scores SSIM with: 11×11 Gaussian windows, σ 1.5)."""
    from torchmetrics.functional.image import structural_similarity_index_measure

    from .metrics import SSIM_WINDOW

    with torch.autocast(rec.device.type, enabled=False):
        s = structural_similarity_index_measure((rec.float() + 1) / 2, (x.float() + 1) / 2, gaussian_kernel=True,
                                                sigma=1.5, kernel_size=SSIM_WINDOW, data_range=1.0)
    return 1 - s


def vae_loss(model: Durian, images: torch.Tensor, g: torch.Generator | None, noise: torch.Tensor | None = None):
    """The VAE stage's loss without the adversarial term (`noise`: see vae_forward)."""
    x, rec, kl = vae_forward(model, images, g, noise)
    return reconstruction_loss(model, rec, x) + model.cfg.kl_weight * kl


def texture_loss(rec: torch.Tensor, x: torch.Tensor, cell: int = 8) -> torch.Tensor:
    """L1 between the local amounts of fine detail of `rec` and `x`: the mean |Laplacian| over each
    cell × cell patch, per channel. It does not care where within a patch the detail lies, so a
    strand pattern shifted by part of its period costs almost nothing and a flat fill where the
    truth has strands costs the whole of it; plain L1 rewards the flat fill instead (the average of
    the phases the latent cannot tell apart). Written by hand: no maintained loss measures this
    without a pretrained network, and the GPU host cannot download one."""
    from .metrics import laplacian

    energy = lambda t: F.avg_pool2d(laplacian(t).abs(), cell)  # noqa: E731
    return (energy(rec) - energy(x)).abs().mean()


def parser_loss(model: Durian, images: torch.Tensor, masks: torch.Tensor, keypoints: torch.Tensor) -> torch.Tensor:
    logits, _, kp = model.parser(images * 2 - 1)
    H = images.shape[-1]
    seg = -(masks * F.log_softmax(logits, 1)).sum(1).mean()
    return seg + (kp - keypoints).abs().mean() / H * 10


class DenoisedDecoderObjective(nn.Module):
    """The VAE stage with `vae_denoised_t`: the decoder's loss on the frozen denoiser's estimates.

    Each target clip's latents are noised to one timestep t < vae_denoised_t; the denoiser (with
    both references and the pose, and its unconditional branch for classifier-free guidance at
    `vae_denoised_guidance`, as the samplers run it) estimates the clean latents, and the decoder
    decodes that estimate against the target frames with the VAE stage's reconstruction terms. Only
    the decoder takes a gradient. At the end of sampling the decoder is given exactly such an
    estimate (the last DDIM steps return the denoiser's clean-latent estimate at a small t), not the
    encoder's latent of a true frame, which is all the round trip trains it on. With
    `vae_denoised_roundtrip` > 0 the decoder also decodes those latents of the same frames, at that
    weight, so it keeps the round trip's detail while it learns the estimates."""

    def __init__(self, model: Durian):
        super().__init__()
        self.model = model

    @torch.no_grad()
    def estimate(self, x0, portrait_in, attr_in, pose, noise, t, null_ref):
        """The guided clean-latent estimate [B, C, F, h, w] of `x0` noised to `t` (model latents)."""
        model, cfg = self.model, self.model.cfg
        B, Fr = pose.shape[:2]
        null = null_ref.expand_as(portrait_in)
        refs = model.references_of_inputs(torch.cat([portrait_in, null]), torch.cat([attr_in, null]))
        noisy = model.schedule.add_noise(x0, noise, t)
        tt = torch.cat([t, t]).float()
        members = torch.ones(2 * B, 1, 1, device=x0.device)
        weights = torch.ones(2 * B, Fr, 1, device=x0.device)
        pred = model.denoise(torch.cat([noisy, noisy]), tt, torch.cat([pose, torch.zeros_like(pose)]), refs,
                             members, weights).float()
        c, u = pred[:B], pred[B:]
        return model.schedule.predict_x0(u + cfg.vae_denoised_guidance * (c - u), noisy.float(), t)

    def forward(self, images, x0, portrait_in, attr_in, pose, noise, t, null_ref):
        """images [B, F, 3, H, W] in [0, 1] (the targets); the rest as LatentBatch and Draws."""
        model = self.model
        z = self.estimate(x0, portrait_in, attr_in, pose, noise, t, null_ref)
        x = images * 2 - 1
        loss = self.decoded_loss(z, x)
        w = model.cfg.vae_denoised_roundtrip
        return loss + w * self.decoded_loss(x0, x) if w else loss

    def decoded_loss(self, z, x):
        """The reconstruction terms of model latents z [B, C, F, h, w] decoded against x [B, F, 3, H, W] in [-1, 1]."""
        model = self.model
        B, C, Fr, h, w = z.shape
        z = z.permute(0, 2, 1, 3, 4).reshape(B * Fr, C, h, w) / model.cfg.latent_scale
        rec = model.vae.decoder(z)
        rec = rec.reshape(B, Fr, *rec.shape[1:])
        return reconstruction_loss(model, rec if Fr > 1 else rec[:, 0], x if Fr > 1 else x[:, 0])


def denoised_draws(cfg: TrainConfig, x0_shape, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """The noise and timesteps of a `vae_denoised_t` step, drawn on the CPU from the step's generator."""
    if cfg.vae_denoised_t > cfg.num_train_timesteps:
        raise ValueError(f"vae_denoised_t must be at most num_train_timesteps ({cfg.num_train_timesteps}), "
                         f"not {cfg.vae_denoised_t}")
    noise = torch.randn(x0_shape, generator=g)
    t = torch.randint(0, cfg.vae_denoised_t, (x0_shape[0],), generator=g)
    return noise, t


def denoised_decoder_loss(objective: nn.Module, model: Durian, lb: LatentBatch, images: torch.Tensor,
                          g: torch.Generator, null_ref: torch.Tensor | None = None) -> torch.Tensor:
    """The `vae_denoised_t` objective (DenoisedDecoderObjective, maybe compiled or in DDP) on an
    encoded batch and its target frames, with this step's draws: as diffusion_loss_latent is for
    stages 1 and 2."""
    noise, t = denoised_draws(model.cfg, lb.x0.shape, g)
    if null_ref is None:
        null_ref = null_reference(model, lb.portrait_in)
    device = lb.x0.device
    return objective(images, lb.x0, lb.portrait_in, lb.attr_in, lb.pose, to_device(noise, device),
                     to_device(t, device), null_ref)


class ImageObjective(nn.Module):
    """The vae or parser stage's loss as one module (for compile and DistributedDataParallel)."""

    def __init__(self, model: Durian, stage: str, parts: bool = False):
        """`parts` (vae): return (x, decoded, KL) instead of the loss."""
        super().__init__()
        if stage not in ("vae", "parser"):
            raise ValueError(f"ImageObjective is for the vae and parser stages, not {stage!r}")
        self.model, self.stage, self.parts = model, stage, parts

    def forward(self, images: torch.Tensor, masks_or_noise: torch.Tensor, keypoints: torch.Tensor | None = None):
        if self.stage == "vae":
            if self.parts:  # the adversarial term needs the decoded image
                return vae_forward(self.model, images, None, masks_or_noise)
            return vae_loss(self.model, images, None, masks_or_noise)
        return parser_loss(self.model, images, masks_or_noise, keypoints)
