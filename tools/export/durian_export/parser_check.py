"""python -m durian_export.parser_check --run EVAL_RUN --parsers A,B,... [--json OUT]

How well parsers read keypoints, on the cases of an earlier `durian_export.eval` run. The parser
is the benchmark's motion instrument and the CLI's keypoint reader for synthetic-domain inputs; it
was trained on clean renders, and generated frames are softer (docs/benchmark.md). For each parser
(a model directory: its parser.onnx; or a training run directory: its checkpoint's parser), over
every case with a ground truth:

- `gt`: keypoint error on the ground-truth frames (aligned as the benchmark aligns them) against
  the renderer's keypoints, and the jitter of what it reads there;
- `out`: keypoint error on the run's generated frames (`ours`) against the same keypoints, the mean
  offset of what it reads (a steady shift is a misreading, not a pose error), and the jitter.

The generated frames' true keypoints are not known, so `out` mixes the generator's pose error with
the parser's; between two parsers on the same frames, only the parser differs. Each parser after
the first is paired with the first, case by case (bootstrap 95 % interval). Choose parsers on runs
of the validation split (eval --case-seed 2000000), never the benchmark's.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from .eval import _read_frames, estimate_similarity, parse_keypoints, warp
from .eval_cases import model_frame
from .metrics import keypoint_jitter, paired_bootstrap


def reader(path: Path):
    """frames [N, 3, H, W] in [0, 1] → keypoints [N, 68, 2] by the parser at `path`."""
    if (path / "parser.onnx").is_file():
        return lambda frames: parse_keypoints(path, frames)
    from .checkpoint import load_model
    from .temporal_check import keypoints

    model = load_model(path).eval()
    return lambda frames: keypoints(model, frames)


def case_frames(case: Path, size: int, template: np.ndarray):
    """(ground-truth frames, generated frames, renderer keypoints) of one case, aligned to the model."""
    t = torch.load(case / "truth.pt")
    m = estimate_similarity(t["portrait_kp"].numpy(), template)
    gt = warp(_read_frames(case / "gt"), m, size)
    out = _read_frames(case / "ours")[1:]
    return gt, out, t["keypoints"].numpy() @ m[:, :2].T + m[:, 2]


def check(run: Path, parsers: list[Path]) -> dict:
    recorded = json.loads((run / "benchmark.json").read_text())
    model = recorded.get("model") or recorded.get("keypoint_parser", {}).get("model")
    if not model:
        raise SystemExit(f"{run}: its benchmark.json does not record the model (run eval again to rescore it)")
    _, size, template = model_frame(Path(model))
    cases = [c for c in sorted((run / "cases").iterdir()) if (c / "gt").is_dir() and (c / "ours").is_dir()]
    if not cases:
        raise SystemExit(f"{run}: no case with ground-truth and generated frames")
    readers = [reader(p) for p in parsers]
    rows: list[list[dict]] = [[] for _ in parsers]
    truth_jitter = []
    for case in cases:
        gt, out, kp = case_frames(case, size, template)
        truth_jitter.append(keypoint_jitter(kp))
        for rows_p, read in zip(rows, readers):
            on_gt, on_out = read(gt), read(out)
            rows_p.append({"gt_error_px": float(np.linalg.norm(on_gt - kp, axis=-1).mean()), "gt_jitter_px": keypoint_jitter(on_gt),
                           "out_error_px": float(np.linalg.norm(on_out - kp, axis=-1).mean()),
                           "out_offset_px": float(np.linalg.norm((on_out - kp).mean(axis=(0, 1)))),
                           "out_jitter_px": keypoint_jitter(on_out)})
    result = {"run": str(run), "cases": len(cases), "truth_jitter_px": float(np.mean(truth_jitter)), "parsers": []}
    for p, rows_p in zip(parsers, rows):
        entry = {"parser": str(p), **{k: float(np.mean([r[k] for r in rows_p])) for k in rows_p[0]}}
        if rows_p is not rows[0]:
            entry["vs_first"] = {k: paired_bootstrap([r[k] for r in rows_p], [r[k] for r in rows[0]])
                                 for k in ("gt_error_px", "out_error_px", "out_jitter_px")}
        result["parsers"].append(entry)
    return result


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m durian_export.parser_check", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", required=True, type=Path, help="an eval output directory (its cases/ and benchmark.json)")
    ap.add_argument("--parsers", required=True, help="comma-separated model or training-run directories; the first is the reference")
    ap.add_argument("--json", type=Path, help="also write the result here")
    args = ap.parse_args(argv)
    result = check(args.run, [Path(p) for p in args.parsers.split(",")])
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    print(f"{result['cases']} cases of {result['run']}; the renderer's keypoints jitter {result['truth_jitter_px']:.2f} px")
    print("| parser | error on ground truth | jitter there | error on generated frames | steady offset there | jitter there |")
    print("| --- | --- | --- | --- | --- | --- |")
    for e in result["parsers"]:
        vs = e.get("vs_first")
        ci = lambda k: f" ({vs[k]['mean']:+.2f} [{vs[k]['low']:+.2f}, {vs[k]['high']:+.2f}])" if vs else ""  # noqa: E731
        print(f"| {e['parser']} | {e['gt_error_px']:.2f}{ci('gt_error_px')} | {e['gt_jitter_px']:.2f} | "
              f"{e['out_error_px']:.2f}{ci('out_error_px')} | {e['out_offset_px']:.2f} | {e['out_jitter_px']:.2f}{ci('out_jitter_px')} |")


if __name__ == "__main__":
    main()
