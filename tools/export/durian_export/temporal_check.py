"""python -m durian_export.temporal_check --checkpoint RUN_DIR [--cases 12 --frames 16 --steps 16]

Do the temporal layers help? On validation transfers (held-out people drawn from --case-seed,
never the benchmark's seed), the PyTorch sampler makes each video twice with the same noise: as
trained, and with every temporal layer's output projection zeroed (the layers switched off). Each
video is scored against the renderer's ground truth: PSNR over the frame, and jitter — the mean
|second difference| of the output's keypoints as the model's parser reads them, in pixels.
Printed: the per-variant means and the paired difference (on − off) with a bootstrap 95 %
confidence interval (scipy.stats.bootstrap, BCa, 10,000 resamples).

`--switch T` adds two videos a case, with the layers on for only part of the steps: `hi` (on while
t >= T, off below) and `lo` (off while t >= T, on below), each compared with `off`.

`--scales A,B` adds a video a case for each factor, with the layers' residual scaled by it (`sA`):
whether the layers point the right way but too far.

`--trace` follows the sampler step by step (guided predictions, the case's ground-truth latents
from the VAE encoder), for the `on` and the `off` trajectory:
- `x0_err`, `x0_psnr`: the mean squared error of the guided clean-latent prediction at that step,
  and the PSNR of its decoded frames against the ground truth;
- `x0_err_other`, `x0_psnr_other`: the same input run with the layers the other way (on ↔ off),
  the trajectory unchanged — a one-step comparison on the sampler's own inputs rather than on the forward
  process's, as training sees them;
- `noise_corr`: the correlation between neighbouring frames of the noise the input implies,
  (x_t − √ᾱ·x0_true) / √(1−ᾱ). Training draws every frame's noise independently (0 plus whatever
  the clean-latent error shares between frames); a trajectory whose frames' noise agrees more is
  outside what the layers were trained on.
Where `x0_err_other` shows the layers helping one step at a time while the `on` trajectory ends up
worse, the damage compounds over the steps (exposure bias); where the layers already hurt on the
`off` trajectory at some steps, those steps are where to look.
"""
from __future__ import annotations

import argparse
import contextlib
import json

import numpy as np
import torch

from .checkpoint import load_model
from .metrics import keypoint_jitter, paired_bootstrap, psnr
from .sample import sample_video, transfer_case
from .schedulers import implied_x0

VALIDATION_SEED = 2_000_000


def temporal_off(model):
    """Zero every temporal layer's output projection (restored afterwards): `temporal_scaled` at 0."""
    return temporal_scaled(model, 0.0)


@contextlib.contextmanager
def temporal_scaled(model, scale: float):
    """Every temporal layer's output projection multiplied by `scale` (restored afterwards): the
    layers' residual at that strength (1: as trained, 0: off)."""
    saved = []
    for name, mod in model.unet.named_modules():
        if name.endswith("temporal.attn.to_out"):
            saved.append((mod, mod.weight.detach().clone(), mod.bias.detach().clone()))
            with torch.no_grad():
                mod.weight.mul_(scale)
                mod.bias.mul_(scale)
    try:
        yield len(saved)
    finally:
        with torch.no_grad():
            for mod, w, b in saved:
                mod.weight.copy_(w)
                mod.bias.copy_(b)


@torch.no_grad()
def keypoints(model, frames: torch.Tensor) -> np.ndarray:
    return model.parser(frames * 2 - 1)[2].float().numpy()


def paired(on: list[float], off: list[float]) -> dict:
    """Means with the layers on and off, and the paired difference on − off with its 95 % interval
    (metrics.paired_bootstrap, the benchmark's own)."""
    if len(on) < 2:  # one case: the difference, without an interval
        return {"on": float(np.mean(on)), "off": float(np.mean(off)), "diff": float(np.mean(on) - np.mean(off)),
                "ci95": None}
    d = paired_bootstrap(on, off)
    return {"on": float(np.mean(on)), "off": float(np.mean(off)), "diff": d["mean"], "ci95": [d["low"], d["high"]]}


