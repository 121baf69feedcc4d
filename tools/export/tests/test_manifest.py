import hashlib
import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from durian_export.manifest import FORMAT_VERSION, validate_manifest, verify_model_dir, write_manifest


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


def test_manifest_describes_real_graph(tmp_path):
    _scale_graph(tmp_path / "unet.onnx")
    m = write_manifest(tmp_path, "tiny", {"unet": tmp_path / "unet.onnx"}, resolution=[64, 64])

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


def test_verify_detects_changed_and_missing_files(tmp_path):
    _scale_graph(tmp_path / "unet.onnx")
    _scale_graph(tmp_path / "vae_decoder.onnx")
    write_manifest(tmp_path, "tiny", {"unet": "unet.onnx", "vae_decoder": "vae_decoder.onnx"})
    assert verify_model_dir(tmp_path) == {"unet": "ok", "vae_decoder": "ok"}

    _scale_graph(tmp_path / "unet.onnx", factor=4.0)
    (tmp_path / "vae_decoder.onnx").unlink()
    assert verify_model_dir(tmp_path) == {"unet": "mismatch", "vae_decoder": "missing"}


@pytest.mark.parametrize(
    "patch, message",
    [
        ({"format_version": 99}, "format_version"),
        ({"graphs": {}}, "graphs"),
        ({"graphs": {"unet": {"file": "../x.onnx", "sha256": "0" * 64, "inputs": [], "outputs": []}}}, "file"),
        ({"graphs": {"unet": {"file": "u.onnx", "sha256": "XYZ", "inputs": [], "outputs": []}}}, "sha256"),
    ],
)
def test_validate_rejects_broken_manifests(patch, message):
    good = {
        "format_version": FORMAT_VERSION,
        "name": "tiny",
        "graphs": {"unet": {"file": "u.onnx", "sha256": "a" * 64,
                            "inputs": [{"name": "sample", "dtype": "float32", "shape": [1]}],
                            "outputs": [{"name": "out_sample", "dtype": "float32", "shape": [1]}]}},
    }
    validate_manifest(good)
    with pytest.raises(ValueError, match=message):
        validate_manifest({**good, **patch})
