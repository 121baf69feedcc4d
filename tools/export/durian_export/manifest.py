"""The model-directory contract shared with the TypeScript CLI (docs/architecture.md).

`manifest.json` names every graph with its file, sha256 and ordered inputs/outputs; the CLI reads
names, dtypes and shapes from here and never hard-codes them. The contract itself is the JSON
Schema `manifest.schema.json` beside this file: `validate_manifest` checks against it here, and
src/onnx/manifest.ts checks against the same file in the CLI. `FORMAT_VERSION` is the schema's
`format_version` constant; a change of graph I/O bumps both.
"""
from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any

import onnx

SCHEMA_FILE = Path(__file__).with_name("manifest.schema.json")
FORMAT_VERSION: int = json.loads(SCHEMA_FILE.read_text())["properties"]["format_version"]["const"]
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


@cache
def _validator():
    import jsonschema

    schema = json.loads(SCHEMA_FILE.read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def schema_errors(manifest: Any) -> list[str]:
    """Every way `manifest` breaks manifest.schema.json, one line each (`field: what`); [] when valid."""
    out = []
    for e in sorted(_validator().iter_errors(manifest), key=lambda e: list(map(str, e.absolute_path))):
        field = ".".join(str(p) for p in e.absolute_path) or "manifest"
        out.append(f"{field}: {e.message}")
    return out


def validate_manifest(manifest: Any) -> None:
    """Raises ValueError naming the first field that breaks manifest.schema.json."""
    errors = schema_errors(manifest)
    if errors:
        raise ValueError(errors[0] + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""))


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
