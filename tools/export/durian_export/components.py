"""The set of trained components built from one ModelArgs, and the per-stage training losses.

Stages: `vae` (autoencoder), `parser` (keypoints + masks), `stage1` (ReferenceNets, denoiser
spatial layers and pose guider on single frames), `stage2` (temporal layers only, on clips).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import TrainConfig
from .data.synth_data import TrainBatch
from .models import Parser, PoseGuider, UNet, VAE
from .schedulers import NoiseSchedule
from .synth import catalog

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

    # --- encoding helpers (images in [0, 1]) ---
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        mean, _ = self.vae.encoder(images * 2 - 1)
        return mean * self.cfg.latent_scale

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
        ha = [torch.stack([h[l] for h, _ in per_attr], 1) for l in range(len(hp))]
        pa = torch.stack([p for _, p in per_attr], 1)
        return hp, pp, ha, pa

    def denoise(self, noisy: torch.Tensor, t: torch.Tensor, pose_images: torch.Tensor, refs, members, weights):
        """noisy [B, 4, F, h, w]; pose_images [B, F, 3, H, W] → prediction [B, 4, F, h, w]."""
        hp, pp, ha, pa = refs
        B, Fr = pose_images.shape[:2]
        pose = self.pose_guider(pose_images.flatten(0, 1))
        pose = pose.reshape(B, Fr, *pose.shape[1:]).permute(0, 2, 1, 3, 4)
        return self.unet(noisy, t, pose, hp, ha, members, weights, pp, pa)


def drop(x: torch.Tensor, p: float, g: torch.Generator) -> torch.Tensor:
    """Zero whole samples with probability p (classifier-free guidance dropout)."""
    keep = (torch.rand(x.shape[0], generator=g) >= p).to(x.device, x.dtype)
    return x * keep.reshape(-1, *([1] * (x.dim() - 1)))


def diffusion_loss(model: Durian, b: TrainBatch, g: torch.Generator) -> torch.Tensor:
    cfg = model.cfg
    B, Fr = b.target.shape[:2]
    with torch.no_grad():
        x0 = model.encode(b.target.flatten(0, 1))
        x0 = x0.reshape(B, Fr, *x0.shape[1:]).permute(0, 2, 1, 3, 4)  # [B, 4, F, h, w]
    # one draw decides, per sample, whether both references are dropped (unconditional branch)
    keep = (torch.rand(B, generator=g) >= cfg.ref_dropout).to(x0.device)[:, None, None, None]
    portrait, pmask = b.portrait * keep, b.portrait_mask * keep
    attr, amask = b.attr * keep, b.attr_mask * keep
    # the unconditional branch drops the pose with the references (as the samplers do); the pose
    # alone is dropped too, now and then
    pose = drop(b.pose * keep[:, :, None], cfg.pose_dropout, g)
    refs = model.references(portrait, pmask, [(attr, amask)])
    members = torch.ones(B, 1, 1, device=x0.device)
    weights = torch.ones(B, Fr, 1, device=x0.device)
    noise = torch.randn(x0.shape, generator=g).to(x0.device)
    t = torch.randint(0, cfg.num_train_timesteps, (B,), generator=g).to(x0.device)
    noisy = model.schedule.add_noise(x0, noise, t)
    pred = model.denoise(noisy, t.float(), pose, refs, members, weights)
    err = ((pred.float() - model.schedule.target(x0, noise, t).float()) ** 2).flatten(1).mean(1)  # [B]
    if cfg.min_snr_gamma > 0:
        # Min-SNR-γ: the low-noise steps, easy and many, stop crowding out the ones that set structure
        ab = model.schedule.alphas_cumprod.to(x0.device)[t].float()
        snr = ab / (1 - ab)
        w = snr.clamp(max=cfg.min_snr_gamma) / (snr if cfg.prediction_type == "epsilon" else snr + 1)
        return (err * w).mean()
    return err.mean()


def vae_loss(model: Durian, images: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    x = images * 2 - 1
    mean, logvar = model.vae.encoder(x)
    z = mean + torch.randn(mean.shape, generator=g).to(mean.device) * torch.exp(0.5 * logvar)
    rec = model.vae.decoder(z)
    # L1 plus an L1 on image gradients keeps edges (eyes, glasses frames) sharp
    l1 = (rec - x).abs().mean()
    grad = lambda t: (t[..., 1:, :] - t[..., :-1, :], t[..., :, 1:] - t[..., :, :-1])  # noqa: E731
    (rx, ry), (xx, xy) = grad(rec), grad(x)
    edge = (rx - xx).abs().mean() + (ry - xy).abs().mean()
    return l1 + 0.5 * edge + model.cfg.kl_weight * model.vae.kl(mean, logvar)


def parser_loss(model: Durian, images: torch.Tensor, masks: torch.Tensor, keypoints: torch.Tensor) -> torch.Tensor:
    logits, _, kp = model.parser(images * 2 - 1)
    H = images.shape[-1]
    seg = -(masks * F.log_softmax(logits, 1)).sum(1).mean()
    return seg + (kp - keypoints).abs().mean() / H * 10
