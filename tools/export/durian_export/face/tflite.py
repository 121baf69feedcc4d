"""A minimal reader for TFLite flatbuffers, written from tensorflow/lite/schema/schema.fbs.

Only what the MediaPipe face models need: the model's subgraphs, their tensors (shape, type, buffer,
name, constant data), operators (opcode, the builtin options the converter maps, custom op names and
raw custom options) and buffers. No `flatbuffers` or `tflite` package: a flatbuffer is a tree of
tables addressed by little-endian offsets, which numpy and `struct` read directly.

`fold_fp16_dequantize` turns DEQUANTIZE ops on fp16 constants (how MediaPipe stores half-precision
weights) into fp32 constants, so the converter sees plain float weights.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

FILE_IDENTIFIER = b"TFL3"

# enum TensorType (schema.fbs); only the types a float model can carry.
TENSOR_TYPES: dict[int, np.dtype] = {
    0: np.dtype("<f4"),   # FLOAT32
    1: np.dtype("<f2"),   # FLOAT16
    2: np.dtype("<i4"),   # INT32
    3: np.dtype("u1"),    # UINT8
    4: np.dtype("<i8"),   # INT64
    6: np.dtype("?"),     # BOOL
    7: np.dtype("<i2"),   # INT16
    9: np.dtype("i1"),    # INT8
    10: np.dtype("<f8"),  # FLOAT64
}

# enum BuiltinOperator (schema.fbs), the codes up to HARD_SWISH; anything else is named by number.
BUILTIN_OPERATORS: tuple[str, ...] = (
    "ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D", "DEPTH_TO_SPACE",
    "DEQUANTIZE", "EMBEDDING_LOOKUP", "FLOOR", "FULLY_CONNECTED", "HASHTABLE_LOOKUP",
    "L2_NORMALIZATION", "L2_POOL_2D", "LOCAL_RESPONSE_NORMALIZATION", "LOGISTIC", "LSH_PROJECTION",
    "LSTM", "MAX_POOL_2D", "MUL", "RELU", "RELU_N1_TO_1", "RELU6", "RESHAPE", "RESIZE_BILINEAR",
    "RNN", "SOFTMAX", "SPACE_TO_DEPTH", "SVDF", "TANH", "CONCAT_EMBEDDINGS", "SKIP_GRAM", "CALL",
    "CUSTOM", "EMBEDDING_LOOKUP_SPARSE", "PAD", "UNIDIRECTIONAL_SEQUENCE_RNN", "GATHER",
    "BATCH_TO_SPACE_ND", "SPACE_TO_BATCH_ND", "TRANSPOSE", "MEAN", "SUB", "DIV", "SQUEEZE",
    "UNIDIRECTIONAL_SEQUENCE_LSTM", "STRIDED_SLICE", "BIDIRECTIONAL_SEQUENCE_RNN", "EXP", "TOPK_V2",
    "SPLIT", "LOG_SOFTMAX", "DELEGATE", "BIDIRECTIONAL_SEQUENCE_LSTM", "CAST", "PRELU", "MAXIMUM",
    "ARG_MAX", "MINIMUM", "LESS", "NEG", "PADV2", "GREATER", "GREATER_EQUAL", "LESS_EQUAL", "SELECT",
    "SLICE", "SIN", "TRANSPOSE_CONV", "SPARSE_TO_DENSE", "TILE", "EXPAND_DIMS", "EQUAL", "NOT_EQUAL",
    "LOG", "SUM", "SQRT", "RSQRT", "SHAPE", "POW", "ARG_MIN", "FAKE_QUANT", "REDUCE_PROD",
    "REDUCE_MAX", "PACK", "LOGICAL_OR", "ONE_HOT", "LOGICAL_AND", "LOGICAL_NOT", "UNPACK",
    "REDUCE_MIN", "FLOOR_DIV", "REDUCE_ANY", "SQUARE", "ZEROS_LIKE", "FILL", "FLOOR_MOD", "RANGE",
    "RESIZE_NEAREST_NEIGHBOR", "LEAKY_RELU", "SQUARED_DIFFERENCE", "MIRROR_PAD", "ABS", "SPLIT_V",
    "UNIQUE", "CEIL", "REVERSE_V2", "ADD_N", "GATHER_ND", "COS", "WHERE", "RANK", "ELU",
    "REVERSE_SEQUENCE", "MATRIX_DIAG", "QUANTIZE", "MATRIX_SET_DIAG", "ROUND", "HARD_SWISH",
)

PADDINGS = ("SAME", "VALID")                                                  # enum Padding
ACTIVATIONS = ("NONE", "RELU", "RELU_N1_TO_1", "RELU6", "TANH", "SIGN_BIT")   # enum ActivationFunctionType

# Builtin options: (field name, scalar format or "ivec", default) in schema field order. Enum fields
# are decoded through the tables above after reading.
_I, _B, _BOOL = "<i", "<b", "<?"
_OPTIONS: dict[str, tuple[tuple[str, str, Any], ...]] = {
    "CONV_2D": (("padding", _B, 0), ("stride_w", _I, 0), ("stride_h", _I, 0),
                ("fused_activation_function", _B, 0), ("dilation_w_factor", _I, 1),
                ("dilation_h_factor", _I, 1)),
    "DEPTHWISE_CONV_2D": (("padding", _B, 0), ("stride_w", _I, 0), ("stride_h", _I, 0),
                          ("depth_multiplier", _I, 0), ("fused_activation_function", _B, 0),
                          ("dilation_w_factor", _I, 1), ("dilation_h_factor", _I, 1)),
    "AVERAGE_POOL_2D": (("padding", _B, 0), ("stride_w", _I, 0), ("stride_h", _I, 0),
                        ("filter_width", _I, 0), ("filter_height", _I, 0),
                        ("fused_activation_function", _B, 0)),
    "CONCATENATION": (("axis", _I, 0), ("fused_activation_function", _B, 0)),
    "ADD": (("fused_activation_function", _B, 0),),
    "MUL": (("fused_activation_function", _B, 0),),
    "SUB": (("fused_activation_function", _B, 0),),
    "RESHAPE": (("new_shape", "ivec", None),),
    "RESIZE_BILINEAR": (("new_height", _I, 0), ("new_width", _I, 0), ("align_corners", _BOOL, False),
                        ("half_pixel_centers", _BOOL, False)),
    "MEAN": (("keep_dims", _BOOL, False),),
}
_OPTIONS["MAX_POOL_2D"] = _OPTIONS["AVERAGE_POOL_2D"]


@dataclass(frozen=True)
class Tensor:
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    buffer: int
    data: np.ndarray | None   # constant contents in TFLite (NHWC / OHWI) layout, None for activations


@dataclass(frozen=True)
class Operator:
    opcode: str                  # builtin name, or "CUSTOM"
    inputs: tuple[int, ...]      # tensor indices; -1 marks an omitted optional input
    outputs: tuple[int, ...]
    options: dict[str, Any] = field(default_factory=dict)
    custom_code: str | None = None
    custom_options: bytes = b""


@dataclass(frozen=True)
class Subgraph:
    name: str
    tensors: tuple[Tensor, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    operators: tuple[Operator, ...]


@dataclass(frozen=True)
class Model:
    version: int
    description: str
    subgraphs: tuple[Subgraph, ...]
    buffers: tuple[bytes, ...]


class _Table:
    """One flatbuffer table: fields are looked up through its vtable by schema index."""

    def __init__(self, buf: bytes, pos: int):
        self.buf, self.pos = buf, pos
        self.vtable = pos - struct.unpack_from("<i", buf, pos)[0]
        self.vtable_size = struct.unpack_from("<H", buf, self.vtable)[0]

    def _offset(self, index: int) -> int:
        slot = 4 + 2 * index
        if slot >= self.vtable_size:
            return 0   # field added to the schema after this file was written
        return struct.unpack_from("<H", self.buf, self.vtable + slot)[0]

    def scalar(self, index: int, fmt: str, default: Any) -> Any:
        off = self._offset(index)
        return struct.unpack_from(fmt, self.buf, self.pos + off)[0] if off else default

    def _target(self, index: int) -> int | None:
        off = self._offset(index)
        if not off:
            return None
        at = self.pos + off
        return at + struct.unpack_from("<I", self.buf, at)[0]

    def table(self, index: int) -> _Table | None:
        at = self._target(index)
        return None if at is None else _Table(self.buf, at)

    def string(self, index: int) -> str:
        raw = self.bytes(index)
        return raw.decode("utf-8") if raw is not None else ""

    def bytes(self, index: int) -> bytes | None:
        at = self._target(index)
        if at is None:
            return None
        n = struct.unpack_from("<I", self.buf, at)[0]
        return self.buf[at + 4: at + 4 + n]

    def vector(self, index: int, dtype: str) -> np.ndarray:
        at = self._target(index)
        if at is None:
            return np.zeros(0, dtype=dtype)
        n = struct.unpack_from("<I", self.buf, at)[0]
        return np.frombuffer(self.buf, dtype=dtype, count=n, offset=at + 4)

    def tables(self, index: int) -> list[_Table]:
        at = self._target(index)
        if at is None:
            return []
        n = struct.unpack_from("<I", self.buf, at)[0]
        # each element is an offset relative to its own position
        return [_Table(self.buf, p + struct.unpack_from("<I", self.buf, p)[0])
                for p in range(at + 4, at + 4 + 4 * n, 4)]


def read_model(data: bytes) -> Model:
    """Parse a .tflite file's bytes (schema version 3)."""
    if data[4:8] != FILE_IDENTIFIER:
        raise ValueError(f"not a TFLite flatbuffer: file identifier {data[4:8]!r}, expected {FILE_IDENTIFIER!r}")
    root = _Table(data, struct.unpack_from("<I", data, 0)[0])
    version = root.scalar(0, "<I", 0)
    if version != 3:
        raise ValueError(f"unsupported TFLite schema version {version}, expected 3")
    buffers = tuple(_read_buffer(data, b) for b in root.tables(4))
    opcodes = [_read_opcode(t) for t in root.tables(1)]
    subgraphs = tuple(_read_subgraph(t, opcodes, buffers) for t in root.tables(2))
    return Model(version=version, description=root.string(3), subgraphs=subgraphs, buffers=buffers)


