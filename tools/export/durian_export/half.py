"""python -m durian_export.half --model models/durian-synth --out DIR [--graphs unet] [--max-error 0.01]

A GPU variant of an exported model: the named graphs compute in float16 (ONNX Runtime's float16
converter, float32 inputs and outputs kept, so the CLI feeds them unchanged); the other graphs are
copied. Each converted graph is checked against its float32 original on onnxruntime's CPU provider
with the export's example inputs; a graph whose largest output difference, relative to the
output's largest magnitude, exceeds --max-error is refused. The manifest is rewritten (new sha256,
`compute_dtype` per graph) and the check lands in DIR/half-parity.json.

For CUDA (tensor cores); the CPU provider has few float16 kernels and runs such graphs slowly.
"""
from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np

from .manifest import MANIFEST_FILE, graph_entry, validate_manifest
from .ort_cpu import cpu_session


def _example_feeds(entry: dict, sizes: dict[str, int], rng: np.random.Generator) -> dict[str, np.ndarray]:
    feeds = {}
    for spec in entry["inputs"]:
        shape = [sizes.get(d, 1) if isinstance(d, str) else d for d in spec["shape"]]
        if spec["name"] == "timestep":
            feeds[spec["name"]] = np.full(shape, 500.0, np.float32)
        elif spec["name"] in ("members", "weights"):
            feeds[spec["name"]] = np.ones(shape, np.float32)
        else:
            feeds[spec["name"]] = rng.standard_normal(shape).astype(np.float32)
    return feeds


def convert(model_dir: Path, out: Path, graphs: list[str], max_error: float = 0.01) -> dict:
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    manifest = json.loads((model_dir / MANIFEST_FILE).read_text())
    unknown = [g for g in graphs if g not in manifest["graphs"]]
    if unknown:
        raise SystemExit(f"{model_dir}: no graph {', '.join(unknown)} (has {', '.join(manifest['graphs'])})")
    if out.resolve() == model_dir.resolve():
        raise SystemExit("--out must be a new directory, not the model itself")
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(model_dir, tmp)
    report = {"source": str(model_dir), "max_error": max_error, "graphs": {}}
    rng = np.random.default_rng(0)
    for g in graphs:
        entry = manifest["graphs"][g]
        src = model_dir / entry["file"]
        half = convert_float_to_float16(onnx.load(str(src)), keep_io_types=True)
        onnx.save(half, str(tmp / entry["file"]))
        feeds = _example_feeds(entry, {"batch": 1, "frames": 4, "groups": 1, "attributes": 1}, rng)
        ref = cpu_session(src).run(None, feeds)
        got = cpu_session(tmp / entry["file"]).run(None, feeds)
        err = max(float(np.abs(a - b).max() / max(np.abs(a).max(), 1e-12)) for a, b in zip(ref, got))
        report["graphs"][g] = {"max_relative_error": err, "bytes": (tmp / entry["file"]).stat().st_size}
        if err > max_error:
            shutil.rmtree(tmp)
            raise SystemExit(f"{g}: float16 differs from float32 by {err:.2e} of the output's range "
                             f"(> --max-error {max_error}); not written")
        manifest["graphs"][g] = {**graph_entry(tmp / entry["file"]), "compute_dtype": "float16"}
    manifest["name"] = f"{manifest['name']}-fp16"
    validate_manifest(manifest)
    (tmp / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
    (tmp / "half-parity.json").write_text(json.dumps(report, indent=2) + "\n")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return report


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m durian_export.half", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="an exported model directory")
    ap.add_argument("--out", required=True, help="where the float16 variant goes (replaced)")
    ap.add_argument("--graphs", default="unet", help="comma-separated graphs to convert (default: unet)")
    ap.add_argument("--max-error", type=float, default=0.01,
                    help="largest accepted |fp16 − fp32| / max|fp32| per graph output (default 0.01)")
    args = ap.parse_args(argv)
    report = convert(Path(args.model), Path(args.out), args.graphs.split(","), args.max_error)
    for g, r in report["graphs"].items():
        print(f"{g}: float16 compute, max relative error {r['max_relative_error']:.2e}, {r['bytes'] / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
