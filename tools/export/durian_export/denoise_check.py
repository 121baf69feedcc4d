"""python -m durian_export.denoise_check --checkpoint RUN [--checkpoint RUN2 ...] [--frames N] [--temporal-off]
    [--device cuda] [--json OUT]

How well a trained denoiser (stage 1 or 2) predicts the clean frame at each noise level, on
held-out SynthPortrait people (the config's `hold_out_seed`, never trained on), with fixed noise.
For each timestep t it runs the UNet once on the truth noised to t, with the true references and
pose, and reports:

- `loss`: the training objective's unweighted error (ε- or v-MSE) at t;
- `x0_rel`: the error of the implied clean latent per latent channel, relative to that channel's
  spread over the batch (mean over channels, and the worst channel). Above 1 the prediction is
  further from the truth than the channel's mean would be;
- `x0_psnr`: that implied clean latent decoded, against the decoded true latent (dB): what a
  sampler that jumped from t straight to the end would draw. Unlike the losses, it compares runs
  with different VAEs and latent spaces;
- `x0_psnr_dark`: the same over the dark pixels of the decoded truth alone (mean of RGB below
  0.15), and `x0_psnr_dark_c9` with latent channel 9 of the prediction replaced by the truth's
  (16-channel latents only): at which noise levels the dark colours go wrong, and how much of it is
  that channel, the one the sampled dark-colour error lives in (docs/training.md, seventh session).

Why: the held-out loss that training logs averages over timesteps and is dominated by the
low-noise ones, where ε is hardest to see; it stayed low for a stage-1 run whose samples were
broken, because that run had not learned the high-noise steps that set a frame's structure
(docs/training.md, 2026-11-29 fifth session). This check shows that in about a minute a run on the
CPU, before any sampling or eval. For self cases of a model conditioned on the person and the pose,
a healthy run keeps `x0_rel` well below 1 even near t = 1000.

`--frames N` runs it on clips of N frames (the stage-2 recipe's way of drawing them), so that the
temporal layers see what they were trained on; every frame is decoded and scored. `--temporal-off`
adds each run once more with its temporal layers' outputs zeroed (the stage-1 model alone): whether
stage 2 made the clean-frame prediction better or worse, and at which noise levels.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from . import metrics

TIMESTEPS = (20, 100, 300, 500, 700, 900, 990)
DARK = metrics.DARK  # a decoded truth pixel darker than this counts as dark (patched in tests)
DARK_CHANNEL = 9  # of the 16-channel latent space: where the sampled dark-colour error lives


@torch.no_grad()
def held_out_latents(model, batch: int = 8, frames: int = 1):
    """The check's inputs: `batch` held-out people's clips of `frames` frames, encoded (a
    LatentBatch)."""
    from .components import encode_batch
    from .data.synth_data import SynthBatchMaker

    device = next(model.parameters()).device
    return encode_batch(model, SynthBatchMaker(model.cfg, device, held_out=True).batch(0, 0, batch, frames))


def _each_frame(z: torch.Tensor) -> torch.Tensor:
    """[B, C, F, h, w] latents as [B*F, C, h, w], every frame on its own for the decoder."""
    return z.transpose(1, 2).flatten(0, 1)


@torch.no_grad()
def denoise_check(model, batch: int = 8, timesteps=TIMESTEPS, seed: int = 0, latents=None,
                  decode: bool = True, frames: int = 1) -> list[dict]:
    """Per timestep: loss, x0_rel (mean and worst channel) and, with `decode`, x0_psnr, on `batch`
    held-out people (or on `latents`, from held_out_latents, to repeat the check on the same people
    during training). The model's train/eval mode is restored afterwards."""
    was_training = model.training
    model.eval()
    try:
        lb = latents if latents is not None else held_out_latents(model, batch, frames)
        return _check(model, lb, timesteps, seed, decode)
    finally:
        model.train(was_training)


