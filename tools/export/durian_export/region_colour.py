"""python -m durian_export.region_colour RUN --model MODEL [--groups beard,glasses] [--json OUT]

Is a transferred attribute drawn in the right colour, and if not, whose fault is it? For every
transfer case of an eval run (`durian_export.eval --out RUN`), the mean colour inside the truth's
attribute mask (aligned as the scorer aligns it, covered pixels only) of three things:
- the ground truth;
- the ground truth through the model's VAE (its encoder and decoder graphs): what the latent space
  can hold of the region;
- the model's output (the CLI's frames; frame 0, the portrait's own pose, left out as the scorer does).

`--groups iris` reads the eyes instead, in every case of the run (self and transfer): the mean
colour in a disc at each eye's centre (`metrics.iris_disc`, from the truth's keypoints, both eyes
pooled), where the model has drawn irises of the wrong colour (dark blue where the truth's are
green). The summary then also gives the mean over cases of |round trip − truth| and |output −
truth| (L1 of the mean colours, averaged over R, G, B), since a colour error of either sign counts.

It prints per group the mean of (round trip - truth) and (output - truth) per RGB channel, and in how
many cases the output is brighter than the truth. A round trip near 0 beside a large output error
puts a colour bias on the diffusion model, not on the VAE (docs/training.md, sixteenth and
seventeenth sessions: transferred glasses come out milky on both case splits; beards off in
brightness, lighter on one split and darker on average on the other).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from .eval import _read_frames, read_truth
from .eval_cases import CLS, model_frame, warp
from .metrics import REGIONS, iris_disc
from .ort_cpu import cpu_session

GROUPS = ("hair", "hat", "glasses", "beard", "iris")


def case_colours(case_dir: Path, cls: str, size: int, template: np.ndarray, vae) -> dict | None:
    """Mean RGB in [0, 1] of the truth, its VAE round trip and the output inside the truth's `cls`
    mask, over the scored frames; None where the aligned mask covers no pixel."""
    t, m, gt_frames, covered = read_truth(case_dir, size, template)
    gt = warp(gt_frames, m, size)
    if cls == "iris":
        kp = torch.from_numpy((t["keypoints"].numpy() @ m[:, :2].T + m[:, 2]).astype(np.float32))
        mask = ((iris_disc(kp, *REGIONS["right_eye"], size) + iris_disc(kp, *REGIONS["left_eye"], size)) > 0) & covered
    else:
        mask = (warp(t["masks"], m, size)[:, CLS[cls]:CLS[cls] + 1] > 0.5) & covered
    n = int(mask.sum())
    if n == 0:
        return None
    out = _read_frames(case_dir / "ours")[1:]
    if out.shape != gt.shape:
        raise SystemExit(f"{case_dir}: {out.shape[0]} output frames against {gt.shape[0]} ground-truth frames")
    round_trip = vae(gt)

    def mean(x: torch.Tensor) -> list[float]:
        return [float(v) for v in (x * mask).sum((0, 2, 3)) / n]

    return {"case": case_dir.name, "pixels": n, "truth": mean(gt), "round_trip": mean(round_trip), "output": mean(out)}


def vae_round_trip(model: Path):
    """frames [N, 3, H, W] in [0, 1] → the same through the model's VAE encoder and decoder graphs (CPU)."""
    enc, dec = cpu_session(model / "vae_encoder.onnx"), cpu_session(model / "vae_decoder.onnx")

    def round_trip(frames: torch.Tensor) -> torch.Tensor:
        # the graphs' image range is [-1, 1] (the manifest's image_range); frames are [0, 1]
        latent = enc.run(None, {"sample": (frames * 2 - 1).numpy().astype(np.float32)})[0]
        return torch.from_numpy(dec.run(None, {"latent": latent})[0]).clamp(-1, 1) * 0.5 + 0.5
    return round_trip


def summarise(rows: list[dict]) -> dict:
    truth = np.array([r["truth"] for r in rows])
    rt = np.array([r["round_trip"] for r in rows])
    out = np.array([r["output"] for r in rows])
    return {"cases": len(rows),
            "round_trip_minus_truth": [round(float(v), 4) for v in (rt - truth).mean(0)],
            "output_minus_truth": [round(float(v), 4) for v in (out - truth).mean(0)],
            "output_brighter_in": int(((out - truth).mean(1) > 0).sum()),
            "round_trip_l1": round(float(np.abs(rt - truth).mean()), 4), "output_l1": round(float(np.abs(out - truth).mean()), 4)}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", type=Path, help="an eval output folder (--out of durian_export.eval)")
    ap.add_argument("--model", type=Path, required=True, help="the model folder whose VAE graphs make the round trip "
                    "(and whose manifest gives the frame)")
    ap.add_argument("--groups", default=",".join(GROUPS), help="attribute classes to read, comma-separated")
    ap.add_argument("--json", type=Path, help="also write the per-case colours and the summary here")
    args = ap.parse_args(argv)
    groups = [g.strip() for g in args.groups.split(",") if g.strip()]
    unknown = [g for g in groups if g not in GROUPS]
    if unknown:
        raise SystemExit(f"--groups: no attribute class {', '.join(unknown)} (one of {', '.join(GROUPS)})")
    if not (args.run / "cases").is_dir():
        raise SystemExit(f"{args.run}: no cases/ folder (not an eval run)")
    _, size, template = model_frame(args.model)
    vae = vae_round_trip(args.model)
    report = {}
    for cls in groups:
        # the irises of every self and transfer case, per group; an attribute's colour in its transfers
        dirs = {f"transfer/{cls}": sorted((args.run / "cases").glob(f"*-transfer-{cls}"))} if cls != "iris" else {
            f"iris: {kind}/{c}": sorted((args.run / "cases").glob(f"*-{kind}-{c}"))
            for kind in ("self", "transfer") for c in GROUPS[:-1]}
        for group, ds in dirs.items():
            rows = [r for d in ds if (r := case_colours(d, cls, size, template, vae)) is not None]
            if rows:
                report[group] = {"summary": summarise(rows), "cases": rows}
    if not report:
        raise SystemExit(f"{args.run}: no transfer case of {', '.join(groups)} with its attribute in frame")
    print("| group | cases | VAE round trip − truth (R, G, B) | output − truth (R, G, B) | output brighter in "
          "| round trip L1 | output L1 |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for g, r in report.items():
        s = r["summary"]
        fmt = lambda v: ", ".join(f"{x:+.3f}" for x in v)  # noqa: E731
        print(f"| {g} | {s['cases']} | {fmt(s['round_trip_minus_truth'])} | {fmt(s['output_minus_truth'])} | "
              f"{s['output_brighter_in']} of {s['cases']} | {s['round_trip_l1']:.4f} | {s['output_l1']:.4f} |")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
