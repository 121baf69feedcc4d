"""durian_export.face: the TFLite reader, the op mapping (each op against a numpy statement of TF's
semantics), the real conversion (deterministic, matching the committed models/face) and its
validation on real portraits (keijiro parity, a face on both portraits, a plausible mesh and mask)."""
import json
from collections import Counter

import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image

from durian_export.face import assets, check
from durian_export.face.convert import UnsupportedOpError, convert_subgraph, same_pads
from durian_export.face.tflite import Operator, Subgraph, Tensor, fold_fp16_dequantize, read_model

NODE_MODULES = assets.REPO_ROOT / "node_modules"
COMMITTED = assets.REPO_ROOT / "models" / "face"
rng = np.random.default_rng(0)


# --- a tiny subgraph builder and a numpy statement of the TF ops ------------------------------

class _Graph:
    def __init__(self):
        self.tensors, self.operators = [], []

    def add(self, name, shape, data=None, dtype=np.float32):
        data = None if data is None else np.asarray(data, dtype=dtype)
        self.tensors.append(Tensor(len(self.tensors), name, tuple(shape), np.dtype(dtype), 0, data))
        return len(self.tensors) - 1

    def op(self, opcode, inputs, outputs, custom_code=None, custom_options=b"", **options):
        self.operators.append(Operator(opcode, tuple(inputs), tuple(outputs), options, custom_code, custom_options))

    def build(self, inputs, outputs):
        return Subgraph("test", tuple(self.tensors), tuple(inputs), tuple(outputs), tuple(self.operators))


def _run_one(g, x_index, y_index, x):
    """Convert, run on onnxruntime, return y (TFLite layout)."""
    y_shape = g.tensors[y_index].shape
    model = convert_subgraph(g.build([x_index], [y_index]), {"x": "x"}, {"y": ("y", y_shape)}, "test")
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(["y"], {"x": x})[0]


def _ref_conv(x, w, stride, pads, dilation=1, depth_multiplier=None):
    """NHWC conv with explicit (top, bottom, left, right) pads; depthwise when depth_multiplier."""
    xp = np.pad(x, ((0, 0), pads[:2], pads[2:], (0, 0)))
    kh, kw = w.shape[1:3]
    ho = (xp.shape[1] - (kh - 1) * dilation - 1) // stride + 1
    wo = (xp.shape[2] - (kw - 1) * dilation - 1) // stride + 1
    out = 0
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, i * dilation::stride, j * dilation::stride][:, :ho, :wo]
            if depth_multiplier:
                out = out + np.repeat(patch, depth_multiplier, axis=3) * w[0, i, j]
            else:
                out = out + patch @ w[:, i, j, :].T
    return out


def _ref_resize(x, oh, ow, align_corners, half_pixel):
    """tensorflow/lite/kernels/internal/reference ResizeBilinear, axis by axis."""
    def weights(n_in, n_out):
        scale = (n_in - 1) / (n_out - 1) if align_corners and n_out > 1 else n_in / n_out
        src = (np.arange(n_out) + 0.5) * scale - 0.5 if half_pixel else np.arange(n_out) * scale
        lo = np.floor(src)
        return np.maximum(lo, 0).astype(int), np.minimum(np.ceil(src), n_in - 1).astype(int), src - lo
    (y0, y1, fy), (x0, x1, fx) = weights(x.shape[1], oh), weights(x.shape[2], ow)
    rows = x[:, y0] + (x[:, y1] - x[:, y0]) * fy[None, :, None, None]
    return rows[:, :, x0] + (rows[:, :, x1] - rows[:, :, x0]) * fx[None, None, :, None]


def _pool_ref(x, k, s, pads, reduce):
    xp = np.pad(x, ((0, 0), pads[:2], pads[2:], (0, 0)), constant_values=np.nan)
    ho, wo = (xp.shape[1] - k) // s + 1, (xp.shape[2] - k) // s + 1
    windows = np.stack([xp[:, i::s, j::s][:, :ho, :wo] for i in range(k) for j in range(k)])
    return reduce(windows, axis=0)   # nan-aware: TF ignores the padding


def _x(*shape):
    return rng.standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("depthwise", [False, True])
