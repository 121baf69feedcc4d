"""TFLite operators → ONNX nodes, one converter per TFLite op (convert.py walks the graph and calls
them). Rank-4 activations are NCHW on the ONNX side."""
from __future__ import annotations

import struct
from typing import Callable

import numpy as np
from onnx import TensorProto

from .onnx_builder import NCHW_TO_NHWC, NHWC_TO_NCHW, GraphBuilder, UnsupportedOpError
from .tflite import Operator

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

def _conv_2d(b: GraphBuilder, op: Operator) -> None:
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


def _transpose_conv_bias(b: GraphBuilder, op: Operator) -> None:
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


def _pool(b: GraphBuilder, op: Operator) -> None:
    o = op.options
    x = op.inputs[0]
    kernel, stride = (o["filter_height"], o["filter_width"]), (o["stride_h"], o["stride_w"])
    pads = _spatial_pads(o["padding"], b.shape(x)[1:3], kernel, stride)
    attrs = dict(kernel_shape=list(kernel), strides=list(stride), pads=pads)
    if op.opcode == "AVERAGE_POOL_2D":
        attrs["count_include_pad"] = 0     # TF averages over the valid pixels only
    b.emit("MaxPool" if op.opcode == "MAX_POOL_2D" else "AveragePool", [b.name(x)], op.outputs[0],
           o["fused_activation_function"], **attrs)


def _binary(onnx_op: str) -> Callable[[GraphBuilder, Operator], None]:
    def convert(b: GraphBuilder, op: Operator) -> None:
        rank = len(b.shape(op.outputs[0]))
        b.emit(onnx_op, [b.operand(i, rank) for i in op.inputs], op.outputs[0],
               op.options.get("fused_activation_function", "NONE"))
    return convert


def _unary(onnx_op: str) -> Callable[[GraphBuilder, Operator], None]:
    def convert(b: GraphBuilder, op: Operator) -> None:
        b.emit(onnx_op, [b.name(op.inputs[0])], op.outputs[0])
    return convert


def _relu6(b: GraphBuilder, op: Operator) -> None:
    b.activation("RELU6", b.name(op.inputs[0]), b.name(op.outputs[0]))


def _prelu(b: GraphBuilder, op: Operator) -> None:
    # alpha is stored [1, 1, C] or [C] (NHWC broadcasting); operand() turns it into [1, C, 1, 1]
    rank = len(b.shape(op.outputs[0]))
    b.emit("PRelu", [b.name(op.inputs[0]), b.operand(op.inputs[1], rank)], op.outputs[0])


def _pad(b: GraphBuilder, op: Operator) -> None:
    paddings = b.data(op.inputs[1], "paddings", op).reshape(-1, 2)
    order = NHWC_TO_NCHW if len(paddings) == 4 else range(len(paddings))
    pads = [int(paddings[a, 0]) for a in order] + [int(paddings[a, 1]) for a in order]
    b.emit("Pad", [b.name(op.inputs[0]), b.int64(f"{b.name(op.outputs[0])}/pads", pads)], op.outputs[0])


def _reshape(b: GraphBuilder, op: Operator) -> None:
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


def _concatenation(b: GraphBuilder, op: Operator) -> None:
    rank = len(b.shape(op.outputs[0]))
    b.emit("Concat", [b.operand(i, rank) for i in op.inputs], op.outputs[0],
           op.options["fused_activation_function"], axis=_nchw_axis(op.options["axis"], rank))


def _resize_bilinear(b: GraphBuilder, op: Operator) -> None:
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


def _mean(b: GraphBuilder, op: Operator) -> None:
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


def _dequantize(b: GraphBuilder, op: Operator) -> None:
    # fp16 constants were folded by fold_fp16_dequantize; what is left is an fp16 activation
    if b.graph.tensors[op.inputs[0]].dtype != np.float16:
        raise UnsupportedOpError(f"DEQUANTIZE of {b.graph.tensors[op.inputs[0]].dtype} (only fp16 is supported)")
    b.emit("Cast", [b.name(op.inputs[0])], op.outputs[0], to=TensorProto.FLOAT)


CONVERTERS: dict[str, Callable[[GraphBuilder, Operator], None]] = {
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
