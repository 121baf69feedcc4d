import copy
import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from durian_export.manifest import (
    FORMAT_VERSION,
    SCHEMA_FILE,
    schema_errors,
    validate_manifest,
    verify_model_dir,
    write_manifest,
)

ROOT = Path(__file__).resolve().parents[3]
CASES = json.loads(SCHEMA_FILE.with_name("manifest.cases.json").read_text())
GRAPHS = ("vae_encoder", "vae_decoder", "prnet", "arnet", "pose_guider", "unet", "parser")


def _scale_graph(path, factor=3.0):
    """y = x * factor with a symbolic batch axis, saved to `path`."""
    w = helper.make_tensor("w", TensorProto.FLOAT, [], [factor])
    g = helper.make_graph(
        [helper.make_node("Mul", ["sample", "w"], ["out_sample"])],
        "scale",
        [helper.make_tensor_value_info("sample", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("out_sample", TensorProto.FLOAT, ["batch", 4])],
        initializer=[w],
    )
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), path)


def _model_fields() -> dict:
    """Every field of the shipped manifest but its graphs: what write_manifest is given besides them."""
    shipped = json.loads((ROOT / "models" / "durian-synth" / "manifest.json").read_text())
    return {k: v for k, v in shipped.items() if k not in ("format_version", "name", "graphs")}


def _write_scale_model(d: Path, **fields) -> dict:
    for g in GRAPHS:
        _scale_graph(d / f"{g}.onnx")
    return write_manifest(d, "tiny", {g: f"{g}.onnx" for g in GRAPHS}, **{**_model_fields(), **fields})


def test_manifest_describes_real_graph(tmp_path):
    m = _write_scale_model(tmp_path, resolution=[64, 64])

    entry = m["graphs"]["unet"]
    assert entry["sha256"] == hashlib.sha256((tmp_path / "unet.onnx").read_bytes()).hexdigest()
    # the initializer is not an input; the symbolic axis keeps its name
    assert entry["inputs"] == [{"name": "sample", "dtype": "float32", "shape": ["batch", 4]}]
    assert entry["outputs"] == [{"name": "out_sample", "dtype": "float32", "shape": ["batch", 4]}]
    on_disk = json.loads((tmp_path / "manifest.json").read_text())
    assert on_disk["format_version"] == FORMAT_VERSION and on_disk["resolution"] == [64, 64]

    # the names the manifest gives are the names onnxruntime runs the graph with
    sess = ort.InferenceSession(str(tmp_path / "unet.onnx"), providers=["CPUExecutionProvider"])
    (y,) = sess.run([entry["outputs"][0]["name"]], {entry["inputs"][0]["name"]: np.ones((2, 4), np.float32)})
    np.testing.assert_allclose(y, 3.0)


def test_write_manifest_refuses_what_the_schema_refuses(tmp_path):
    with pytest.raises(ValueError, match="keypoint_image"):
        _write_scale_model(tmp_path, keypoint_image=None)
    assert not (tmp_path / "manifest.json").exists()


def test_verify_detects_changed_and_missing_files(tmp_path):
    _write_scale_model(tmp_path)
    assert set(verify_model_dir(tmp_path).values()) == {"ok"}

    _scale_graph(tmp_path / "unet.onnx", factor=4.0)
    (tmp_path / "vae_decoder.onnx").unlink()
    status = verify_model_dir(tmp_path)
    assert (status["unet"], status["vae_decoder"], status["parser"]) == ("mismatch", "missing", "ok")


def _apply(base, case):
    """The case's edits (JSON pointers, manifest.cases.json) applied to a copy of `base`."""
    doc = copy.deepcopy(base)
    for pointer, value in case.get("set", {}).items():
        if pointer == "":
            doc = copy.deepcopy(value)
            continue
        *parents, last = pointer[1:].split("/")
        target = doc
        for p in parents:
            target = target[int(p)] if isinstance(target, list) else target[p]
        if isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value
    for pointer in case.get("remove", []):
        *parents, last = pointer[1:].split("/")
        target = doc
        for p in parents:
            target = target[int(p)] if isinstance(target, list) else target[p]
        del target[last]
    return doc


@pytest.mark.parametrize("case", CASES["cases"], ids=[c["description"] for c in CASES["cases"]])
def test_schema_cases(case):
    """The same cases test/unit/onnx/manifest-schema.test.ts gives ajv: the same verdicts."""
    doc = _apply(json.loads((ROOT / CASES["base"]).read_text()), case)
    errors = schema_errors(doc)
    assert (not errors) == case["valid"], errors
    if not case["valid"]:
        with pytest.raises(ValueError):
            validate_manifest(doc)


def test_every_manifest_in_the_repository_is_valid():
    for f in [ROOT / "models" / "durian-synth" / "manifest.json", ROOT / "test" / "fixtures" / "onnx-tiny" / "manifest.json"]:
        assert schema_errors(json.loads(f.read_text())) == [], f