def test_conv_same_padding_puts_the_odd_pixel_bottom_right(depthwise):
    # 7×8 input, 3×3 kernel, stride 2: TF pads H by (1, 1) and W by (0, 1)
    assert same_pads(7, 3, 2) == (1, 1) and same_pads(8, 3, 2) == (0, 1)
    g, x = _Graph(), _x(1, 7, 8, 3)
    w = _x(1, 3, 3, 6) if depthwise else _x(5, 3, 3, 3)
    b = _x(w.shape[3] if depthwise else w.shape[0])
    xi, wi, bi = g.add("x", x.shape), g.add("w", w.shape, w), g.add("b", b.shape, b)
    yi = g.add("y", (1, 4, 4, len(b)))
    g.op("DEPTHWISE_CONV_2D" if depthwise else "CONV_2D", [xi, wi, bi], [yi], padding="SAME", stride_w=2,
         stride_h=2, depth_multiplier=2, fused_activation_function="RELU6", dilation_w_factor=1, dilation_h_factor=1)
    expected = np.clip(_ref_conv(x, w, 2, (1, 1, 0, 1), depth_multiplier=2 if depthwise else None) + b, 0, 6)
    np.testing.assert_allclose(_run_one(g, xi, yi, x), expected, atol=1e-5)


def test_dilated_conv_same():
    g, x, w = _Graph(), _x(1, 6, 6, 2), _x(3, 3, 3, 2)
    xi, wi = g.add("x", x.shape), g.add("w", w.shape, w)
    yi = g.add("y", (1, 6, 6, 3))
    g.op("CONV_2D", [xi, wi, -1], [yi], padding="SAME", stride_w=1, stride_h=1, fused_activation_function="NONE",
         dilation_w_factor=2, dilation_h_factor=2)
    np.testing.assert_allclose(_run_one(g, xi, yi, x), _ref_conv(x, w, 1, (2, 2, 2, 2), dilation=2), atol=1e-5)


@pytest.mark.parametrize("opcode", ["MAX_POOL_2D", "AVERAGE_POOL_2D"])
def test_pool_same(opcode):
    g, x = _Graph(), _x(1, 5, 6, 3)
    xi, yi = g.add("x", x.shape), g.add("y", (1, 3, 3, 3))
    g.op(opcode, [xi], [yi], padding="SAME", stride_w=2, stride_h=2, filter_width=2, filter_height=2,
         fused_activation_function="NONE")
    reduce = np.nanmax if opcode == "MAX_POOL_2D" else np.nanmean
    np.testing.assert_allclose(_run_one(g, xi, yi, x), _pool_ref(x, 2, 2, (0, 1, 0, 0), reduce), atol=1e-6)


def test_prelu_alpha_is_per_channel():
    g, x, alpha = _Graph(), _x(1, 4, 5, 3), np.array([[[0.1, 0.5, 2.0]]], np.float32)
    xi, ai, yi = g.add("x", x.shape), g.add("alpha", alpha.shape, alpha), g.add("y", x.shape)
    g.op("PRELU", [xi, ai], [yi])
    np.testing.assert_allclose(_run_one(g, xi, yi, x), np.where(x > 0, x, alpha * x), atol=1e-6)


def test_pad_maps_nhwc_paddings():
    g, x = _Graph(), _x(1, 2, 3, 4)
    paddings = np.array([[0, 0], [1, 0], [0, 2], [1, 3]], np.int32)
    xi, pi, yi = g.add("x", x.shape), g.add("p", (4, 2), paddings, np.int32), g.add("y", (1, 3, 5, 8))
    g.op("PAD", [xi, pi], [yi])
    np.testing.assert_array_equal(_run_one(g, xi, yi, x), np.pad(x, paddings))


@pytest.mark.parametrize("out_shape", [(1, 6, 4), (1, 3, 2, 4)])
def test_reshape_follows_nhwc_memory_order(out_shape):
    g, x = _Graph(), _x(1, 2, 3, 4)
    xi, yi = g.add("x", x.shape), g.add("y", out_shape)
    g.op("RESHAPE", [xi], [yi], new_shape=out_shape)
    np.testing.assert_array_equal(_run_one(g, xi, yi, x), x.reshape(out_shape))