@torch.no_grad()
def objective_gap(model, batches: int, timesteps: list[int], frames: int, batch: int = 2) -> dict:
    """The stage-2 training objective on held-out clips (ordered, `frames` long, the training recipe's
    batches of held-out people), per timestep, with the temporal layers on and off: same clips, same
    noise, references and pose kept. Sampling quality and this loss can disagree; this says whether
    the layers learned to denoise better (training) or whether sampling loses it (inference)."""
    from .components import DiffusionObjective, Draws, encode_batch, null_reference
    from .data import SynthBatchMaker

    cfg = model.cfg
    maker = SynthBatchMaker(cfg, torch.device("cpu"), held_out=True)
    objective = DiffusionObjective(model)
    rows = {t: {"on": [], "off": []} for t in timesteps}
    for i in range(batches):
        lb = encode_batch(model, maker.batch(i, 0, batch, frames))
        null = null_reference(model, lb.portrait_in)
        draws = Draws.draw(cfg, lb.x0.shape, torch.Generator().manual_seed(1_000_003 + i))
        kept = torch.ones(batch)
        for t in timesteps:
            tt = torch.full((batch,), t, dtype=torch.long)
            for name, ctx in (("on", contextlib.nullcontext()), ("off", temporal_off(model))):
                with ctx:
                    loss = objective(lb.x0, lb.portrait_in, lb.attr_in, lb.pose, kept, kept, draws.noise, tt, null)
                rows[t][name].append(float(loss))
    return {str(t): {k: float(np.mean(v)) for k, v in r.items()} for t, r in rows.items()}


class Tracer:
    """A `denoise` for sample_video that runs the UNet with the layers on or off (`on_at(t)`), and,
    with `probe`, also the other way on the same input, recording each one's clean-latent error
    against `truth` [1, C, F, h, w] and the implied noise's frame-to-frame correlation, per step.
    The sampler's frames must fit one window (one call a step)."""

    def __init__(self, model, guidance_scale: float, on_at, truth: torch.Tensor | None = None, probe: bool = False,
                 target: torch.Tensor | None = None):
        self.model, self.g, self.on_at, self.truth, self.probe = model, guidance_scale, on_at, truth, probe
        self.target = target
        self.rows: list[dict] = []

    def _run(self, on: bool, *args):
        with contextlib.nullcontext() if on else temporal_off(self.model):
            return self.model.denoise_features(*args)

    def _x0_err(self, pred, x, a) -> tuple[float, float]:
        """The guided clean-latent prediction's mean squared error, and the PSNR of its decoded frames
        against the target frames."""
        guided = pred[1:2] + self.g * (pred[0:1] - pred[1:2])
        x0 = implied_x0(guided, x, a, self.model.schedule.config["prediction_type"])
        frames = self.model.decode(x0[0].permute(1, 0, 2, 3))
        return float(((x0 - self.truth) ** 2).mean()), psnr(frames, self.target)

    def __call__(self, xin, tt, *rest):
        t = int(tt[0])
        on = bool(self.on_at(t))
        pred = self._run(on, xin, tt, *rest)
        if self.truth is not None:
            if xin.shape[0] != 2:
                raise ValueError("--trace needs the video in one window (frames <= 16)")
            a = float(self.model.schedule.alphas_cumprod[t])
            x = xin[0:1]
            n = (x - a ** 0.5 * self.truth) / (1 - a) ** 0.5  # [1, C, F, h, w]
            n = n - n.mean(dim=(1, 3, 4), keepdim=True)
            nn_ = n[0].permute(1, 0, 2, 3).flatten(1)          # [F, C*h*w]
            corr = torch.nn.functional.cosine_similarity(nn_[:-1], nn_[1:], dim=1).mean()
            row = {"t": t, "on": on, "noise_corr": float(corr)}
            row["x0_err"], row["x0_psnr"] = self._x0_err(pred, x, a)
            if self.probe:
                row["x0_err_other"], row["x0_psnr_other"] = self._x0_err(self._run(not on, xin, tt, *rest), x, a)
            self.rows.append(row)
        return pred


