"""The benchmark's summary: per-group means, the paired difference of ours against each baseline
with its bootstrap 95 % interval (metrics.paired_bootstrap), benchmark.md and the picture."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .eval_cases import HOLD_OUT_SEED, estimate_similarity, warp
from .metrics import paired_bootstrap

METHODS = ("ours", "baseline", "plain")
BASELINES = ("baseline", "plain")
# metrics compared pairwise (per case, ours − baseline); "higher is better" for psnr and ssim only
COMPARED = ("psnr", "ssim", "l1", "attr_l1", "identity_l1", "left_eye_l1", "right_eye_l1", "mouth_l1", "keypoint_error_px")
HIGHER_IS_BETTER = {"psnr", "ssim"}


def case_groups(scores: list[dict]) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = {}
    for s in scores:
        groups.setdefault(f"{s['kind']}/{s['cls']}", []).append(s)
    combos = [s for s in scores if s["kind"] == "combo"]
    if len({s["cls"] for s in combos}) > 1:  # every held-out combination together, as one more group
        groups["combo/all"] = combos
    return groups


def compare(items: list[dict], other: str) -> dict:
    """Per metric: mean paired difference ours − other over the cases, with its 95 % interval
    (None where fewer than 2 cases)."""
    out = {}
    for m in COMPARED:
        if m not in items[0]["ours"] or m not in items[0][other]:
            continue
        a = [i["ours"][m] for i in items]
        b = [i[other][m] for i in items]
        out[m] = paired_bootstrap(a, b) if len(items) >= 2 else None
    return out


def summarise(scores: list[dict]) -> dict:
    table = {}
    for key, items in case_groups(scores).items():
        names = [n for n in METHODS + ("start", "end") if n in items[0]]
        row = {name: {m: float(np.mean([i[name][m] for i in items])) for m in items[0][name]} for name in names}
        if "monotonic_fraction" in items[0]:
            row["monotonic_fraction"] = float(np.mean([i["monotonic_fraction"] for i in items]))
        if "ours" in items[0]:
            row["vs"] = {b: compare(items, b) for b in BASELINES if b in items[0]}
        row["cases"] = len(items)
        table[key] = row
    return table


def format_ci(d: dict | None, fmt: str, better_high: bool) -> str:
    if d is None:
        return "–"
    mark = ""
    if d["low"] > 0 or d["high"] < 0:  # the interval excludes 0: better (▲) or worse (▼)
        mark = " ▲" if (d["low"] > 0) == better_high else " ▼"
    return f"{d['mean']:{fmt}} [{d['low']:{fmt}}, {d['high']:{fmt}}]{mark}"


def write_report(out: Path, table: dict, args) -> Path:
    extra = "".join(f" --{k.replace('_', '-')} {v}" for k, v in (("only", args.only), ("case_seed", args.case_seed),
                                                                  ("guidance_scale", args.guidance_scale),
                                                                  ("eta", args.eta),
                                                                  ("noise_correlation", args.noise_correlation),
                                                                  ("motion_speed", getattr(args, "motion_speed", 1.0)))
                    if v is not None and not (k == "case_seed" and v == HOLD_OUT_SEED)
                    and not (k == "motion_speed" and v == 1.0))
    extra += " --ours-only" if args.ours_only else ""
    lines = ["# durian benchmark", "",
             f"Model `{args.model}`, {args.per_class} case(s) per class, {args.combos} held-out-combination case(s), "
             f"{args.frames} frames, {args.steps} steps, seed {args.seed}; held-out cases from seed {args.case_seed}. "
             f"Rerun: `python -m durian_export.eval --model {args.model} --out DIR --per-class {args.per_class} "
             f"--combos {args.combos} --frames {args.frames} --steps {args.steps}{extra}`.", "",
             "Every metric on covered pixels only (the ground truth warped into the model's frame; padding left out). "
             "PSNR/SSIM: torchmetrics, data range 1. Eyes and mouth: keypoint boxes (iBUG 42–47 left eye, 36–41 "
             "right eye, 48–67 mouth)."]
    frames, motion, diffs = [], [], []
    for key, row in table.items():
        for name in METHODS:
            if name not in row:
                continue
            r = row[name]
            frames.append(f"| {key} ({row['cases']}) | {name} | {r['psnr']:.2f} | {r['ssim']:.4f} | {r['l1']:.4f} | "
                         f"{r['attr_l1']:.4f} | {r['identity_l1']:.4f} | {r['left_eye_l1']:.4f} | {r['right_eye_l1']:.4f} | "
                         f"{r['mouth_l1']:.4f} |")
            if "keypoint_error_px" in r:
                floor = (f"{r['gt_parser_error_px']:.2f} | {r['gt_parser_jitter_px']:.2f}" if "gt_parser_jitter_px" in r
                         else "– | –")  # runs scored before the parser's floor was measured
                motion.append(f"| {key} | {name} | {r['keypoint_error_px']:.2f} | {r['jitter_px']:.2f} | "
                              f"{r['gt_jitter_px']:.2f} | {floor} |")
        for b, cmp in row.get("vs", {}).items():
            diffs.append(f"| {key} ({row['cases']}) | ours − {b} | {format_ci(cmp.get('psnr'), '+.2f', True)} | "
                         f"{format_ci(cmp.get('ssim'), '+.4f', True)} | {format_ci(cmp.get('attr_l1'), '+.4f', False)} | "
                         f"{format_ci(cmp.get('identity_l1'), '+.4f', False)} |")
    if frames:  # none in a run of interpolation cases alone
        lines += ["", "| cases | method | PSNR ↑ | SSIM ↑ | L1 ↓ | attribute L1 ↓ | identity L1 ↓ | left eye L1 ↓ | "
                  "right eye L1 ↓ | mouth L1 ↓ |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |", *frames]
    if diffs:  # none in an --ours-only run
        lines += ["", "Paired differences, ours − baseline over the same cases: mean [bootstrap 95 % interval] "
                  "(scipy.stats.bootstrap, BCa, 10,000 resamples); ▲ ours better, ▼ ours worse, where the interval "
                  "excludes 0:", "",
                  "| cases | comparison | PSNR | SSIM | attribute L1 | identity L1 |", "| --- | --- | --- | --- | --- | --- |",
                  *diffs]
    if motion:
        lines += ["", "Motion (keypoints of the output through the parser, model pixels). The ground truth's jitter is "
                  "its renderer keypoints'; the last two columns are the parser on the ground-truth frames themselves, "
                  "what a perfect output would score:", "",
                  "| cases | method | keypoint error ↓ | jitter | ground-truth jitter | parser on ground truth: keypoint "
                  "error | parser on ground truth: jitter |", "| --- | --- | --- | --- | --- | --- | --- |", *motion]
    for key, row in table.items():
        if "monotonic_fraction" in row:
            lines += ["", f"Interpolation ({key}, {row['cases']} case(s)): hair-region change from the first frame is "
                      f"non-decreasing over {100 * row['monotonic_fraction']:.0f} % of frame steps; α = 0 end PSNR "
                      f"{row['start']['psnr']:.2f} (hair L1 {row['start']['attr_l1']:.4f}), α = 1 end PSNR "
                      f"{row['end']['psnr']:.2f} (hair L1 {row['end']['attr_l1']:.4f}) against the ground truth of each."]
    path = out / "benchmark.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def aligned_case(d: Path, size: int, template: np.ndarray, read_frames):
    """A case folder's truth record, the portrait's alignment (2×3), and in the CLI's aligned frame:
    the identity image, the attribute donor (aligned by its own keypoints) and the ground-truth frames."""
    t = torch.load(d / "truth.pt")
    m = estimate_similarity(t["portrait_kp"].numpy(), template)
    gt = warp(read_frames(d / "gt"), m, size)
    ident = warp(t["portrait"][None], m, size)[0]
    attr = warp(t["donor"][None], estimate_similarity(t["donor_kp"].numpy(), template), size)[0]
    return t, m, ident, attr, gt


def write_picture(path: Path, cases: list[dict], size: int, template: np.ndarray, read_frames, max_rows: int = 12,
                  methods: tuple[str, ...] = METHODS) -> None:
    """Rows: identity | attribute | guidance | ours | baseline | plain animator (those of `methods`) | ground truth
    (middle frame), for the first max_rows transfer cases, all in the CLI's aligned frame."""
    from .keypoint_image import render_keypoints
    from .synth.io import save_png

    rows = []
    for c in cases:
        if c["kind"] not in ("transfer", "combo") or len(rows) >= max_rows:
            continue
        d = Path(c["dir"])
        t, m, ident, attr, gt = aligned_case(d, size, template, read_frames)
        outs = [read_frames(d / n)[1:] for n in methods]
        mid = len(gt) // 2
        kp = torch.from_numpy((t["keypoints"][mid].numpy() @ m[:, :2].T + m[:, 2]).astype(np.float32))
        rows.append(torch.cat([ident, attr, render_keypoints(kp[None], size, size)[0], *(o[mid] for o in outs), gt[mid]], -1))
    if rows:
        save_png(path, torch.cat(rows, -2))
