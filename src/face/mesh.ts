/**
 * MediaPipe face mesh (face_landmark, 192×192): the ROI crop going in, 468 points in image pixels
 * and the face score coming out.
 */
import { InferenceError } from '../errors';
import type { RgbImage } from '../media/pixels';
import { warpToNhwc, UNIT_RANGE, type ValueRange } from './nhwc';
import { getRoiTransform, mapCropPointsToImage, type FaceRoi } from './roi';

/** Input side of the mesh model, in pixels. */
export const MESH_INPUT_SIZE = 192;
/** Points of the mesh (without the iris refinement). */
export const MESH_NUM_POINTS = 468;
/** MediaPipe's min_tracking_confidence default: below this face score the track is lost. */
export const MESH_MIN_FACE_SCORE = 0.5;

/** Mesh landmarks in image pixels and the face-presence score. */
export interface MeshResult {
  /** [468, 3] flat: x, y in image pixels, z relative (same scale as x, smaller is nearer). */
  points: Float32Array;
  /** sigmoid(face flag) in [0, 1]. */
  score: number;
  /** The ROI the mesh ran on. */
  roi: FaceRoi;
}

/** The rotated ROI crop as the mesh input: [1, 192, 192, 3] NHWC RGB in [0, 1]. */
export function prepareMeshInput(img: RgbImage, roi: FaceRoi, side = MESH_INPUT_SIZE, range: ValueRange = UNIT_RANGE): Float32Array {
  return warpToNhwc(img, getRoiTransform(roi, side), side, side, range);
}

/** Raw outputs (landmarks [1404] in crop pixels, flag logit) → points in image pixels + score. */
export function normalizeMeshOutput(landmarks: Float32Array, flagLogit: number, roi: FaceRoi, side = MESH_INPUT_SIZE): MeshResult {
  if (landmarks.length !== 3 * MESH_NUM_POINTS) {
    throw new InferenceError(`face mesh returned ${landmarks.length} landmark values, expected ${3 * MESH_NUM_POINTS}`);
  }
  return { points: mapCropPointsToImage(landmarks, roi, side, 3), score: 1 / (1 + Math.exp(-flagLogit)), roi };
}
