"""python -m durian_export.face.convert --out models/face [--node-modules node_modules] [--check]

TFLite → ONNX for MediaPipe's face models, without TensorFlow (tools/export/README.md, "Face
models"). Each TFLite op becomes one or a few ONNX nodes (opset 17, fp32). The graph runs NCHW
inside: every rank-4 activation is NCHW in ONNX, everything else keeps its TFLite layout, and the
boundaries stay NHWC (one Transpose after the input, one before each output), so the I/O shapes are
the TFLite models' own, as tabled in that README.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

from .onnx_builder import NCHW_TO_NHWC, NHWC_TO_NCHW, GraphBuilder, UnsupportedOpError
from .tflite import Subgraph, fold_fp16_dequantize
from .tflite_ops import CONVERTERS, _op_key, same_pads

__all__ = ["UnsupportedOpError", "convert_subgraph", "same_pads"]

OPSET = 17
PRODUCER = "durian_export.face"


def convert_subgraph(graph: Subgraph, inputs: dict[str, str], outputs: dict[str, tuple[str, tuple[int, ...]]],
                     graph_name: str) -> onnx.ModelProto:
    """One TFLite subgraph → an ONNX model with renamed NHWC boundaries.

    `inputs` maps TFLite input names to ONNX names; `outputs` maps TFLite output names to
    (ONNX name, shape), where the shape may differ from TFLite's if the element count agrees
    (face_landmark's [1, 1, 1, 1404] becomes [1, 1404])."""
    graph = fold_fp16_dequantize(graph)
    b = GraphBuilder(graph)
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
