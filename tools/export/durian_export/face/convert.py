"""python -m durian_export.face.convert --out models/face [--node-modules node_modules] [--check]

TFLite → ONNX for MediaPipe's face models, without TensorFlow (tools/export/README.md, "Face
models"). Each TFLite op becomes one or a few ONNX nodes (opset 17, fp32). The graph runs NCHW
inside: every rank-4 activation is NCHW in ONNX, everything else keeps its TFLite layout, and the
boundaries stay NHWC (one Transpose after the input, one before each output), so the I/O shapes are
the TFLite models' own, as tabled in that README.
"""
from __future__ import annotations

import argparse
import re
import struct
import time
from pathlib import Path
from typing import Callable

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .tflite import Operator, Subgraph, fold_fp16_dequantize

OPSET = 17
PRODUCER = "durian_export.face"
NHWC_TO_NCHW = (0, 3, 1, 2)
NCHW_TO_NHWC = (0, 2, 3, 1)


class UnsupportedOpError(ValueError):
    """A TFLite op (or option) the converter has no mapping for."""


class _Builder:
    """Accumulates ONNX nodes and initializers while walking one TFLite subgraph in order."""

    def __init__(self, graph: Subgraph):
        self.graph = graph
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._names: dict[int, str] = {}
        self._used: set[str] = set()
        self._consts: dict[tuple[int, int], str] = {}

    # --- names and values -------------------------------------------------------------------
    def unique(self, base: str) -> str:
        name = re.sub(r"[^A-Za-z0-9_./:-]", "_", base) or "t"
        candidate, k = name, 1
        while candidate in self._used:
            candidate, k = f"{name}_{k}", k + 1
        self._used.add(candidate)
        return candidate

    def name(self, index: int) -> str:
        """The ONNX name of a TFLite activation (created on first use)."""
        if index not in self._names:
            self._names[index] = self.unique(self.graph.tensors[index].name)
        return self._names[index]

    def bind(self, index: int, name: str) -> None:
        self._names[index] = name
        self._used.add(name)

    def shape(self, index: int) -> tuple[int, ...]:
        return self.graph.tensors[index].shape

    def data(self, index: int, what: str, op: Operator) -> np.ndarray:
        t = self.graph.tensors[index]
        if t.data is None:
            raise UnsupportedOpError(f"{op.opcode}: {what} {t.name!r} must be a constant")
        return t.data

    def const(self, base: str, array: np.ndarray) -> str:
        name = self.unique(base)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def operand(self, index: int, rank: int) -> str:
        """An op input: activations by name, constants as initializers in ONNX layout.

        `rank` is the rank of the op's output: a constant broadcast against a rank-4 activation is
        first padded to rank 4 (numpy broadcasting aligns trailing axes, i.e. NHWC channels) and
        then transposed, so that it broadcasts along C of the NCHW activation."""
        t = self.graph.tensors[index]
        if t.data is None:
            if rank == 4 and len(t.shape) != 4:
                raise UnsupportedOpError(f"activation {t.name!r} of rank {len(t.shape)} broadcast against rank 4")
            return self.name(index)
        key = (index, rank)
        if key not in self._consts:
            array = t.data.astype(np.float32) if t.dtype == np.float16 else t.data
            if rank == 4:
                array = array.reshape((1,) * (4 - array.ndim) + array.shape).transpose(NHWC_TO_NCHW)
            self._consts[key] = self.const(t.name, array)
        return self._consts[key]

    def int64(self, base: str, values) -> str:
        return self.const(base, np.asarray(values, dtype=np.int64))

    # --- nodes ------------------------------------------------------------------------------
    def node(self, op_type: str, inputs: list[str], outputs: list[str], **attrs) -> None:
        self.nodes.append(helper.make_node(op_type, inputs, outputs, name=f"{op_type}_{len(self.nodes)}", **attrs))

    def emit(self, op_type: str, inputs: list[str], out: int, activation: str = "NONE", **attrs) -> None:
        """One node writing TFLite tensor `out`, followed by its fused activation if any."""
        target = self.name(out)
        if activation == "NONE":
            self.node(op_type, inputs, [target], **attrs)
            return
        pre = self.unique(f"{target}/pre_activation")
        self.node(op_type, inputs, [pre], **attrs)
        self.activation(activation, pre, target)

    def activation(self, kind: str, x: str, y: str) -> None:
        if kind == "RELU":
            self.node("Relu", [x], [y])
        elif kind == "RELU6":
            self.node("Clip", [x, self._scalar(0.0), self._scalar(6.0)], [y])
        elif kind == "RELU_N1_TO_1":
            self.node("Clip", [x, self._scalar(-1.0), self._scalar(1.0)], [y])
        elif kind == "TANH":
            self.node("Tanh", [x], [y])
        else:
            raise UnsupportedOpError(f"unsupported fused activation {kind}")

    def _scalar(self, value: float) -> str:
        key = (-1, int(np.float32(value).view(np.int32)))
        if key not in self._consts:
            self._consts[key] = self.const(f"scalar_{value:g}", np.array(value, dtype=np.float32))
        return self._consts[key]


