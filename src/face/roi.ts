/**
 * Regions of interest for the face mesh, as MediaPipe's face-landmark graphs build them: a square,
 * rotated so that the eye line is horizontal, 1.5× the face box; from a detection on the first
 * frame, from the previous frame's landmarks afterwards. Plus the crop transform and its inverse.
 */
import { applyAffine, invertAffine, type Affine } from './align';
import type { Detection } from './nms';

/** A rotated square in image pixels: centre, side, rotation (radians, image axes, y down). */
export interface FaceRoi {
  cx: number;
  cy: number;
  size: number;
  /** Angle of the eye line (subject's right eye → left eye) against the image x axis. */
  angle: number;
}

/** MediaPipe's RectTransformation for the face mesh: scale 1.5 and square on the longer side. */
export const ROI_SCALE = 1.5;
/** Mesh points whose line sets the rotation on tracked frames: right and left outer eye corners. */
export const ROI_EYE_POINTS = [33, 263] as const;

/** Angle of the vector from (x0, y0) to (x1, y1), in (−π, π]. */
function getAngle(x0: number, y0: number, x1: number, y1: number): number {
  return Math.atan2(y1 - y0, x1 - x0);
}

/** ROI of a detection: its box centre, rotation from keypoints 0 → 1 (the eyes), box × 1.5, square. */
export function getRoiFromDetection(d: Detection, scale = ROI_SCALE): FaceRoi {
  const k = d.keypoints;
  return {
    cx: d.box.x + d.box.width / 2,
    cy: d.box.y + d.box.height / 2,
    size: Math.max(d.box.width, d.box.height) * scale,
    angle: getAngle(k[0]!, k[1]!, k[2]!, k[3]!),
  };
}

/**
 * ROI from mesh landmarks (flat x, y, z per point, image pixels): rotation from the outer eye
 * corners, box = the landmarks' bounding box measured along the rotated axes (MediaPipe takes the
 * axis-aligned box; the rotated one is tighter for a rolled head), × 1.5, square.
 */
export function getRoiFromLandmarks(points: Float32Array, stride = 3, scale = ROI_SCALE): FaceRoi {
  const [a, b] = ROI_EYE_POINTS;
  const angle = getAngle(points[a * stride]!, points[a * stride + 1]!, points[b * stride]!, points[b * stride + 1]!);
  const cos = Math.cos(angle), sin = Math.sin(angle);
  let uMin = Infinity, uMax = -Infinity, vMin = Infinity, vMax = -Infinity;
  for (let i = 0; i < points.length; i += stride) {
    const x = points[i]!, y = points[i + 1]!;
    const u = cos * x + sin * y, v = -sin * x + cos * y;
    uMin = Math.min(uMin, u); uMax = Math.max(uMax, u);
    vMin = Math.min(vMin, v); vMax = Math.max(vMax, v);
  }
  const uc = (uMin + uMax) / 2, vc = (vMin + vMax) / 2;
  return { cx: cos * uc - sin * vc, cy: sin * uc + cos * vc, size: Math.max(uMax - uMin, vMax - vMin) * scale, angle };
}

/** Image pixels → crop pixels of an ROI cropped to side×side (the eye line becomes horizontal). */
export function getRoiTransform(roi: FaceRoi, side: number): Affine {
  const s = side / roi.size;
  const cos = Math.cos(roi.angle) * s, sin = Math.sin(roi.angle) * s;
  // u = R(−angle)·(p − c)·s + side/2
  return [cos, sin, side / 2 - cos * roi.cx - sin * roi.cy, -sin, cos, side / 2 + sin * roi.cx - cos * roi.cy];
}

/**
 * Crop-pixel points (flat, `stride` values per point: x, y[, z]) → image pixels. z is scaled by
 * the crop-to-image scale, so it stays in (relative) image pixels.
 */
export function mapCropPointsToImage(points: Float32Array, roi: FaceRoi, side: number, stride = 3): Float32Array {
  const inv = invertAffine(getRoiTransform(roi, side));
  const out = new Float32Array(points.length);
  const zScale = roi.size / side;
  for (let i = 0; i < points.length; i += stride) {
    const p = applyAffine(inv, [points[i]!, points[i + 1]!]);
    out[i] = p[0]!;
    out[i + 1] = p[1]!;
    for (let j = 2; j < stride; j++) out[i + j] = points[i + j]! * zScale;
  }
  return out;
}