@pytest.mark.parametrize("axis", [-1, 2])
def test_concatenation_axis_and_constant_operand(axis):
    g, x = _Graph(), _x(1, 2, 3, 4)
    c = _x(1, 2, 3, 4)
    out = np.concatenate([x, c], axis=axis)
    xi, ci, yi = g.add("x", x.shape), g.add("c", c.shape, c), g.add("y", out.shape)
    g.op("CONCATENATION", [xi, ci], [yi], axis=axis, fused_activation_function="NONE")
    np.testing.assert_array_equal(_run_one(g, xi, yi, x), out)


@pytest.mark.parametrize("opcode,ref", [
    ("MUL", lambda x, c: x * c), ("ADD", lambda x, c: x + c), ("SUB", lambda x, c: np.maximum(x - c, 0))])
def test_binary_broadcasts_a_channel_constant(opcode, ref):
    g, x, c = _Graph(), _x(1, 3, 4, 5), _x(5)
    xi, ci, yi = g.add("x", x.shape), g.add("c", c.shape, c), g.add("y", x.shape)
    g.op(opcode, [xi, ci], [yi], fused_activation_function="RELU" if opcode == "SUB" else "NONE")
    np.testing.assert_allclose(_run_one(g, xi, yi, x), ref(x, c), atol=1e-6)


@pytest.mark.parametrize("opcode,ref", [
    ("HARD_SWISH", lambda x: x * np.clip(x + 3, 0, 6) / 6), ("LOGISTIC", lambda x: 1 / (1 + np.exp(-x))),
    ("RELU6", lambda x: np.clip(x, 0, 6)), ("TANH", np.tanh), ("RELU", lambda x: np.maximum(x, 0))])
def test_activations(opcode, ref):
    g, x = _Graph(), _x(1, 2, 3, 4) * 4
    xi, yi = g.add("x", x.shape), g.add("y", x.shape)
    g.op(opcode, [xi], [yi])
    np.testing.assert_allclose(_run_one(g, xi, yi, x), ref(x), atol=1e-6)


@pytest.mark.parametrize("align_corners,half_pixel,out_hw", [
    (False, True, (6, 8)), (True, False, (5, 7)), (False, False, (6, 8))])
def test_resize_bilinear_matches_tf(align_corners, half_pixel, out_hw):
    g, x = _Graph(), _x(1, 3, 4, 2)
    xi, si = g.add("x", x.shape), g.add("size", (2,), out_hw, np.int32)
    yi = g.add("y", (1, *out_hw, 2))
    g.op("RESIZE_BILINEAR", [xi, si], [yi], new_height=0, new_width=0, align_corners=align_corners,
         half_pixel_centers=half_pixel)
    np.testing.assert_allclose(_run_one(g, xi, yi, x), _ref_resize(x, *out_hw, align_corners, half_pixel), atol=1e-5)


@pytest.mark.parametrize("axes,keep", [((1, 2), False), ((3,), True), ((1, 3), False)])
def test_mean(axes, keep):
    g, x = _Graph(), _x(1, 3, 4, 5)
    out = x.mean(axis=axes, keepdims=keep)
    xi, ai, yi = g.add("x", x.shape), g.add("axes", (len(axes),), axes, np.int32), g.add("y", out.shape)
    g.op("MEAN", [xi, ai], [yi], keep_dims=keep)
    np.testing.assert_allclose(_run_one(g, xi, yi, x), out, atol=1e-6)


