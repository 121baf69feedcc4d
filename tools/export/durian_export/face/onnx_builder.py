"""The ONNX side of the TFLite → ONNX face-model converter (convert.py): a graph builder that
walks one TFLite subgraph in order and keeps its tensors' ONNX names and layouts."""
from __future__ import annotations

import re

import numpy as np
import onnx
from onnx import helper, numpy_helper

from .tflite import Operator, Subgraph

NHWC_TO_NCHW = (0, 3, 1, 2)
NCHW_TO_NHWC = (0, 2, 3, 1)


class UnsupportedOpError(ValueError):
    """A TFLite op (or option) the converter has no mapping for."""


class GraphBuilder:
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
