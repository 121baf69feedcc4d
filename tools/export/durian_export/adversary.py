"""The VAE stage's adversarial term: a patch discriminator trained beside the decoder
(`vae_adv_weight` > 0; docs/training.md)."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .components import Durian, reconstruction_loss
from .config import TrainConfig


class PatchDiscriminator(nn.Module):
    """Real or decoded, judged per overlapping patch (about 46 px square at the last layer): strided
    4×4 convolutions with GroupNorm and leaky ReLU, one logit per patch. GroupNorm, not BatchNorm:
    a patch's verdict must not depend on the rest of its batch."""

    def __init__(self, channels: tuple[int, ...] = (64, 128, 256)):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(3, channels[0], 4, 2, 1), nn.LeakyReLU(0.2)]
        for cin, cout in zip(channels, channels[1:]):
            layers += [nn.Conv2d(cin, cout, 4, 2, 1), nn.GroupNorm(16, cout), nn.LeakyReLU(0.2)]
        layers += [nn.Conv2d(channels[-1], channels[-1], 4, 1, 1), nn.GroupNorm(16, channels[-1]), nn.LeakyReLU(0.2),
                   nn.Conv2d(channels[-1], 1, 4, 1, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Adversary:
    """The VAE stage's adversarial term (`vae_adv_weight` > 0): a patch discriminator trained beside
    the decoder with the hinge loss, and the decoder's term −D(decoded), scaled so that its gradient
    at the decoded image has `vae_adv_weight` times the norm of the reconstruction loss's gradient
    there. The usual balance reads both gradients at the decoder's last weights; at its output it
    needs no pass back through the decoder, and the pair is the same wherever the decoder trains.
    The discriminator trains alone for `vae_adv_warmup` of its own steps first: an untrained one's
    verdict is noise. Its weights, optimiser and step count travel in the full checkpoint (a slim one
    drops them: a run resumed from one starts a fresh discriminator and waits out the warm-up again).
    Written by hand: PyTorch has no GAN loss or trainer, and a library that has one would bring its
    own training loop."""

    def __init__(self, cfg: TrainConfig, device: torch.device, compile: bool = False, channels_last: bool = False):
        self.cfg = cfg
        g = torch.get_rng_state()
        torch.manual_seed(cfg.seed + 7)  # its init does not move the model's draws
        self.disc = PatchDiscriminator().to(device)
        torch.set_rng_state(g)
        if channels_last:
            self.disc.to(memory_format=torch.channels_last)
        self.opt = torch.optim.AdamW(self.disc.parameters(), lr=cfg.lr, betas=(0.5, 0.9), weight_decay=0.0,
                                     fused=device.type == "cuda")
        self.judge = torch.compile(self.disc) if compile else self.disc
        self.steps = 0
        self.pending: tuple[torch.Tensor, torch.Tensor] | None = None
        zero = lambda: torch.zeros((), device=device)  # noqa: E731
        self.sums = {"d_loss": zero(), "g_adv": zero(), "balance": zero()}
        self.n = 0

    @property
    def active(self) -> bool:
        return self.steps >= self.cfg.vae_adv_warmup

    def generator_loss(self, model: Durian, x: torch.Tensor, rec: torch.Tensor, kl: torch.Tensor) -> torch.Tensor:
        """The decoder's whole loss for this step from vae_forward's (x, decoded, KL); keeps x and the
        decoded image for the discriminator's step."""
        loss = reconstruction_loss(model, rec, x) + self.cfg.kl_weight * kl
        # runs of frames (vae_frames > 1): the discriminator judges single frames; the gradients
        # below are taken at `rec` as decoded, which the loss used
        frames = (lambda t: t.flatten(0, 1)) if rec.dim() == 5 else (lambda t: t)  # noqa: E731
        self.pending = (frames(x).detach(), frames(rec).detach())
        if not self.active:
            return loss
        g_adv = -self.judge(frames(rec)).float().mean()
        rec_grad, = torch.autograd.grad(loss, rec, retain_graph=True)
        adv_grad, = torch.autograd.grad(g_adv, rec, retain_graph=True)
        balance = (rec_grad.float().norm() / (adv_grad.float().norm() + 1e-8)).clamp(max=1e4).detach()
        self.sums["g_adv"] += g_adv.detach()
        self.sums["balance"] += balance
        return loss + self.cfg.vae_adv_weight * balance * g_adv

    def step(self, lr: float | None = None) -> None:
        """The discriminator's step on the last generator step's images (call after that step), at
        `lr` (None: its last rate)."""
        if self.pending is None:
            return
        x, rec = self.pending
        self.pending = None
        for group in self.opt.param_groups:
            group["lr"] = group["lr"] if lr is None else lr
        device = x.device
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            real, fake = self.judge(x), self.judge(rec)
            d_loss = F.relu(1 - real.float()).mean() + F.relu(1 + fake.float()).mean()
        self.opt.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt.step()
        self.steps += 1
        self.sums["d_loss"] += d_loss.detach()
        self.n += 1

    def log(self) -> dict:
        """Means since the last call: the discriminator's hinge loss, and once active the decoder's
        adversarial term and the balance factor."""
        out = {"adv_steps": self.steps}
        if self.n:
            out["d_loss"] = round(float(self.sums["d_loss"]) / self.n, 4)
            if self.active:
                out["g_adv"] = round(float(self.sums["g_adv"]) / self.n, 4)
                out["adv_balance"] = round(float(self.sums["balance"]) / self.n, 5)
        for v in self.sums.values():
            v.zero_()
        self.n = 0
        return out

    def state_dict(self) -> dict:
        return {"disc": self.disc.state_dict(), "optim": self.opt.state_dict(), "steps": self.steps}

    def load_state_dict(self, state: dict) -> None:
        self.disc.load_state_dict(state["disc"])
        self.opt.load_state_dict(state["optim"])
        self.steps = int(state["steps"])