def _read_buffer(data: bytes, t: _Table) -> bytes:
    raw = t.bytes(0)
    if raw is not None:
        return raw
    # buffers of models over 2 GB live after the flatbuffer: Buffer.offset / Buffer.size
    offset, size = t.scalar(1, "<Q", 0), t.scalar(2, "<Q", 0)
    return data[offset: offset + size] if offset > 1 else b""


def _read_opcode(t: _Table) -> tuple[str, str | None]:
    # builtin_code (field 3, int) replaced deprecated_builtin_code (field 0, byte) at 127 ops;
    # writers fill both, so the larger one is the real code.
    code = max(t.scalar(0, "<b", 0), t.scalar(3, "<i", 0))
    name = BUILTIN_OPERATORS[code] if code < len(BUILTIN_OPERATORS) else f"BUILTIN_{code}"
    return name, (t.string(1) or None)


def _read_subgraph(t: _Table, opcodes: list[tuple[str, str | None]], buffers: tuple[bytes, ...]) -> Subgraph:
    tensors = tuple(_read_tensor(i, tt, buffers) for i, tt in enumerate(t.tables(0)))
    operators = tuple(_read_operator(ot, opcodes) for ot in t.tables(3))
    return Subgraph(name=t.string(4), tensors=tensors, inputs=tuple(int(i) for i in t.vector(1, "<i4")),
                    outputs=tuple(int(i) for i in t.vector(2, "<i4")), operators=operators)


