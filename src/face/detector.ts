/**
 * BlazeFace short-range (MediaPipe face detection, 128×128): input preparation with a recorded
 * letterbox, SSD anchors, decoding of the raw outputs and the mapping back to image pixels.
 * Suppression of overlapping boxes lives in nms.ts.
 */
import { InferenceError } from '../errors';
import type { RgbImage } from '../media/pixels';
import { applyAffine, invertAffine, type Affine } from './align';
import { warpToNhwc, SIGNED_RANGE, type ValueRange } from './nhwc';
import { suppressWeighted, type Detection } from './nms';

export type { Detection } from './nms';

/** Input side of the short-range model, in pixels. */
export const DETECTOR_INPUT_SIZE = 128;
/** Values per anchor in `regressors`: box (dx, dy, w, h) then 6 keypoints (x, y). */
export const DETECTOR_NUM_COORDS = 16;
/** Keypoints per detection: right eye, left eye, nose tip, mouth centre, right ear, left ear (subject's sides). */
export const DETECTOR_KEYPOINTS = ['right_eye', 'left_eye', 'nose_tip', 'mouth', 'right_ear', 'left_ear'] as const;

/**
 * SSD anchor layout of the short-range model (MediaPipe SsdAnchorsCalculator: strides 8, 16, 16,
 * 16; layers of equal stride merged; fixed unit anchor size): a 16×16 grid with 2 anchors per cell,
 * then an 8×8 grid with 6, row-major, anchors of a cell adjacent.
 */
export const DETECTOR_ANCHOR_GRIDS: readonly { size: number; perCell: number }[] = Object.freeze([
  { size: 16, perCell: 2 },
  { size: 8, perCell: 6 },
]);

/** MediaPipe's short-range thresholds: minimum score, and the IoU above which boxes merge. */
export const DETECTOR_MIN_SCORE = 0.5;
export const DETECTOR_MIN_SUPPRESSION_IOU = 0.3;

/** Anchor centres, flat [cx0, cy0, …] in [0, 1] of the input (896 anchors for the layout above). */
export function createAnchors(grids: readonly { size: number; perCell: number }[] = DETECTOR_ANCHOR_GRIDS): Float32Array {
  const total = grids.reduce((n, g) => n + g.size * g.size * g.perCell, 0);
  const out = new Float32Array(2 * total);
  let k = 0;
  for (const { size, perCell } of grids) {
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        for (let a = 0; a < perCell; a++, k += 2) {
          out[k] = (x + 0.5) / size;
          out[k + 1] = (y + 0.5) / size;
        }
      }
    }
  }
  return out;
}

/** A detector input tensor and the transform that made it. */
export interface DetectorInput {
  /** [1, S, S, 3] NHWC RGB in [-1, 1]. */
  tensor: Float32Array;
  /** Image pixels → input pixels (letterbox: uniform scale, centred, zero padding). */
  transform: Affine;
}

/** The letterbox transform fitting a width×height image into a side×side square, centred. */
export function getLetterbox(width: number, height: number, side: number): Affine {
  const s = side / Math.max(width, height);
  return [s, 0, (side - width * s) / 2, 0, s, (side - height * s) / 2];
}

/** Letterboxes the image into the detector's input (MediaPipe keeps the aspect ratio the same way). */
export function prepareDetectorInput(img: RgbImage, side = DETECTOR_INPUT_SIZE, range: ValueRange = SIGNED_RANGE): DetectorInput {
  const transform = getLetterbox(img.width, img.height, side);
  return { tensor: warpToNhwc(img, transform, side, side, range), transform };
}

const sigmoid = (v: number): number => 1 / (1 + Math.exp(-v));

/**
 * Decodes raw outputs into detections above `minScore`, in [0, 1] of the input square:
 * centre = anchor + (dx, dy)/S, size = (w, h)/S, keypoint = anchor + (kx, ky)/S with S the
 * regressor scale; score = sigmoid(logit).
 * `regressors` is [N, 16], `logits` [N] (batch 1 flattened).
 */
export function decodeDetections(regressors: Float32Array, logits: Float32Array, anchors: Float32Array,
  minScore = DETECTOR_MIN_SCORE, regressorScale = DETECTOR_INPUT_SIZE): Detection[] {
  const n = anchors.length / 2;
  if (logits.length !== n || regressors.length !== n * DETECTOR_NUM_COORDS) {
    throw new InferenceError(`detector outputs do not match ${n} anchors: regressors ${regressors.length}, scores ${logits.length}`);
  }
  const out: Detection[] = [];
  for (let i = 0; i < n; i++) {
    // NOTE: MediaPipe clips logits to ±100 before the sigmoid; irrelevant for float32 here.
    const score = sigmoid(logits[i]!);
    if (score < minScore) continue;
    const r = i * DETECTOR_NUM_COORDS;
    const ax = anchors[2 * i]!, ay = anchors[2 * i + 1]!;
    const cx = ax + regressors[r]! / regressorScale, cy = ay + regressors[r + 1]! / regressorScale;
    const w = regressors[r + 2]! / regressorScale, h = regressors[r + 3]! / regressorScale;
    const keypoints = new Float32Array(2 * DETECTOR_KEYPOINTS.length);
    for (let k = 0; k < keypoints.length; k += 2) {
      keypoints[k] = ax + regressors[r + 4 + k]! / regressorScale;
      keypoints[k + 1] = ay + regressors[r + 5 + k]! / regressorScale;
    }
    out.push({ box: { x: cx - w / 2, y: cy - h / 2, width: w, height: h }, keypoints, score });
  }
  return out;
}

/** Maps a detection from [0, 1] of the input square back to image pixels through the letterbox. */
export function mapDetectionToImage(d: Detection, transform: Affine, side = DETECTOR_INPUT_SIZE): Detection {
  const inv = invertAffine(transform);
  const corners = applyAffine(inv, [d.box.x * side, d.box.y * side, (d.box.x + d.box.width) * side, (d.box.y + d.box.height) * side]);
  const keypoints = applyAffine(inv, Float32Array.from(d.keypoints, (v) => v * side));
  return {
    box: { x: corners[0]!, y: corners[1]!, width: corners[2]! - corners[0]!, height: corners[3]! - corners[1]! },
    keypoints,
    score: d.score,
  };
}

/** Decoding and suppression settings (the manifest's `regressor_scale`, `min_score`, `nms_iou`). */
export interface DetectorSettings {
  /** Input side in pixels. */
  side: number;
  /** Divisor of the regressor values (the input side for BlazeFace). */
  regressorScale: number;
  minScore: number;
  minSuppressionIou: number;
}

export const DETECTOR_DEFAULTS: Readonly<DetectorSettings> = Object.freeze({
  side: DETECTOR_INPUT_SIZE, regressorScale: DETECTOR_INPUT_SIZE, minScore: DETECTOR_MIN_SCORE, minSuppressionIou: DETECTOR_MIN_SUPPRESSION_IOU,
});

/**
 * Raw outputs → faces in image pixels, best first: decode, weighted non-maximum suppression as
 * MediaPipe does it (nms.ts), then undo the letterbox.
 */
export function normalizeDetections(regressors: Float32Array, logits: Float32Array, anchors: Float32Array, transform: Affine,
  settings: Readonly<DetectorSettings> = DETECTOR_DEFAULTS): Detection[] {
  const raw = decodeDetections(regressors, logits, anchors, settings.minScore, settings.regressorScale);
  return suppressWeighted(raw, settings.minSuppressionIou).map((d) => mapDetectionToImage(d, transform, settings.side));
}
