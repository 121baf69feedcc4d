"""python -m durian_export.channel_weights --checkpoint RUN [--people 8] [--floor 0.25] [--sample-cases N] [--device D] [--json OUT]

How much each latent channel matters to the picture, measured through the run's own VAE decoder,
and the per-channel weights of the denoising loss (`channel_loss_weights`) that follow from it.

Why: the denoising loss (ε-MSE) counts an error of the same size in every latent channel the same.
The 16-channel VAE's image lives mostly in 4 wide channels: decoded, an error there moves the
frame 10× as much, on average, as the same error in one of the 12 narrow channels (docs/training.md,
sixth session). A stage-1 run on it drew the right shapes in the wrong colours, and putting the truth's 4
wide channels into its samples took them from 20.7 to 31.1 dB while the truth's 12 narrow ones
gave 21.2. Weighing each channel's error by how far it moves the decoded frame makes the loss
count what the picture shows.

For each channel c, on `--people` held-out people's first frames (the config's held-out seed
range, never trained on), encoded: add Gaussian noise of standard deviation 0.1 (diffusion-latent
units, after `latent_scale`) to that channel alone, decode, and take the decoded frame's mean
squared change per unit of noise variance (images in [0, 1]). The weights are those sensitivities
divided by their mean; `--floor` (a fraction of the mean weight) keeps every channel in the loss,
and the weights are scaled to mean 1 again after it. Prints a table and the `train` override.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from .metrics import DARK

NOISE_STD = 0.1


@torch.no_grad()
def decoder_sensitivity(model, latents: torch.Tensor, seed: int = 0) -> list[float]:
    """Per channel of `latents` [B, C, h, w] (diffusion units): the decoded frame's mean squared
    change (images in [0, 1]) per unit variance of noise added to that channel alone."""
    L = model.cfg.latent_scale
    g = torch.Generator().manual_seed(seed)
    decode = model.vae.decoder
    base = decode(latents / L)
    out = []
    for c in range(latents.shape[1]):
        z = latents.clone()
        z[:, c] += NOISE_STD * torch.randn(z[:, c].shape, generator=g).to(z.device)
        # the decoder works in [-1, 1]: a change of d there is d / 2 in [0, 1], so d² / 4
        out.append(float(((decode(z / L) - base).float() ** 2).mean() / 4 / NOISE_STD ** 2))
    return out


def weights_from(sensitivity: list[float], floor: float = 0.25) -> list[float]:
    """Sensitivities → loss weights of mean 1, none below `floor` of the mean before rescaling."""
    if not sensitivity or min(sensitivity) < 0 or sum(sensitivity) <= 0:
        raise ValueError(f"sensitivities must be ≥ 0 and not all 0, got {sensitivity}")
    if not 0 <= floor <= 1:
        raise ValueError(f"--floor must be in [0, 1], got {floor}")
    mean = sum(sensitivity) / len(sensitivity)
    w = [max(s / mean, floor) for s in sensitivity]
    m = sum(w) / len(w)
    return [round(v / m, 3) for v in w]


@torch.no_grad()
def swap_check(model, wide: list[int], cases: int = 6, steps: int = 16, guidance_scale: float = 4.0,
               eta: float = 1.0, dark: float = DARK) -> list[dict]:
    """Where a sample's error lives: `cases` hair transfers of the validation split (2 frames) sampled with the
    PyTorch sampler, their final latents decoded as they are, with the `wide` channels taken from
    the target's true latents, with each wide channel alone (`truth_<c>`), and with the other
    channels taken from it (PSNR against the target, images in [0, 1]); also the target's own round
    trip. Where at least 1 % of the target's pixels are dark (mean of RGB below `dark`), the same
    PSNRs over those pixels alone (`dark_…`): dark hair is where this latent space's colours went
    wrong (docs/training.md, seventh session)."""
    from .metrics import dark_pixels, psnr
    from .sample import sample_video, transfer_case
    from .temporal_check import VALIDATION_SEED

    device = next(model.parameters()).device
    rows = []
    for i in range(cases):
        case = transfer_case(VALIDATION_SEED, 2 * i, model.cfg.model.image_size, 2, "hair", device=device)
        got = {}
        frames = sample_video(model, case, steps=steps, guidance_scale=guidance_scale, seed=i, eta=eta,
                              on_latents=lambda x: got.setdefault("z", x[0].permute(1, 0, 2, 3)))
        target = case.target.to(device)
        truth = model.encode(target)
        keep = torch.zeros(truth.shape[1], dtype=torch.bool, device=device)
        keep[wide] = True
        dark_px = dark_pixels(target, dark)
        decoded = {"sampled": frames, "round_trip": model.decode(truth)}
        swaps = [("truth_wide", keep), ("truth_narrow", ~keep)]
        for c in wide:
            one = torch.zeros_like(keep)
            one[c] = True
            swaps.append((f"truth_{c}", one))
        for name, mask in swaps:
            z = got["z"].clone()
            z[:, mask] = truth[:, mask]
            decoded[name] = model.decode(z)
        row = {"case": i, **{name: psnr(img, target) for name, img in decoded.items()}}
        if dark_px is not None:
            row.update({f"dark_{name}": psnr(img, target, dark_px) for name, img in decoded.items()})
        rows.append(row)
    return rows


def main(argv=None) -> None:
    from .checkpoint import load_model
    from .denoise_check import held_out_latents

    ap = argparse.ArgumentParser(prog="python -m durian_export.channel_weights", description=__doc__.split("\n\n")[1])
    ap.add_argument("--checkpoint", required=True, help="run directory (ckpt.pt or its parts)")
    ap.add_argument("--people", type=int, default=8, help="held-out people (first frames) to measure on")
    ap.add_argument("--floor", type=float, default=0.25, help="least weight, as a fraction of the mean")
    ap.add_argument("--sample-cases", type=int, default=0, metavar="N",
                    help="also sample N held-out hair transfers (2 frames, 16 steps, guidance 4, eta 1; "
                         "about 20 s each on a 2-core CPU) and decode them with the wide channels (weight ≥ 1), "
                         "each wide channel alone, then the others, from the truth, over the whole frame and "
                         "over its dark pixels: where the samples' error lives")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                    help="where to run (on an H200 the sampled figures matched the CPU's within 0.05 dB)")
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args(argv)
    torch.set_grad_enabled(False)
    model = load_model(Path(args.checkpoint)).to(args.device).eval()
    z = held_out_latents(model, args.people).x0[:, :, 0]          # [B, C, h, w], first frames
    sens = decoder_sensitivity(model, z)
    spread = [float(v) for v in z.std(dim=(0, 2, 3))]
    weights = weights_from(sens, args.floor)
    print("| channel | spread | decoded change per unit noise variance | weight |")
    print("| --- | --- | --- | --- |")
    for c, (sp, s, w) in enumerate(zip(spread, sens, weights)):
        print(f"| {c} | {sp:.2f} | {s:.2e} | {w:.3f} |")
    override = "channel_loss_weights=" + json.dumps(weights, separators=(",", ":"))
    print(f"\n{override}")
    report = {"spread": spread, "sensitivity": sens, "weights": weights, "override": override}
    if args.sample_cases:
        wide = [c for c, w in enumerate(weights) if w >= 1]
        rows = swap_check(model, wide, args.sample_cases)
        keys = ("sampled", "truth_wide", "truth_narrow", "round_trip", *(f"truth_{c}" for c in wide))
        mean = {k: sum(r[k] for r in rows) / len(rows) for k in keys}
        print(f"\n{len(rows)} held-out hair transfers, PSNR (dB), mean: as sampled {mean['sampled']:.2f}; "
              f"wide channels {wide} from the truth {mean['truth_wide']:.2f}; the others from the truth "
              f"{mean['truth_narrow']:.2f}; the truth's round trip {mean['round_trip']:.2f}")
        print("one wide channel from the truth: " + "; ".join(f"{c}: {mean[f'truth_{c}']:.2f}" for c in wide))
        dark_rows = [r for r in rows if "dark_sampled" in r]
        if dark_rows:
            dark_mean = {k: sum(r[f"dark_{k}"] for r in dark_rows) / len(dark_rows) for k in keys}
            print(f"dark pixels ({len(dark_rows)} cases with ≥ 1 % of them): as sampled {dark_mean['sampled']:.2f}; "
                  f"wide from the truth {dark_mean['truth_wide']:.2f}; "
                  + "; ".join(f"{c} alone {dark_mean[f'truth_{c}']:.2f}" for c in wide))
            report.update(dark_mean=dark_mean)
        report.update(wide=wide, swap=rows, swap_mean=mean)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