def _read_tensor(index: int, t: _Table, buffers: tuple[bytes, ...]) -> Tensor:
    name = t.string(3)
    type_code = t.scalar(1, "<b", 0)
    if type_code not in TENSOR_TYPES:
        raise ValueError(f"tensor {name!r}: unsupported TFLite tensor type {type_code}")
    dtype = TENSOR_TYPES[type_code]
    shape = tuple(int(d) for d in t.vector(0, "<i4"))
    buffer = t.scalar(2, "<I", 0)
    raw = buffers[buffer] if buffer < len(buffers) else b""
    data = None
    if raw:
        data = np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
    return Tensor(index=index, name=name, shape=shape, dtype=dtype, buffer=buffer, data=data)


def _read_operator(t: _Table, opcodes: list[tuple[str, str | None]]) -> Operator:
    opcode, custom_code = opcodes[t.scalar(0, "<I", 0)]
    # builtin_options is a union: field 3 holds its type tag, field 4 the table
    options = _read_options(opcode, t.table(4))
    custom = t.bytes(5)
    return Operator(opcode=opcode, inputs=tuple(int(i) for i in t.vector(1, "<i4")),
                    outputs=tuple(int(i) for i in t.vector(2, "<i4")), options=options,
                    custom_code=custom_code, custom_options=bytes(custom or b""))


def _read_options(opcode: str, t: _Table | None) -> dict[str, Any]:
    spec = _OPTIONS.get(opcode, ())
    options: dict[str, Any] = {}
    for index, (name, fmt, default) in enumerate(spec):
        if fmt == "ivec":
            options[name] = None if t is None else tuple(int(v) for v in t.vector(index, "<i4"))
        else:
            options[name] = default if t is None else t.scalar(index, fmt, default)
    if "padding" in options:
        options["padding"] = PADDINGS[options["padding"]]
    if "fused_activation_function" in options:
        options["fused_activation_function"] = ACTIVATIONS[options["fused_activation_function"]]
    return options


def fold_fp16_dequantize(graph: Subgraph) -> Subgraph:
    """Replace every DEQUANTIZE of an fp16 constant by an fp32 constant on its output tensor."""
    tensors = list(graph.tensors)
    operators = []
    for op in graph.operators:
        src = tensors[op.inputs[0]] if op.opcode == "DEQUANTIZE" else None
        if src is not None and src.data is not None and src.dtype == np.float16:
            out = tensors[op.outputs[0]]
            tensors[out.index] = replace(out, data=src.data.astype(np.float32), dtype=np.dtype("<f4"))
            continue
        operators.append(op)
    return replace(graph, tensors=tuple(tensors), operators=tuple(operators))
