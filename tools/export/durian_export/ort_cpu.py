"""One way to open an ONNX graph on onnxruntime's CPU provider, for every Python tool that runs the
exported (or converted) graphs: parity checks, the evaluation's parser, the colour diagnostic, the
float16 variant's check and the face-model check. Kept apart from parity.py so that tools which
never touch PyTorch (the face check) do not import it."""
from __future__ import annotations

from pathlib import Path


def cpu_session(path: Path, threads: int = 0):
    """An onnxruntime session of the graph at `path` on the CPU provider, logging errors only
    (`threads`: intra-op threads, 0 for onnxruntime's default)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    if threads:
        opts.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