def trace_summary(rows: list[dict], variants: list[str]) -> dict:
    """Per variant and step, the cases' mean of each traced figure."""
    out = {}
    for v in variants:
        steps = zip(*[r[v]["trace"] for r in rows])
        out[v] = [{k: (float(np.mean([s[k] for s in st])) if k not in ("t", "on") else st[0][k]) for k in st[0]}
                  for st in steps]
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m durian_export.temporal_check", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--cases", type=int, default=12)
    ap.add_argument("--first-case", type=int, default=0, help="the first case's number (cases first … first + cases − 1)")
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--steps", type=int, default=16)
    ap.add_argument("--guidance-scale", type=float, default=4.0)
    ap.add_argument("--eta", type=float, default=0.0,
                    help="DDIM eta: 0 deterministic (the CLI's sampler), 1 fresh noise every step as DDPM")
    ap.add_argument("--case-seed", type=int, default=VALIDATION_SEED)
    ap.add_argument("--json-out")
    ap.add_argument("--switch", type=int, metavar="T",
                    help="also the videos with the layers on only while t >= T (hi) and only while t < T (lo)")
    ap.add_argument("--scales", metavar="A,B,...",
                    help="also the videos with the layers' residual scaled by each factor (variants s<A>, ...)")
    ap.add_argument("--variants", help="comma-separated subset of on, off, hi, lo and the s<A> of --scales to make "
                                       "(default: all there are; off is always made, the baseline of every comparison)")
    ap.add_argument("--trace", action="store_true",
                    help="per sampler step: clean-latent error on both trajectories, the other setting's on the same "
                         "input, the implied noise's frame-to-frame correlation (frames <= 16)")
    ap.add_argument("--objective", type=int, default=0, metavar="BATCHES",
                    help="instead of sampling: the held-out training loss per timestep, layers on vs off, over "
                         "BATCHES batches of 2 clips")
    args = ap.parse_args(argv)
    model = load_model(args.checkpoint).eval()
    if args.objective:
        gap = objective_gap(model, args.objective, [20, 100, 250, 500, 750, 950], args.frames)
        print(json.dumps(gap, indent=1))
        if args.json_out:
            with open(args.json_out, "w") as f:
                json.dump({"checkpoint": str(args.checkpoint), "batches": args.objective, "objective": gap}, f, indent=1)
        return
    size = model.cfg.model.image_size
    # name → (layers on at timestep t?, their residual's scale when on)
    variants = {"on": (lambda t: True, 1.0), "off": (lambda t: False, 1.0)}
    if args.switch is not None:
        variants.update(hi=(lambda t: t >= args.switch, 1.0), lo=(lambda t: t < args.switch, 1.0))
    for a in (float(a) for a in args.scales.split(",")) if args.scales else ():
        variants[f"s{a:g}"] = (lambda t: True, a)
    if args.variants:
        keep = set(args.variants.split(",")) | {"off"}
        if keep - set(variants):
            raise SystemExit(f"--variants: unknown or unavailable {sorted(keep - set(variants))} (have {sorted(variants)})")
        variants = {k: v for k, v in variants.items() if k in keep}
    rows = []
    for i in range(args.first_case, args.first_case + args.cases):
        case = transfer_case(model.cfg.train_seed, args.case_seed + 2 * i, size, args.frames, "hair")
        gt_kp = keypoints(model, case.target)
        row = {"case": i, "gt_jitter": keypoint_jitter(gt_kp)}
        truth = None
        if args.trace:
            with torch.no_grad():
                truth = model.encode(case.target).permute(1, 0, 2, 3)[None]
        for name, (on_at, scale) in variants.items():
            tracer = Tracer(model, args.guidance_scale, on_at, truth, probe=args.trace, target=case.target)
            with temporal_scaled(model, scale):
                out = sample_video(model, case, steps=args.steps, guidance_scale=args.guidance_scale, seed=i,
                                   eta=args.eta, denoise=tracer)
            row[name] = {"psnr": psnr(out, case.target), "jitter": keypoint_jitter(keypoints(model, out))}
            if args.trace:
                row[name]["trace"] = tracer.rows
        rows.append(row)
        print(json.dumps(row), flush=True)
    report = {"checkpoint": args.checkpoint, "cases": args.cases, "frames": args.frames, "steps": args.steps, "eta": args.eta,
              "case_seed": args.case_seed, "gt_jitter": float(np.mean([r["gt_jitter"] for r in rows])),
              "switch": args.switch}
    for v in variants:
        if v != "off":  # each variant against the layers off: PSNR and jitter
            for k in ("psnr", "jitter"):
                report[k if v == "on" else f"{k}_{v}"] = paired([r[v][k] for r in rows], [r["off"][k] for r in rows])
    if args.trace:
        report["trace"] = trace_summary(rows, list(variants))
    print(json.dumps(report, indent=1))
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({**report, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