@pytest.mark.parametrize("kernel,in_hw,out_hw", [(2, (3, 4), (6, 8)), (3, (3, 4), (6, 8))])
def test_convolution_2d_transpose_bias(kernel, in_hw, out_hw):
    g, x, w, b = _Graph(), _x(1, *in_hw, 2), _x(3, kernel, kernel, 2), _x(3)
    xi, wi, bi = g.add("x", x.shape), g.add("w", w.shape, w), g.add("b", b.shape, b)
    yi = g.add("y", (1, *out_hw, 3))
    g.op("CUSTOM", [xi, wi, bi], [yi], custom_code="Convolution2DTransposeBias",
         custom_options=np.array([1, 2, 2], "<i4").tobytes())   # SAME, stride 2 × 2
    full = np.zeros((1, (in_hw[0] - 1) * 2 + kernel, (in_hw[1] - 1) * 2 + kernel, 3), np.float32)
    for i in range(kernel):
        for j in range(kernel):
            full[:, i:i + 2 * in_hw[0]:2, j:j + 2 * in_hw[1]:2] += x @ w[:, i, j, :].T
    # SAME keeps out_hw pixels starting at total_padding // 2 (0 here: the odd pixel is cropped at the end)
    np.testing.assert_allclose(_run_one(g, xi, yi, x), full[:, :out_hw[0], :out_hw[1]] + b, atol=1e-5)


def test_fp16_dequantize_is_folded_into_fp32_constants():
    g, x, c = _Graph(), _x(1, 2, 2, 3), _x(1, 2, 2, 3)
    xi, hi = g.add("x", x.shape), g.add("c16", c.shape, c.astype(np.float16), np.float16)
    ci, yi = g.add("c", c.shape), g.add("y", x.shape)
    g.op("DEQUANTIZE", [hi], [ci])
    g.op("ADD", [xi, ci], [yi], fused_activation_function="NONE")
    folded = fold_fp16_dequantize(g.build([xi], [yi]))
    assert [op.opcode for op in folded.operators] == ["ADD"]
    assert folded.tensors[ci].dtype == np.float32
    np.testing.assert_allclose(_run_one(g, xi, yi, x), x + c.astype(np.float16).astype(np.float32), atol=1e-6)


@pytest.mark.parametrize("opcode,custom,named", [
    ("SQUARED_DIFFERENCE", None, "SQUARED_DIFFERENCE"), ("CUSTOM", "FooBar", "CUSTOM:FooBar")])
def test_unknown_op_is_named(opcode, custom, named):
    g, x = _Graph(), _x(1, 2, 2, 3)
    xi, yi = g.add("x", x.shape), g.add("y", x.shape)
    g.op(opcode, [xi, xi], [yi], custom_code=custom)
    with pytest.raises(UnsupportedOpError, match=f"unsupported TFLite op {named} "):
        convert_subgraph(g.build([xi], [yi]), {"x": "x"}, {"y": ("y", x.shape)}, "test")


# --- the real models --------------------------------------------------------------------------

def test_reader_on_the_detector():
    model = read_model((NODE_MODULES / "@mediapipe/face_detection/face_detection_short_range.tflite").read_bytes())
    (graph,) = model.subgraphs
    assert [(graph.tensors[i].name, graph.tensors[i].shape) for i in graph.inputs] == [("input", (1, 128, 128, 3))]
    assert [(graph.tensors[i].name, graph.tensors[i].shape) for i in graph.outputs] == [
        ("regressors", (1, 896, 16)), ("classificators", (1, 896, 1))]
    assert Counter(op.opcode for op in graph.operators) == {
        "DEQUANTIZE": 74, "CONV_2D": 21, "RELU": 17, "DEPTHWISE_CONV_2D": 16, "ADD": 16, "PAD": 11, "RESHAPE": 4,
        "MAX_POOL_2D": 3, "CONCATENATION": 2}
    first = graph.operators[[op.opcode for op in graph.operators].index("CONV_2D")]
    assert (first.options["padding"], first.options["stride_w"], first.options["stride_h"]) == ("SAME", 2, 2)
    assert "DEQUANTIZE" not in {op.opcode for op in fold_fp16_dequantize(graph).operators}
    with pytest.raises(ValueError, match="not a TFLite flatbuffer"):
        read_model(b"\0" * 16)


def test_packed_range_is_read_from_the_loader():
    loader = (NODE_MODULES / "@mediapipe/face_mesh/face_mesh_solution_packed_assets_loader.js").read_text()
    assert assets.get_packed_range(loader, assets.FACE_LANDMARK_MEMBER) == (2495952, 1241896)
    assert assets.get_packed_range('{"filename": "/a/b.tflite", "start": 10, "end": 30}', "/a/b.tflite") == (10, 20)
    with pytest.raises(ValueError, match="not listed"):
        assets.get_packed_range(loader, "/nope.tflite")


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    out = tmp_path_factory.mktemp("face")
    assets.write_face_models(out, NODE_MODULES, convert_subgraph)
    return out


