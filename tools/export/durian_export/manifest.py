"""The model-directory contract shared with the TypeScript CLI (DESIGN §4).

`manifest.json` names every graph with its file, sha256 and ordered inputs/outputs; the CLI reads
names, dtypes and shapes from here and never hard-codes them. `FORMAT_VERSION` must match
`SUPPORTED_MANIFEST_VERSIONS` in src/onnx/manifest.ts; a change of graph I/O bumps it.
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import onnx

FORMAT_VERSION = 1
MANIFEST_FILE = "manifest.json"

_ONNX_DTYPES = {
    onnx.TensorProto.FLOAT: "float32",
    onnx.TensorProto.FLOAT16: "float16",
    onnx.TensorProto.BFLOAT16: "bfloat16",
    onnx.TensorProto.DOUBLE: "float64",
    onnx.TensorProto.INT64: "int64",
    onnx.TensorProto.INT32: "int32",
    onnx.TensorProto.UINT8: "uint8",
    onnx.TensorProto.BOOL: "bool",
}
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _tensor_specs(values) -> list[dict[str, Any]]:
    specs = []
    for v in values:
        t = v.type.tensor_type
        if t.elem_type not in _ONNX_DTYPES:
            raise ValueError(f"unsupported element type {t.elem_type} for {v.name!r}")
        shape = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in t.shape.dim]
        specs.append({"name": v.name, "dtype": _ONNX_DTYPES[t.elem_type], "shape": shape})
    return specs


def graph_entry(path: Path) -> dict[str, Any]:
    """Manifest entry of one ONNX file: file name, sha256, and I/O as the graph declares them."""
    model = onnx.load(str(path), load_external_data=False)
    initializers = {i.name for i in model.graph.initializer}
    inputs = [v for v in model.graph.input if v.name not in initializers]
    return {
        "file": path.name,
        "sha256": sha256_file(path),
        "inputs": _tensor_specs(inputs),
        "outputs": _tensor_specs(model.graph.output),
    }


def write_manifest(model_dir: Path, name: str, graphs: dict[str, Path], **fields: Any) -> dict[str, Any]:
    """Writes `model_dir/manifest.json` for `graphs` (graph name → file in model_dir)."""
    manifest = {"format_version": FORMAT_VERSION, "name": name, **fields}
    manifest["graphs"] = {g: graph_entry(Path(model_dir) / Path(p).name) for g, p in sorted(graphs.items())}
    validate_manifest(manifest)
    (Path(model_dir) / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def validate_manifest(manifest: dict[str, Any]) -> None:
    """Raises ValueError naming the first field that breaks the contract."""
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"format_version must be {FORMAT_VERSION}, got {manifest.get('format_version')!r}")
    if not isinstance(manifest.get("name"), str):
        raise ValueError("name must be a string")
    graphs = manifest.get("graphs")
    if not isinstance(graphs, dict) or not graphs:
        raise ValueError("graphs must be a non-empty object")
    for g, entry in graphs.items():
        file = entry.get("file")
        if not isinstance(file, str) or "/" in file or ".." in file:
            raise ValueError(f"graphs.{g}.file must be a plain file name, got {file!r}")
        if not isinstance(entry.get("sha256"), str) or not _SHA256.match(entry["sha256"]):
            raise ValueError(f"graphs.{g}.sha256 must be 64 lowercase hex digits")
        for key in ("inputs", "outputs"):
            for i, spec in enumerate(entry.get(key, None) or []):
                if not {"name", "dtype", "shape"} <= set(spec):
                    raise ValueError(f"graphs.{g}.{key}[{i}] needs name, dtype and shape")
            if not entry.get(key):
                raise ValueError(f"graphs.{g}.{key} must list at least one tensor")


def verify_model_dir(model_dir: Path) -> dict[str, str]:
    """Graph name → 'ok' | 'missing' | 'mismatch' for every graph of a model directory."""
    manifest = json.loads((Path(model_dir) / MANIFEST_FILE).read_text())
    validate_manifest(manifest)
    status = {}
    for g, entry in manifest["graphs"].items():
        path = Path(model_dir) / entry["file"]
        if not path.exists():
            status[g] = "missing"
        else:
            status[g] = "ok" if sha256_file(path) == entry["sha256"] else "mismatch"
    return status


SCHEMA_FILE = Path(__file__).with_name("manifest.schema.json")


def validate_manifest_schema(manifest: dict[str, Any]) -> None:
    """Validates a full model manifest against manifest.schema.json (raises jsonschema.ValidationError)."""
    import jsonschema

    jsonschema.validate(manifest, json.loads(SCHEMA_FILE.read_text()))
