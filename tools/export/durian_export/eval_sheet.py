"""python -m durian_export.eval_sheet OUT.jpg RUN [RUN ...] --cases 0,4,16 [--names A,B] [--frames 1,4]

A picture for looking at runs side by side: eval runs made on the same cases (the same --case-seed,
--per-class, --frames and --only), e.g. a candidate and the shipped model on the validation split.
One row per chosen case: identity | attribute | the ground truth at the chosen frames | each run's
output at the same frames, all in the CLI's aligned frame, under a header naming the columns.

Cases are chosen by the number their folder starts with (`cases/016-transfer-hair` is 16). Frames
count as the CLI writes them: frame 0 is the portrait's own pose and is not scored, so output frame
k is set beside ground-truth frame k − 1, as the scores pair them. Runs whose case folders do not
hold the same inputs are refused.
"""
from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from .eval import _read_frames
from .eval_cases import model_frame
from .eval_report import aligned_case


def _case_dir(run: Path, number: int) -> Path:
    found = sorted((run / "cases").glob(f"{number:03d}-*"))
    if not found:
        raise SystemExit(f"{run}: no case {number} (cases/{number:03d}-*)")
    return found[0]


def _inputs_digest(d: Path) -> str:
    return hashlib.sha256(b"".join((d / n).read_bytes() for n in ("identity.png", "attr.png"))).hexdigest()


def build_sheet(runs: list[Path], names: list[str], cases: list[int], frames: list[int], model: Path) -> Image.Image:
    _, size, template = model_frame(model)
    rows, labels = [], ["identity", "attribute", *(f"truth {k}" for k in frames),
                        *(f"{n} {k}" for n in names for k in frames)]
    for number in cases:
        dirs = [_case_dir(r, number) for r in runs]
        if len({d.name for d in dirs}) > 1 or len({_inputs_digest(d) for d in dirs}) > 1:
            raise SystemExit(f"case {number}: the runs were made on different cases ({', '.join(str(d) for d in dirs)})")
        _, _, ident, attr, gt = aligned_case(dirs[0], size, template, _read_frames)
        outs = [_read_frames(d / "ours") for d in dirs]
        for k in frames:
            if not 1 <= k <= len(gt) or any(k >= len(o) for o in outs):
                raise SystemExit(f"--frames {k}: case {number} has output frames 1..{len(gt)}")
        rows.append(torch.cat([ident, attr, *(gt[k - 1] for k in frames), *(o[k] for o in outs for k in frames)], -1))
    grid = (torch.cat(rows, -2).clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    header = 18
    sheet = Image.new("RGB", (grid.shape[1], grid.shape[0] + header), "white")
    sheet.paste(Image.fromarray(grid), (0, header))
    draw = ImageDraw.Draw(sheet)
    for i, text in enumerate(labels):
        draw.text((i * size + 4, 3), text, fill="black")
    return sheet


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m durian_export.eval_sheet", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", help="the picture to write (.jpg or .png)")
    ap.add_argument("runs", nargs="+", help="eval output folders (--out of durian_export.eval)")
    ap.add_argument("--cases", required=True, help="comma-separated case numbers, e.g. 0,4,16")
    ap.add_argument("--names", help="comma-separated column names, one per run (default: the folders' names)")
    ap.add_argument("--frames", default="1,4", help="output frames to show (1 = the first scored frame)")
    ap.add_argument("--model", help="model folder whose manifest gives the resolution and face template "
                                    "(default: the model the first run recorded in its benchmark.json)")
    args = ap.parse_args(argv)
    runs = [Path(r) for r in args.runs]
    names = args.names.split(",") if args.names else [r.name for r in runs]
    if len(names) != len(runs):
        raise SystemExit(f"--names: {len(names)} names for {len(runs)} runs")
    model = Path(args.model) if args.model else None
    if model is None:
        record = runs[0] / "benchmark.json"
        if not record.is_file():
            raise SystemExit(f"{runs[0]}: no benchmark.json (an unfinished run?); give --model")
        model = Path(json.loads(record.read_text())["model"])
    if not (model / "manifest.json").is_file():
        raise SystemExit(f"{model}: no manifest.json; give --model")
    sheet = build_sheet(runs, names, [int(c) for c in args.cases.split(",")], [int(k) for k in args.frames.split(",")], model)
    out = Path(args.out)
    tmp = out.with_name(f".{out.name}.part{out.suffix}")  # written whole, then moved into place
    sheet.save(tmp, quality=80) if out.suffix.lower() in (".jpg", ".jpeg") else sheet.save(tmp)
    tmp.replace(out)
    print(out)


if __name__ == "__main__":
    main()
