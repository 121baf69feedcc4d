"""python -m durian_export.eval_compare RUN_A RUN_B [--json OUT]

Two runs of `durian_export.eval` on the same cases (same --case-seed, --per-class, --only, --frames),
typically two models or two settings on the validation split: per case group and metric, the mean
paired difference B − A over the cases, with its bootstrap 95 % interval (metrics.paired_bootstrap),
and how many cases B wins. This is how a model or setting is chosen (docs/benchmark.md): a
difference whose interval contains 0 is not a result.

Only `ours` is compared (runs made with --ours-only have nothing else). Cases are matched by name;
runs whose case lists differ are refused rather than compared on a subset.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from .eval_report import COMPARED, HIGHER_IS_BETTER, case_groups, format_ci
from .metrics import paired_bootstrap

# the benchmark's paired metrics, jitter, and the attribute region's colour drift over a clip: a
# choice between models or settings weighs motion and steadiness too
METRICS = (*COMPARED, "iris_colour_l1", "jitter_px", "attr_colour_drift")


def load_result(run: Path) -> dict:
    """An eval run's benchmark.json (run: its output directory or the file itself)."""
    path = run / "benchmark.json" if run.is_dir() else run
    try:
        result = json.loads(path.read_text())
    except FileNotFoundError:
        raise SystemExit(f"{path}: no such benchmark result (run python -m durian_export.eval first)") from None
    if any("case" not in c for c in result["cases"]):
        raise SystemExit(f"{path}: written before cases were named; run that evaluation again")
    return result


def load_cases(run: Path) -> list[dict]:
    return load_result(run)["cases"]


MOTION = ("keypoint_error_px", "jitter_px")


def keypoint_parser(result: dict) -> str | None:
    """The sha256 of the parser that read a run's keypoints (None: a run from before it was recorded,
    when it was always the model's own)."""
    return (result.get("keypoint_parser") or {}).get("sha256")


def compare_runs(a: list[dict], b: list[dict], motion: bool = True) -> dict:
    """{group: {"cases": n, metric: {mean, low, high, b_better: cases where B is better}}} over ours.
    motion=False leaves out the metrics read through the parser (runs read by different parsers)."""
    names_a, names_b = [c["case"] for c in a], [c["case"] for c in b]
    if names_a != names_b:
        only = sorted(set(names_a) ^ set(names_b))
        raise SystemExit(f"the runs scored different cases ({len(names_a)} vs {len(names_b)}; e.g. {only[:3]}): "
                         "run both with the same --case-seed, --per-class, --combos and --only")
    by_name = {c["case"]: c for c in b}
    out = {}
    for group, items in case_groups(a).items():
        pairs = [(i, by_name[i["case"]]) for i in items if "ours" in i]
        if len(pairs) < 2:
            continue
        row: dict = {"cases": len(pairs)}
        for m in METRICS:
            # a metric one run predates is left out
            if m not in pairs[0][0]["ours"] or m not in pairs[0][1]["ours"] or (m in MOTION and not motion):
                continue
            va = np.array([x["ours"][m] for x, _ in pairs])
            vb = np.array([y["ours"][m] for _, y in pairs])
            d = paired_bootstrap(vb, va)
            d["b_better"] = int(((vb > va) if m in HIGHER_IS_BETTER else (vb < va)).sum())
            row[m] = d
        out[group] = row
    return out


def format_table(result: dict, label_a: str, label_b: str) -> str:
    lines = [f"B − A, B = {label_b}, A = {label_a}: mean [bootstrap 95 % interval] (cases where B is better); "
             "▲ B better, ▼ B worse where the interval excludes 0", "",
             "| group | metric | B − A | B better in |", "| --- | --- | --- | --- |"]
    for group, row in result.items():
        for m in METRICS:
            if m not in row:
                continue
            fmt = "+.2f" if m in ("psnr", "keypoint_error_px", "jitter_px") else "+.4f"
            lines.append(f"| {group} | {m} | {format_ci(row[m], fmt, m in HIGHER_IS_BETTER)} | "
                         f"{row[m]['b_better']} of {row['cases']} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m durian_export.eval_compare", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run_a", type=Path, help="eval output directory (or its benchmark.json): the reference")
    ap.add_argument("run_b", type=Path, help="eval output directory (or its benchmark.json): the candidate")
    ap.add_argument("--json", type=Path, help="also write the comparison here")
    args = ap.parse_args(argv)
    a, b = load_result(args.run_a), load_result(args.run_b)
    same_parser = keypoint_parser(a) == keypoint_parser(b)
    if not same_parser:
        print("note: different parsers read the two runs' keypoints (or one run does not record which), so "
              "keypoint error and jitter are left out; score both with the same --keypoint-parser to compare them\n")
    result = compare_runs(a["cases"], b["cases"], motion=same_parser)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    print(format_table(result, str(args.run_a), str(args.run_b)))


if __name__ == "__main__":
    main()