# --- padding ------------------------------------------------------------------------------

def same_pads(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TF SAME padding along one axis: out = ceil(size / stride), the odd pixel goes after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def _spatial_pads(padding: str, hw: tuple[int, int], kernel: tuple[int, int], stride: tuple[int, int],
                  dilation: tuple[int, int] = (1, 1)) -> list[int]:
    if padding == "VALID":
        return [0, 0, 0, 0]
    (top, bottom), (left, right) = (same_pads(hw[i], kernel[i], stride[i], dilation[i]) for i in range(2))
    return [top, left, bottom, right]   # ONNX order: begins (H, W), then ends


def _nchw_axis(axis: int, rank: int) -> int:
    axis = axis + rank if axis < 0 else axis
    return NHWC_TO_NCHW.index(axis) if rank == 4 else axis


# --- op mapping ---------------------------------------------------------------------------

def _conv_2d(b: _Builder, op: Operator) -> None:
    x, w, bias = op.inputs[0], op.inputs[1], op.inputs[2] if len(op.inputs) > 2 else -1
    o = op.options
    weight = b.data(w, "filter", op)                         # OHWI
    kernel, stride = weight.shape[1:3], (o["stride_h"], o["stride_w"])
    dilation = (o["dilation_h_factor"], o["dilation_w_factor"])
    depthwise = op.opcode == "DEPTHWISE_CONV_2D"
    # depthwise filters are [1, kh, kw, C·m]; ONNX wants [C·m, 1, kh, kw] with one group per channel
    onnx_weight = weight.transpose(3, 0, 1, 2) if depthwise else weight.transpose(0, 3, 1, 2)
    inputs = [b.name(x), b.const(b.graph.tensors[w].name, onnx_weight.astype(np.float32))]
    if bias >= 0:
        inputs.append(b.const(b.graph.tensors[bias].name, b.data(bias, "bias", op).astype(np.float32)))
    b.emit("Conv", inputs, op.outputs[0], o["fused_activation_function"],
           kernel_shape=list(kernel), strides=list(stride), dilations=list(dilation),
           pads=_spatial_pads(o["padding"], b.shape(x)[1:3], kernel, stride, dilation),
           group=b.shape(x)[3] if depthwise else 1)


def _transpose_conv_bias(b: _Builder, op: Operator) -> None:
    """MediaPipe's custom Convolution2DTransposeBias: TfLiteTransposeConvParams as raw custom data
    (padding enum with 1 = SAME, 2 = VALID; stride_w; stride_h), inputs x, OHWI filter, bias."""
    padding, stride_w, stride_h = struct.unpack_from("<3i", op.custom_options, 0)
    if padding not in (1, 2):
        raise UnsupportedOpError(f"Convolution2DTransposeBias: unknown padding {padding}")
    x, w, bias = op.inputs
    weight = b.data(w, "filter", op)                         # [C_out, kh, kw, C_in]
    kernel, stride = weight.shape[1:3], (stride_h, stride_w)
    in_hw, out_hw = b.shape(x)[1:3], b.shape(op.outputs[0])[1:3]
    pads = [0, 0, 0, 0]
    if padding == 1:
        # the transposed conv crops what the matching forward SAME conv would have padded
        for i in range(2):
            total = max((in_hw[i] - 1) * stride[i] + kernel[i] - out_hw[i], 0)
            pads[i], pads[i + 2] = total // 2, total - total // 2
    inputs = [b.name(x), b.const(b.graph.tensors[w].name, weight.transpose(3, 0, 1, 2).astype(np.float32)),
              b.const(b.graph.tensors[bias].name, b.data(bias, "bias", op).astype(np.float32))]
    b.emit("ConvTranspose", inputs, op.outputs[0], kernel_shape=list(kernel), strides=list(stride), pads=pads)
    out_shape = b.shape(op.outputs[0])
    expected = [(in_hw[i] - 1) * stride[i] + kernel[i] - pads[i] - pads[i + 2] for i in range(2)]
    if expected != list(out_hw) or out_shape[3] != weight.shape[0]:
        raise UnsupportedOpError(f"Convolution2DTransposeBias: output {out_shape} does not follow from the options")


def _pool(b: _Builder, op: Operator) -> None:
    o = op.options
    x = op.inputs[0]
    kernel, stride = (o["filter_height"], o["filter_width"]), (o["stride_h"], o["stride_w"])
    pads = _spatial_pads(o["padding"], b.shape(x)[1:3], kernel, stride)
    attrs = dict(kernel_shape=list(kernel), strides=list(stride), pads=pads)
    if op.opcode == "AVERAGE_POOL_2D":
        attrs["count_include_pad"] = 0     # TF averages over the valid pixels only
    b.emit("MaxPool" if op.opcode == "MAX_POOL_2D" else "AveragePool", [b.name(x)], op.outputs[0],
           o["fused_activation_function"], **attrs)


def _binary(onnx_op: str) -> Callable[[_Builder, Operator], None]:
    def convert(b: _Builder, op: Operator) -> None:
        rank = len(b.shape(op.outputs[0]))
        b.emit(onnx_op, [b.operand(i, rank) for i in op.inputs], op.outputs[0],
               op.options.get("fused_activation_function", "NONE"))
    return convert


def _unary(onnx_op: str) -> Callable[[_Builder, Operator], None]:
    def convert(b: _Builder, op: Operator) -> None:
        b.emit(onnx_op, [b.name(op.inputs[0])], op.outputs[0])
    return convert


def _relu6(b: _Builder, op: Operator) -> None:
    b.activation("RELU6", b.name(op.inputs[0]), b.name(op.outputs[0]))


def _prelu(b: _Builder, op: Operator) -> None:
    # alpha is stored [1, 1, C] or [C] (NHWC broadcasting); operand() turns it into [1, C, 1, 1]
    rank = len(b.shape(op.outputs[0]))
    b.emit("PRelu", [b.name(op.inputs[0]), b.operand(op.inputs[1], rank)], op.outputs[0])


def _pad(b: _Builder, op: Operator) -> None:
    paddings = b.data(op.inputs[1], "paddings", op).reshape(-1, 2)
    order = NHWC_TO_NCHW if len(paddings) == 4 else range(len(paddings))
    pads = [int(paddings[a, 0]) for a in order] + [int(paddings[a, 1]) for a in order]
    b.emit("Pad", [b.name(op.inputs[0]), b.int64(f"{b.name(op.outputs[0])}/pads", pads)], op.outputs[0])


def _reshape(b: _Builder, op: Operator) -> None:
    # TFLite reshapes NHWC memory order: go back to NHWC before and to NCHW after when rank is 4
    x, out = op.inputs[0], op.outputs[0]
    source = b.name(x)
    if len(b.shape(x)) == 4:
        source_nhwc = b.unique(f"{source}/nhwc")
        b.node("Transpose", [source], [source_nhwc], perm=list(NCHW_TO_NHWC))
        source = source_nhwc
    shape = b.int64(f"{b.name(out)}/shape", b.shape(out))
    if len(b.shape(out)) != 4:
        b.node("Reshape", [source, shape], [b.name(out)])
        return
    reshaped = b.unique(f"{b.name(out)}/nhwc")
    b.node("Reshape", [source, shape], [reshaped])
    b.node("Transpose", [reshaped], [b.name(out)], perm=list(NHWC_TO_NCHW))


def _concatenation(b: _Builder, op: Operator) -> None:
    rank = len(b.shape(op.outputs[0]))
    b.emit("Concat", [b.operand(i, rank) for i in op.inputs], op.outputs[0],
           op.options["fused_activation_function"], axis=_nchw_axis(op.options["axis"], rank))


def _resize_bilinear(b: _Builder, op: Operator) -> None:
    o = op.options
    if o["align_corners"] and o["half_pixel_centers"]:
        raise UnsupportedOpError("RESIZE_BILINEAR with both align_corners and half_pixel_centers")
    mode = "align_corners" if o["align_corners"] else "half_pixel" if o["half_pixel_centers"] else "asymmetric"
    n, h, w, c = b.shape(op.outputs[0])
    size = [int(v) for v in b.data(op.inputs[1], "size", op)]
    if size != [h, w]:
        raise UnsupportedOpError(f"RESIZE_BILINEAR size {size} disagrees with output shape {(h, w)}")
    sizes = b.int64(f"{b.name(op.outputs[0])}/sizes", [n, c, h, w])
    b.emit("Resize", [b.name(op.inputs[0]), "", "", sizes], op.outputs[0], mode="linear",
           coordinate_transformation_mode=mode)


def _mean(b: _Builder, op: Operator) -> None:
    x, out = op.inputs[0], op.outputs[0]
    rank = len(b.shape(x))
    axes = sorted({int(a) + rank if a < 0 else int(a) for a in b.data(op.inputs[1], "axes", op).reshape(-1)})
    keep = bool(op.options["keep_dims"])
    source = b.name(x)
    if rank == 4:
        mapped = [NHWC_TO_NCHW.index(a) for a in axes]
        kept = [NHWC_TO_NCHW.index(a) for a in range(4) if a not in axes]
        if keep or kept == sorted(kept):
            axes = sorted(mapped)     # the surviving axes come out in TFLite order anyway
        else:
            source = b.unique(f"{source}/nhwc")
            b.node("Transpose", [b.name(x)], [source], perm=list(NCHW_TO_NHWC))
    b.emit("ReduceMean", [source], out, axes=axes, keepdims=int(keep))


def _dequantize(b: _Builder, op: Operator) -> None:
    # fp16 constants were folded by fold_fp16_dequantize; what is left is an fp16 activation
    if b.graph.tensors[op.inputs[0]].dtype != np.float16:
        raise UnsupportedOpError(f"DEQUANTIZE of {b.graph.tensors[op.inputs[0]].dtype} (only fp16 is supported)")
    b.emit("Cast", [b.name(op.inputs[0])], op.outputs[0], to=TensorProto.FLOAT)


CONVERTERS: dict[str, Callable[[_Builder, Operator], None]] = {
    "CONV_2D": _conv_2d,
    "DEPTHWISE_CONV_2D": _conv_2d,
    "ADD": _binary("Add"),
    "MUL": _binary("Mul"),
    "SUB": _binary("Sub"),
    "RELU": _unary("Relu"),
    "RELU6": _relu6,
    "LOGISTIC": _unary("Sigmoid"),
    "TANH": _unary("Tanh"),
    "HARD_SWISH": _unary("HardSwish"),
    "ABS": _unary("Abs"),
    "PRELU": _prelu,
    "MAX_POOL_2D": _pool,
    "AVERAGE_POOL_2D": _pool,
    "PAD": _pad,
    "RESHAPE": _reshape,
    "CONCATENATION": _concatenation,
    "RESIZE_BILINEAR": _resize_bilinear,
    "MEAN": _mean,
    "DEQUANTIZE": _dequantize,
    "CUSTOM:Convolution2DTransposeBias": _transpose_conv_bias,
}


def _op_key(op: Operator) -> str:
    return f"CUSTOM:{op.custom_code}" if op.opcode == "CUSTOM" else op.opcode


def convert_subgraph(graph: Subgraph, inputs: dict[str, str], outputs: dict[str, tuple[str, tuple[int, ...]]],
                     graph_name: str) -> onnx.ModelProto:
    """One TFLite subgraph → an ONNX model with renamed NHWC boundaries.

    `inputs` maps TFLite input names to ONNX names; `outputs` maps TFLite output names to
    (ONNX name, shape), where the shape may differ from TFLite's if the element count agrees
    (face_landmark's [1, 1, 1, 1404] becomes [1, 1404])."""
    graph = fold_fp16_dequantize(graph)
    b = _Builder(graph)
    by_name = {graph.tensors[i].name: i for i in (*graph.inputs, *graph.outputs)}
    for tflite_name in (*inputs, *outputs):
        if tflite_name not in by_name:
            raise ValueError(f"{graph_name}: no graph input/output {tflite_name!r}; have {sorted(by_name)}")
    for onnx_name in (*inputs.values(), *(name for name, _ in outputs.values())):
        b.unique(onnx_name)    # reserved, so that TFLite tensors of the same name get a suffix
    graph_inputs = []
    for tflite_name, onnx_name in inputs.items():
        index = by_name[tflite_name]
        shape = b.shape(index)
        graph_inputs.append(helper.make_tensor_value_info(onnx_name, TensorProto.FLOAT, list(shape)))
        if len(shape) == 4:
            b.node("Transpose", [onnx_name], [b.name(index)], perm=list(NHWC_TO_NCHW))
        else:
            b.bind(index, onnx_name)

    for k, op in enumerate(graph.operators):
        convert = CONVERTERS.get(_op_key(op))
        if convert is None:
            out = graph.tensors[op.outputs[0]].name if op.outputs else "?"
            raise UnsupportedOpError(f"{graph_name}: unsupported TFLite op {_op_key(op)} (operator #{k}, output "
                                     f"{out!r}); supported: {', '.join(sorted(CONVERTERS))}")
        convert(b, op)

    graph_outputs = []
    for tflite_name, (onnx_name, shape) in outputs.items():
        index = by_name[tflite_name]
        source = b.name(index)
        if len(b.shape(index)) == 4:
            nhwc = b.unique(f"{source}/nhwc")
            b.node("Transpose", [source], [nhwc], perm=list(NCHW_TO_NHWC))
            source = nhwc
        if int(np.prod(shape)) != int(np.prod(b.shape(index))):
            raise ValueError(f"{graph_name}: output {onnx_name} shape {shape} vs TFLite {b.shape(index)}")
        b.node("Reshape", [source, b.int64(f"{onnx_name}/shape", shape)], [onnx_name])
        graph_outputs.append(helper.make_tensor_value_info(onnx_name, TensorProto.FLOAT, list(shape)))

    onnx_graph = helper.make_graph(b.nodes, graph_name, graph_inputs, graph_outputs, b.initializers)
    model = helper.make_model(onnx_graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name=PRODUCER, producer_version="1")
    model.ir_version = 8   # opset 17's IR version: loads in every onnxruntime the CLI supports
    onnx.checker.check_model(model, full_check=True)
    return model


def main(argv: list[str] | None = None) -> None:
    from . import assets

    p = argparse.ArgumentParser(prog="python -m durian_export.face.convert", description=__doc__.split("\n\n")[1])
    p.add_argument("--out", type=Path, default=assets.REPO_ROOT / "models" / "face", help="output folder")
    p.add_argument("--node-modules", type=Path, default=assets.REPO_ROOT / "node_modules",
                   help="where the @mediapipe npm packages are installed")
    p.add_argument("--check", action="store_true",
                   help="validate against keijiro's ONNX BlazeFace and on the real portraits")
    args = p.parse_args(argv)

    t0 = time.perf_counter()
    written = assets.write_face_models(args.out, args.node_modules, convert_subgraph)
    for path in written:
        print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")
    print(f"converted in {time.perf_counter() - t0:.1f} s")
    if args.check:
        from . import check
        check.main(args.out)


if __name__ == "__main__":
    main()