def test_conversion_is_deterministic_and_matches_the_committed_files(converted, tmp_path):
    assets.write_face_models(tmp_path, NODE_MODULES, convert_subgraph)
    names = sorted(p.name for p in converted.iterdir())
    assert names == sorted(["face_detector.onnx", "face_mesh.onnx", "selfie_segmenter.onnx", "manifest.json", "NOTICE"])
    for name in names:
        assert (tmp_path / name).read_bytes() == (converted / name).read_bytes(), name
        assert (COMMITTED / name).read_bytes() == (converted / name).read_bytes(), f"models/face/{name} is stale"


def test_manifest(converted):
    manifest = json.loads((converted / "manifest.json").read_text())
    assert (manifest["format"], manifest["format_version"]) == ("durian-face", 1)
    assert set(manifest["source"]) == {"@mediapipe/face_detection", "@mediapipe/face_mesh",
                                       "@mediapipe/selfie_segmentation"}
    graphs = manifest["graphs"]
    assert graphs["detector"]["inputs"] == {"image": [1, 128, 128, 3]}
    assert graphs["detector"]["outputs"] == {"regressors": [1, 896, 16], "classificators": [1, 896, 1]}
    assert graphs["mesh"]["inputs"] == {"image": [1, 192, 192, 3]}
    assert graphs["mesh"]["outputs"] == {"landmarks": [1, 1404], "face_flag": [1, 1]}
    assert graphs["segmenter"]["inputs"] == {"image": [1, 256, 256, 3]}
    assert graphs["segmenter"]["outputs"] == {"mask": [1, 256, 256, 1]}
    assert graphs["mesh"]["source_range"] == [2495952, 3737848]
    for entry in graphs.values():
        assert entry["sha256"] == assets.sha256((converted / entry["file"]).read_bytes())
        sess = ort.InferenceSession(str(converted / entry["file"]), providers=["CPUExecutionProvider"])
        assert {i.name: i.shape for i in sess.get_inputs()} == entry["inputs"]
        assert {o.name: o.shape for o in sess.get_outputs()} == entry["outputs"]
    notice = (converted / "NOTICE").read_text()
    assert "Apache License, Version 2.0" in notice and "MediaPipe" in notice
    assert all(f"{p}@{v}" in notice for p, v in manifest["source"].items())


def test_anchor_layout():
    anchors = check.create_anchors()
    assert anchors.shape == (896, 2)
    np.testing.assert_allclose(anchors[:2], [[1 / 32, 1 / 32]] * 2)        # 16×16 grid, 2 per cell
    np.testing.assert_allclose(anchors[2], [3 / 32, 1 / 32])
    np.testing.assert_allclose(anchors[512:518], [[1 / 16, 1 / 16]] * 6)   # 8×8 grid, 6 per cell
    np.testing.assert_allclose(anchors[-1], [15 / 16, 15 / 16])


@pytest.fixture(scope="module")
def validation(converted):
    return check.validate(converted, check.ensure_face_media())


@pytest.mark.parametrize("portrait", [p.name for p in check.PORTRAITS])
def test_portrait_checks(validation, portrait):
    report, failures = validation
    figures = report[portrait]
    assert figures["detector_max_abs_diff"] <= check.MAX_PARITY_ERROR
    assert figures["face_score"] > 0.5
    assert figures["mesh_flag"] > 0.9 and figures["mesh_inside_crop"]
    assert figures["mesh_eye_y"] < figures["mesh_mouth_y"]
    assert figures["mask_on_face"] > 0.9 and figures["mask_top_corners"] < 0.1
    assert not [f for f in failures if f.startswith(portrait)]


def test_no_face_on_a_blank_image(converted):
    session = check.create_session(converted / "face_detector.onnx")
    regressors, logits = check.forward_detector(session, Image.new("RGB", (128, 128), (128, 128, 128)))
    assert check.normalize_detections(regressors, logits)[0].score < 0.5