def _check(model, lb, timesteps, seed: int, decode: bool) -> list[dict]:
    device = lb.x0.device
    x0 = lb.x0                                   # [B, C, F, h, w]
    batch = x0.shape[0]
    spread = x0.transpose(0, 1).flatten(1).std(1)  # per channel
    refs = model.references_of_inputs(lb.portrait_in, lb.attr_in)
    members = torch.ones(batch, 1, 1, device=device)
    weights = torch.ones(batch, x0.shape[2], 1, device=device)  # [B, F, G]: every frame in the one group
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed)).to(device)

    truth = model.decode(_each_frame(x0)) if decode else None
    dark = metrics.dark_pixels(truth, DARK) if decode else None
    rows = []
    for t in timesteps:
        tt = torch.full((batch,), int(t), device=device)
        noisy = model.schedule.add_noise(x0, noise, tt)
        pred = model.denoise(noisy, tt.float(), lb.pose, refs, members, weights).float()
        loss = float(((pred - model.schedule.target(x0, noise, tt)) ** 2).mean())
        x0_hat = model.schedule.predict_x0(pred, noisy, tt)
        rel = ((x0_hat - x0) ** 2).transpose(0, 1).flatten(1).mean(1).sqrt() / spread
        row = {"t": int(t), "loss": loss, "x0_rel": float(rel.mean()), "x0_rel_worst": float(rel.max())}
        if decode:
            drawn = model.decode(_each_frame(x0_hat))
            row["x0_psnr"] = metrics.psnr(drawn, truth)
            if dark is not None:
                row["x0_psnr_dark"] = metrics.psnr(drawn, truth, dark)
                if x0.shape[1] > DARK_CHANNEL:
                    swapped = x0_hat.clone()
                    swapped[:, DARK_CHANNEL] = x0[:, DARK_CHANNEL]
                    row["x0_psnr_dark_c9"] = metrics.psnr(model.decode(_each_frame(swapped)), truth, dark)
        rows.append(row)
    return rows


def main(argv=None) -> None:
    from .checkpoint import load_model
    from .temporal_check import temporal_off

    ap = argparse.ArgumentParser(prog="python -m durian_export.denoise_check", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", action="append", required=True, help="run directory (repeat to compare runs)")
    ap.add_argument("--batch", type=int, default=8, help="held-out people")
    ap.add_argument("--frames", type=int, default=1, help="frames a clip (stage 2 trains on clips)")
    ap.add_argument("--temporal-off", action="store_true",
                    help="also check each run with its temporal layers' outputs zeroed")
    ap.add_argument("--timesteps", default=",".join(map(str, TIMESTEPS)))
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args(argv)
    timesteps = [int(t) for t in args.timesteps.split(",")]
    out = {}
    for run in args.checkpoint:
        model = load_model(Path(run)).to(args.device)
        lb = held_out_latents(model, args.batch, args.frames)  # the same clips for both settings
        out[run] = denoise_check(model, timesteps=timesteps, latents=lb)
        if args.temporal_off:
            with temporal_off(model):
                out[f"{run} (layers off)"] = denoise_check(model, timesteps=timesteps, latents=lb)
    print("| run | " + " | ".join(f"t={t}" for t in timesteps) + " |")
    print("|---|" + "---|" * len(timesteps))
    for key, label in (("loss", "loss"), ("x0_rel", "x0 error / channel spread"),
                       ("x0_rel_worst", "worst channel"), ("x0_psnr", "x0 decoded, dB"),
                       ("x0_psnr_dark", "x0 decoded, dark pixels, dB"),
                       ("x0_psnr_dark_c9", f"the same, channel {DARK_CHANNEL} from the truth, dB")):
        for run, rows in out.items():
            if key in rows[0]:
                print(f"| {run} {label} | " + " | ".join(f"{r[key]:.3f}" if "psnr" not in key else f"{r[key]:.2f}"
                                                       for r in rows) + " |")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
