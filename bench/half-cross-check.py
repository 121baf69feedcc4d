"""The UNet (and any other graph) converted to float16 by durian's TypeScript converter (src/onnx/half.ts,
what `--precision float16` makes at load time) against onnxruntime.transformers.float16's
convert_float_to_float16 (what `python -m durian_export.half` writes), both against the float32 graph,
on Python onnxruntime's CPU provider with the same inputs (durian_export.half's example feeds, seed 0).
Prints each difference relative to the float32 output's largest magnitude.

    npm run build && tools/export/.venv/bin/python bench/half-cross-check.py [--model models/durian-synth]
        [--graphs unet,vae_decoder] [--timesteps 500,999]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.transformers.float16 import convert_float_to_float16

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools" / "export"))
from durian_export.half import _example_feeds  # noqa: E402

CONVERT_JS = """
const { readFileSync, writeFileSync } = require('node:fs');
const { convertToFloat16, describeFloat16Report } = require(process.argv[1]);
const { model, report } = convertToFloat16(new Uint8Array(readFileSync(process.argv[2])));
writeFileSync(process.argv[3], model);
console.log(describeFloat16Report(report));
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(ROOT / "models" / "durian-synth"))
    ap.add_argument("--graphs", default="unet,vae_decoder")
    ap.add_argument("--timesteps", default="500,999", help="the UNet's timestep feed, one comparison each")
    args = ap.parse_args()
    model = Path(args.model)
    manifest = json.loads((model / "manifest.json").read_text())
    opts = ort.SessionOptions()
    opts.log_severity_level = 3

    def session(m):
        return ort.InferenceSession(m if isinstance(m, str) else m.SerializeToString(), opts, providers=["CPUExecutionProvider"])

    with tempfile.TemporaryDirectory() as tmp:
        for graph in args.graphs.split(","):
            entry = manifest["graphs"][graph]
            src = str(model / entry["file"])
            ts_file = str(Path(tmp) / f"{graph}.ts-half.onnx")
            report = subprocess.run(["node", "-e", CONVERT_JS, str(ROOT / "dist" / "onnx" / "half.js"), src, ts_file],
                                    check=True, capture_output=True, text=True).stdout.strip()
            print(f"{graph}: TypeScript conversion: {report}")
            s32, sts = session(src), session(ts_file)
            sort = session(convert_float_to_float16(onnx.load(src), keep_io_types=True))
            for t in [float(x) for x in args.timesteps.split(",")] if graph == "unet" else [None]:
                feeds = _example_feeds(entry, {"batch": 1, "frames": 4, "groups": 1, "attributes": 1}, np.random.default_rng(0))
                if t is not None:
                    feeds["timestep"][:] = t
                a, b, c = (s.run(None, feeds)[0] for s in (s32, sts, sort))
                m = float(np.abs(a).max())
                ts, ortc, both = (float(np.abs(x - y).max()) / m for x, y in ((b, a), (c, a), (b, c)))
                where = "" if t is None else f"t={t:g}: "
                print(f"  {where}max |fp32| {m:.3f}; relative to it: TypeScript fp16 vs fp32 {ts:.2e}, "
                      f"ONNX Runtime converter fp16 vs fp32 {ortc:.2e}, TypeScript vs ONNX Runtime converter {both:.2e}")


if __name__ == "__main__":
    main()
