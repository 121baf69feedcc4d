"""python -m durian_export.eval --model models/durian-synth --out DIR [--per-class 4 --frames 8 --steps 20]

Quality benchmark through the product path: fixed, seeded, held-out cases rendered by
SynthPortrait are written to disk with their sidecars, run through the TypeScript CLI
(`durian batch`), and scored in Python against the renderer's ground truth:

- self-reconstruction (the paper's Table 1 protocol): references and targets from one clip;
- cross-identity transfer per class: identity A, attribute of B, motion C, against render(A wearing
  B's attribute, moving as C) — PSNR/SSIM of the frame, L1 inside the attribute region, L1 in the
  identity region outside it;
- the edit-then-animate baselines: B's aligned attribute region pasted onto A's portrait, then
  animated by the same model — `baseline`: the edited image as both references (the attribute
  region cut out of the portrait, as Durian does); `plain`: the edited image as the whole
  appearance with an empty attribute reference (the model as a one-image animator).

The CLI aligns every input to the model's face template; the ground truth is warped by the same
similarity transform (estimated here exactly as src/face/align.ts does) before scoring, and only
the pixels the warped ground truth covers are scored (no padding in any metric). Beside the
whole-frame metrics: L1 in the left-eye, right-eye and mouth boxes from the keypoints. For each
group of cases, ours against each baseline: the mean paired difference per metric with a bootstrap
95 % interval (metrics.py).

Parts: eval_cases.py (cases, jobs, alignment), metrics.py (PSNR/SSIM/regions/bootstrap, shared with
the other tools), eval_report.py (summary, benchmark.md, picture); this file scores and runs.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from . import metrics
from .cli import run_durian, start_durian
from .eval_cases import (
    CLS,
    HOLD_OUT_SEED,
    build_case,
    build_cases,
    coverage,
    estimate_similarity,
    model_frame,
    plan_cases,
    warp,
    write_jobs,
)
from .eval_report import METHODS, summarise, write_picture, write_report
from .metrics import keypoint_jitter, psnr, region_l1, ssim
from .ort_cpu import cpu_session
from .synth import catalog

__all__ = ["CLS", "HOLD_OUT_SEED", "build_cases", "coverage", "estimate_similarity", "main", "psnr", "region_l1",
           "score_case", "ssim", "summarise", "warp", "write_jobs", "write_report"]


def _batch_args(jobs: Path, model: Path, provider: str) -> list[str]:
    return ["batch", str(jobs), "--model", str(model), "--provider", provider, "--json", "--resume"]


def _summary(stdout: str, stderr: str) -> dict:
    if not stdout.strip():
        raise RuntimeError(f"durian batch printed nothing: {stderr[-2000:]}")
    return json.loads(stdout)


def run_cli(jobs: Path, model: Path, provider: str = "cpu") -> dict:
    """`durian batch` on the jobs (the product path); returns its JSON summary."""
    r = run_durian(_batch_args(jobs, model, provider))
    return _summary(r.stdout, r.stderr)


def run_pipelined(chunks: list[list[dict]], out: Path, model: Path, args, size: int, template: np.ndarray,
                  build) -> tuple[list[dict], list[dict], dict]:
    """Runs the benchmark in chunks of cases so the Python side hides behind the CLI: while
    `durian batch` (one process, the model loaded once per chunk) generates chunk k, this process
    writes the cases of chunk k + 1 and scores chunk k − 1 (one torch thread, so it takes one core
    and leaves the rest to onnxruntime). Returns the cases and their scores in plan order, and the CLI
    summaries merged."""
    built = [build(chunks[0])]
    scores: list[dict] = []
    merged = {"jobs": 0, "succeeded": 0, "skipped": 0, "failed": 0, "outcomes": []}
    for k in range(len(chunks)):
        jobs = write_jobs(built[k], out, args.steps, args.seed, args.guidance_scale, name=f"jobs-{k:03d}.jsonl",
                          eta=args.eta, ours_only=args.ours_only, noise_correlation=args.noise_correlation)
        proc = start_durian(_batch_args(jobs, model, args.provider))
        try:
            if k + 1 < len(chunks):
                built.append(build(chunks[k + 1]))
            if k > 0:
                scores += [score_case(c, size, template, args.scorer, args.ours_only) for c in built[k - 1]]
            stdout, stderr = proc.communicate()
        except BaseException:
            proc.kill()
            raise
        s = _summary(stdout, stderr)
        if s["failed"]:
            raise SystemExit(f"{s['failed']} job(s) failed: {[o for o in s['outcomes'] if o['status'] == 'failed']}")
        for key in ("jobs", "succeeded", "skipped", "failed"):
            merged[key] += s[key]
        merged["outcomes"] += s["outcomes"]
    scores += [score_case(c, size, template, args.scorer, args.ours_only) for c in built[-1]]
    return [c for chunk in built for c in chunk], scores, merged


def _read_frames(d: Path) -> torch.Tensor:
    files = sorted(d.glob("*.png"))
    return torch.stack([torch.from_numpy(np.asarray(Image.open(f).convert("RGB"), dtype=np.float32) / 255).permute(2, 0, 1)
                        for f in files])


def read_truth(d: Path, size: int, template: np.ndarray, frames: bool = True):
    """A case's truth.pt, the similarity that aligns it to the model's template (as the CLI aligns its
    inputs), its ground-truth frames (unaligned; None without `frames`, e.g. for interpolation, whose
    truth is its two ends) and the model-frame pixels the aligned truth covers."""
    t = torch.load(d / "truth.pt")
    m = estimate_similarity(t["portrait_kp"].numpy(), template)
    gt_frames = _read_frames(d / "gt") if frames else None
    covered = coverage(m, tuple((gt_frames if frames else t["ends"]).shape[-2:]), size)
    return t, m, gt_frames, covered


@functools.lru_cache(maxsize=2)
def _parser_session(model: str):
    return cpu_session(Path(model) / "parser.onnx", threads=1)  # runs beside the CLI (run_pipelined): one core


def parse_keypoints(model: Path, frames: torch.Tensor) -> np.ndarray:
    """68 keypoints of each frame [N, 3, H, W] by the model's parser graph (onnxruntime CPU, one
    session per model for the whole run, all frames in one call)."""
    return _parser_session(str(model)).run(["keypoints"], {"image": (frames * 2 - 1).numpy()})[0]


def motion_scores(model: Path, out: torch.Tensor, gt_kp: np.ndarray, gt_parsed: np.ndarray | None = None) -> dict:
    """Keypoint error of the output (through the parser) against the aligned guidance, and temporal
    jitter (mean |second difference|) of the output's keypoints against the ground truth's.

    The parser is the measuring instrument, and it is not exact: on the ground truth's own frames it
    is off by a few pixels and adds jitter that the renderer's keypoints do not have. gt_parsed (the
    parser's keypoints of the ground-truth frames) gives that floor: `gt_parser_error_px` and
    `gt_parser_jitter_px`, what a perfect output would score."""
    kp = parse_keypoints(model, out)
    err = float(np.linalg.norm(kp - gt_kp, axis=-1).mean())
    scores = {"keypoint_error_px": err, "jitter_px": keypoint_jitter(kp), "gt_jitter_px": keypoint_jitter(gt_kp)}
    if gt_parsed is not None:
        scores["gt_parser_error_px"] = float(np.linalg.norm(gt_parsed - gt_kp, axis=-1).mean())
        scores["gt_parser_jitter_px"] = keypoint_jitter(gt_parsed)
    return scores


def score_frames(out: torch.Tensor, gt: torch.Tensor, covered: torch.Tensor, cls_mask: torch.Tensor,
                 face: torch.Tensor, kp: torch.Tensor) -> dict:
    """Every image metric of out vs gt ([N, 3, H, W]) on the covered pixels (bool [1 or N, 1, H, W]):
    whole frame, attribute region, identity region, left eye, right eye, mouth (keypoints kp [N, 68, 2]);
    and how much the attribute region's colour wanders over the clip (`metrics.colour_drift`, in the
    truth's attribute mask), with the truth's own figure beside it."""
    cov = covered.expand(len(out), -1, -1, -1)
    c = cov.float()
    return {"psnr": psnr(out, gt, cov), "ssim": ssim(out, gt, cov), "l1": region_l1(out, gt, c),
            "attr_l1": region_l1(out, gt, cls_mask * c), "identity_l1": region_l1(out, gt, face * c),
            **metrics.region_errors(out, gt, kp, cov), "iris_colour_l1": metrics.iris_colour_error(out, gt, kp, cov),
            "attr_colour_drift": metrics.colour_drift(out, cls_mask * c),
            "gt_attr_colour_drift": metrics.colour_drift(gt, cls_mask * c)}


def score_case(case: dict, size: int, template: np.ndarray, model: Path | None = None, ours_only: bool = False) -> dict:
    """Scores ours and the baselines (not with ours_only) against the aligned ground truth on the pixels
    it covers (the first output frame is the portrait's own pose and is left out)."""
    d = Path(case["dir"])
    t, m, gt_frames, covered = read_truth(d, size, template, frames=case["kind"] != "interpolation")
    if case["kind"] == "interpolation":
        return _score_interpolation(case, t, m, size, covered)
    gt = warp(gt_frames, m, size)
    masks = warp(t["masks"], m, size)
    cls_mask = sum(masks[:, CLS[c]:CLS[c] + 1] for c in case["cls"].split("+"))
    face = masks[:, CLS["face"]:CLS["face"] + 1] * (1 - cls_mask)
    kp = t["keypoints"].numpy()
    gt_kp = kp @ m[:, :2].T + m[:, 2]
    kp_t = torch.from_numpy(gt_kp.astype(np.float32))
    result = {"case": d.name, "kind": case["kind"], "cls": case["cls"], "covered_fraction": float(covered.float().mean())}
    gt_parsed = parse_keypoints(model, gt) if model is not None else None
    for name in METHODS if case["kind"] != "composition" and not ours_only else ("ours",):
        out = _read_frames(d / name)[1:]
        result[name] = score_frames(out, gt, covered, cls_mask, face, kp_t)
        if model is not None:
            result[name].update(motion_scores(model, out, gt_kp, gt_parsed))
    return result


def _score_interpolation(case: dict, t: dict, m: np.ndarray, size: int, covered: torch.Tensor) -> dict:
    d = Path(case["dir"])
    out = _read_frames(d / "ours")
    ends = warp(t["ends"], m, size)
    hair = warp(t["end_masks"][:, CLS["hair"]:CLS["hair"] + 1], m, size).amax(0, keepdim=True) * covered.float()
    # change of the hair region from the first frame, frame by frame: monotonic in α?
    change = [region_l1(out[i:i + 1], out[:1], hair) for i in range(len(out))]
    steps = np.diff(change)
    return {"case": d.name, "kind": "interpolation", "cls": "hair", "change": change, "covered_fraction": float(covered.float().mean()),
            "monotonic_fraction": float((steps >= -1e-3).mean()) if len(steps) else 1.0,
            "start": {"psnr": psnr(out[:1], ends[:1], covered), "attr_l1": region_l1(out[:1], ends[:1], hair)},
            "end": {"psnr": psnr(out[-1:], ends[1:], covered), "attr_l1": region_l1(out[-1:], ends[1:], hair)}}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m durian_export.eval", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="model directory (the CLI runs it)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--per-class", type=int, default=16, help="cases per self/transfer class, composition, interpolation")
    ap.add_argument("--frames", type=int, default=4, help="scored frames per case (the CLI generates one more)")
    ap.add_argument("--steps", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--combos", type=int, default=2 * len(catalog.HELD_OUT_COMBINATIONS),
                    help="held-out-combination cases (cycling through the 8 combinations; 16 = each twice)")
    ap.add_argument("--provider", default="cpu")
    ap.add_argument("--only", help="comma-separated case groups to run, e.g. transfer/hair,transfer/glasses")
    ap.add_argument("--case-seed", type=int, default=HOLD_OUT_SEED,
                    help=f"seed the cases are drawn from ({HOLD_OUT_SEED}: the benchmark; another seed "
                         "≥ the training hold-out, e.g. 2000000, is a validation split for tuning)")
    ap.add_argument("--guidance-scale", type=float, help="the CLI's --guidance-scale (default: the CLI's)")
    ap.add_argument("--eta", type=float, help="the CLI's --eta: DDIM's fresh noise per step, 0..1 (default: the CLI's)")
    ap.add_argument("--noise-correlation", type=float,
                    help="the CLI's --noise-correlation: frame-to-frame noise correlation, 0..<1 (default: the CLI's)")
    ap.add_argument("--ours-only", action="store_true",
                    help="run and score only the model itself, not the baselines: for choosing models and settings "
                         "on a validation split (compare runs with python -m durian_export.eval_compare)")
    ap.add_argument("--chunk", type=int, default=8, help="cases per `durian batch` call (the pipeline's unit)")
    ap.add_argument("--motion-speed", type=float, default=1.0,
                    help="the drivers move this many times faster than the benchmark's talking heads (the same "
                         "motion sampled further apart; the guides stay 25 fps): a check of fast guides")
    ap.add_argument("--keypoint-parser", metavar="MODEL_DIR",
                    help="the model directory whose parser.onnx reads keypoints for the motion scores (default: "
                         "--model's own). Runs compare on motion only when read by the same parser, so give two "
                         "models with different parsers the same one")
    args = ap.parse_args(argv)
    if args.case_seed < HOLD_OUT_SEED:
        raise SystemExit(f"--case-seed {args.case_seed}: seeds below {HOLD_OUT_SEED} are training data")
    if not args.motion_speed > 0:
        raise SystemExit(f"--motion-speed {args.motion_speed}: must be > 0")
    model = Path(args.model).resolve()
    manifest, size, template = model_frame(model)
    args.scorer = Path(args.keypoint_parser).resolve() if args.keypoint_parser else model
    if not (args.scorer / "parser.onnx").is_file():
        raise SystemExit(f"--keypoint-parser {args.scorer}: no parser.onnx there")
    if json.loads((args.scorer / "manifest.json").read_text())["resolution"] != manifest["resolution"]:
        raise SystemExit(f"--keypoint-parser {args.scorer}: its resolution is not the model's")
    parser_id = {"model": str(args.scorer),
                 "sha256": hashlib.sha256((args.scorer / "parser.onnx").read_bytes()).hexdigest()}
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    only = set(args.only.split(",")) if args.only else None
    plan = plan_cases(args.per_class, args.combos, only)
    if not plan:
        raise SystemExit(f"--only {args.only}: no such case group")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the Python side takes one core; onnxruntime in the CLI has the rest
    t0 = time.perf_counter()
    chunks = [plan[i:i + args.chunk] for i in range(0, len(plan), args.chunk)]
    build = lambda specs: [build_case(out, s, size, args.frames, args.case_seed, args.motion_speed)  # noqa: E731
                           for s in specs]
    try:
        cases, scores, summary = run_pipelined(chunks, out, model, args, size, template, build)
    finally:
        torch.set_num_threads(threads)
    write_picture(out / "benchmark.png", cases, size, template, _read_frames,
                  methods=("ours",) if args.ours_only else METHODS)
    table = summarise(scores)
    timing = {"wall_s": time.perf_counter() - t0, "cli_jobs": summary["jobs"], "cases": len(plan),
              "cli_job_s": sum(o.get("seconds", 0) for o in summary["outcomes"])}
    (out / "benchmark.json").write_text(json.dumps({"table": table, "cases": scores, "timing": timing, "model": str(model),
                                                    "keypoint_parser": parser_id, "motion_speed": args.motion_speed},
                                                   indent=1))
    print(write_report(out, table, args).read_text())


if __name__ == "__main__":
    main()
