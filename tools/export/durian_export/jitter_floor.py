"""python -m durian_export.jitter_floor RUN --model MODEL [--vae MODEL2] [--json OUT]

How much of the output's jitter could a perfect diffusion model remove? The benchmark's jitter is
the mean |second difference| of keypoints that the model's parser reads off the frames, and it is
compared with the truth's motion (the renderer's own keypoints). Two things stand between the two
and are not the diffusion model's doing:
- the parser: read off the ground-truth frames themselves, its keypoints shake more than the
  renderer's (`eval` reports that as `gt_parser_jitter_px`);
- the VAE: every output frame is decoded from a latent, so even the truth, encoded and decoded by
  the model's VAE and rounded to 8 bits as the CLI writes its frames, is what a perfect denoiser
  could at best hand the parser.

For every non-interpolation case of an eval run (`durian_export.eval --out RUN`; frame 0, the
portrait's own pose, left out as the scorer does), this prints per group the jitter of the
renderer's keypoints, of the parser on the truth, on the truth's VAE round trip and on the output,
and the paired differences (bootstrap 95 %) of round trip − truth and output − round trip.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from .eval import _read_frames, parse_keypoints, read_truth
from .eval_cases import model_frame, warp
from .eval_compare import load_cases
from .metrics import keypoint_jitter, paired_bootstrap
from .region_colour import vae_round_trip


def case_jitter(case_dir: Path, model: Path, size: int, template: np.ndarray, vae) -> dict:
    """The four jitters of one case, in model pixels."""
    t, m, gt_frames, _ = read_truth(case_dir, size, template)
    gt = warp(gt_frames, m, size)
    out = _read_frames(case_dir / "ours")[1:]
    if out.shape != gt.shape:
        raise SystemExit(f"{case_dir}: {out.shape[0]} output frames against {gt.shape[0]} ground-truth frames")
    round_trip = (vae(gt) * 255).round() / 255  # the CLI writes 8-bit frames
    kp = t["keypoints"].numpy() @ m[:, :2].T + m[:, 2]
    return {"case": case_dir.name, "truth": keypoint_jitter(kp), "truth_parsed": keypoint_jitter(parse_keypoints(model, gt)),
            "round_trip_parsed": keypoint_jitter(parse_keypoints(model, round_trip)),
            "output_parsed": keypoint_jitter(parse_keypoints(model, out))}


def summarise(rows: list[dict]) -> dict:
    col = lambda k: [r[k] for r in rows]  # noqa: E731
    s = {"cases": len(rows), **{k: round(float(np.mean(col(k))), 3)
                                for k in ("truth", "truth_parsed", "round_trip_parsed", "output_parsed")}}
    if len(rows) >= 2:
        s["round_trip_minus_truth_parsed"] = paired_bootstrap(col("round_trip_parsed"), col("truth_parsed"))
        s["output_minus_round_trip"] = paired_bootstrap(col("output_parsed"), col("round_trip_parsed"))
    return s


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", type=Path, help="an eval output folder (--out of durian_export.eval)")
    ap.add_argument("--model", type=Path, required=True, help="the model folder whose VAE makes the round trip and "
                    "whose parser reads the keypoints (give the run's --keypoint-parser model if it had one)")
    ap.add_argument("--vae", type=Path, help="make the round trip with this model folder's VAE graphs instead "
                    "(a decoder under trial, read by --model's parser)")
    ap.add_argument("--json", type=Path, help="also write the per-case jitters and the summary here")
    args = ap.parse_args(argv)
    if not (args.run / "cases").is_dir():
        raise SystemExit(f"{args.run}: no cases/ folder (not an eval run)")
    _, size, template = model_frame(args.model)
    vae = vae_round_trip(args.vae or args.model)
    groups: dict[str, list[dict]] = {}
    for c in load_cases(args.run):  # the run's own record of each case's group
        if c["kind"] != "interpolation" and "ours" in c:
            groups.setdefault(f"{c['kind']}/{c['cls']}", []).append(
                case_jitter(args.run / "cases" / c["case"], args.model, size, template, vae))
    if not groups:
        raise SystemExit(f"{args.run}: no scored case with output frames")
    report = {g: {"summary": summarise(rows), "cases": rows} for g, rows in groups.items()}

    def ci(s: dict | None) -> str:
        return "" if s is None else f"{s['mean']:+.2f} [{s['low']:+.2f}, {s['high']:+.2f}]"
    print("| group | cases | truth (renderer) | parser on truth | on its VAE round trip | on output | "
          "round trip − truth | output − round trip |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for g, r in report.items():
        s = r["summary"]
        print(f"| {g} | {s['cases']} | {s['truth']:.2f} | {s['truth_parsed']:.2f} | {s['round_trip_parsed']:.2f} | "
              f"{s['output_parsed']:.2f} | {ci(s.get('round_trip_minus_truth_parsed'))} | {ci(s.get('output_minus_round_trip'))} |")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
