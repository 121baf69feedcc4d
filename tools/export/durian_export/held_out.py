"""The training loop's held-out measure: a fixed set of held-out people rendered once, with fixed
noise, whose loss is comparable across steps, runs and data paths, and (diffusion stages) the
implied clean latent's error at three noise levels (denoise_check)."""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from .components import denoised_decoder_loss, diffusion_loss_latent, encode_batch, parser_loss, vae_loss
from .data import SynthBatchMaker

if TYPE_CHECKING:
    from .train import Trainer


# noise levels of the held-out x0 check logged beside the held-out loss (diffusion stages)
HELD_OUT_TIMESTEPS = (300, 700, 900)


class HeldOut:
    """A fixed held-out set (people from the held-out seed range, rendered once) and fixed noise:
    the loss on it is comparable across steps, runs and data paths."""

    def __init__(self, trainer: Trainer, batches: int):
        self.t = trainer
        # diffusion stages: 8 held-out people for the per-noise-level check (denoise_check), which
        # shows whether the noisy steps that set a frame's structure are learned; the mean loss
        # is dominated by the low-noise steps and cannot (a stage-1 run logged a falling loss
        # and sampled broken frames: docs/training.md)
        self.check = None
        if trainer.diffusion:
            from .denoise_check import held_out_latents
            with torch.no_grad(), trainer.amp:
                self.check = held_out_latents(trainer.model, 8)
        maker = SynthBatchMaker(trainer.cfg, trainer.device, held_out=True)
        self.items = []
        with torch.no_grad(), trainer.amp:
            for i in range(batches):
                if trainer.diffusion:
                    self.items.append(encode_batch(trainer.model, maker.batch(i, 0, trainer.batch, trainer.frames)))
                elif trainer.denoised:  # the encoded clip and its target frames
                    b = maker.batch(i, 0, trainer.batch, trainer.frames)
                    self.items.append((encode_batch(trainer.model, b), b.target))
                else:
                    self.items.append(maker.images(i, 0, trainer.batch))

    @torch.no_grad()
    def loss(self) -> float:
        t, total = self.t, 0.0
        with t.amp:
            for i, item in enumerate(self.items):
                g = torch.Generator().manual_seed(1_000_003 + i)
                if t.diffusion:
                    total += float(diffusion_loss_latent(t.objective, t.model, item, g, t.null_ref, t.t_min))
                elif t.denoised:
                    total += float(denoised_decoder_loss(t.objective, t.model, *item, g, t.null_ref))
                elif t.stage == "vae":
                    total += float(vae_loss(t.model, item[0], g))
                else:
                    total += float(parser_loss(t.model, *item))
        return total / len(self.items)

    def x0_errors(self) -> dict | None:
        """Diffusion stages: {t: the implied clean latent's error / channel spread} at three noise levels."""
        if self.check is None:
            return None
        from .denoise_check import denoise_check
        with self.t.amp:
            rows = denoise_check(self.t.model, timesteps=HELD_OUT_TIMESTEPS, latents=self.check, decode=False)
        return {str(r["t"]): round(r["x0_rel"], 4) for r in rows}
