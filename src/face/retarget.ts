/**
 * Motion retargeting with the rigid head motion separated from the expression (in the manner of
 * LivePortrait's keypoint transform x = s · (x_c · R + δ) + t). Per driving frame:
 * 1. the driver's head pose (scale, rotation, translation) relative to its first (neutral) frame —
 *    fitted from 2-D keypoints against a 3-D template (head-pose.ts), or from the face mesh's 3-D
 *    points when the driver is a tracked real video;
 * 2. the expression: the driver's keypoints in its own head frame (rotation, scale and translation
 *    undone) minus those of its first frame, scaled to the identity's features (eye opening, eye and
 *    mouth width);
 * 3. the identity's own keypoints, lifted to 3-D with the template's depth, carried to canonical
 *    (frontal) pose, moved by the expression, turned by the driver's relative rotation around the
 *    identity's own pose, scaled and shifted by the driver's relative scale and translation.
 * The identity's face shape and proportions stay its own under any head rotation.
 */
import { fitFaceShape, fitHeadPose, fitRotation3d, multiply, rotate, transpose, type FaceShape, type HeadPose, type Rotation } from './head-pose';

/** Face size of 68 keypoints: distance between the outer eye corners (36, 45) plus eye-line to chin (8). */
export function getFaceSize(kp: ArrayLike<number>): number {
  const ex = (kp[72]! + kp[90]!) / 2, ey = (kp[73]! + kp[91]!) / 2;
  const eyes = Math.hypot(kp[90]! - kp[72]!, kp[91]! - kp[73]!);
  const chin = Math.hypot(kp[16]! - ex, kp[17]! - ey);
  return eyes + chin;
}

/**
 * The 2-D displacement retargeting this module used before: identity + (drive_f − drive_0) ·
 * size_id / size_drive. Kept as the baseline the tests compare against.
 */
export function retargetByDisplacement(identity: ArrayLike<number>, driving: ArrayLike<number>[]): Float32Array[] {
  if (driving.length === 0) return [];
  const first = driving[0]!;
  const scale = getFaceSize(identity) / getFaceSize(first);
  return driving.map((d) => {
    const out = new Float32Array(identity.length);
    for (let i = 0; i < identity.length; i++) out[i] = identity[i]! + (d[i]! - first[i]!) * scale;
    return out;
  });
}

/** Keypoints in canonical head coordinates: [68, 3] flat, rotation, scale and translation undone. */
function toCanonical(kp: ArrayLike<number>, pose: HeadPose, template: Float64Array, depth?: ArrayLike<number>): Float64Array {
  const out = new Float64Array(68 * 3);
  const Rt = transpose(pose.rotation);
  const [tx, ty] = pose.translation;
  let cz = 0;
  if (depth) for (let i = 0; i < 68; i++) cz += depth[3 * i + 2]! / 68;
  for (let i = 0; i < 68; i++) {
    // depth: the mesh's own (centred, in pixels) when given, else the template's under this pose
    const z = depth ? (depth[3 * i + 2]! - cz) / pose.scale
      : rotate(pose.rotation, template[3 * i]!, template[3 * i + 1]!, template[3 * i + 2]!)[2];
    const c = rotate(Rt, (kp[2 * i]! - tx) / pose.scale, (kp[2 * i + 1]! - ty) / pose.scale, z);
    out.set(c, 3 * i);
  }
  return out;
}

const EYE_LIDS = [[37, 41], [38, 40], [43, 47], [44, 46]] as const;
const EYE_POINTS = new Set(Array.from({ length: 12 }, (_, i) => 36 + i));
const MOUTH_POINTS = new Set(Array.from({ length: 20 }, (_, i) => 48 + i));

function clampRatio(a: number, b: number): number {
  return b > 1e-6 ? Math.min(2, Math.max(0.5, a / b)) : 1;
}

/** Per-region scale of expression offsets from the driver's features to the identity's (canonical units). */
function getExpressionScales(identity: Float64Array, driver: Float64Array) {
  const dist = (c: Float64Array, a: number, b: number, axis: 0 | 1) => Math.abs(c[3 * a + axis]! - c[3 * b + axis]!);
  const opening = (c: Float64Array) => EYE_LIDS.reduce((s, [a, b]) => s + dist(c, a, b, 1), 0);
  const eyeWidth = (c: Float64Array) => dist(c, 36, 39, 0) + dist(c, 42, 45, 0);
  return {
    eye: [clampRatio(eyeWidth(identity), eyeWidth(driver)), clampRatio(opening(identity), opening(driver))] as const,
    mouth: [clampRatio(dist(identity, 48, 54, 0), dist(driver, 48, 54, 0)), 1] as const,
  };
}

export interface RetargetOptions {
  /**
   * Per driving frame, the face mesh's 3-D points of the 68 keypoints ([68, 3] flat: x, y in the
   * keypoints' pixels, z relative on the same scale), or null where there are none. When the first
   * frame and frame f both have them, frame f's rotation relative to the first comes from them.
   */
  driving3d?: (ArrayLike<number> | null)[];
}

/**
 * Identity keypoints moved as the driver moves (module comment): frame 0 gives the identity as it
 * is. Keypoints flat [x0, y0, …] (68 points); the driving ones in the driver's pixels, the output in
 * the identity's.
 */
export function retargetKeypoints(identity: ArrayLike<number>, driving: ArrayLike<number>[], options: RetargetOptions = {}): Float32Array[] {
  if (driving.length === 0) return [];
  // every lift to 3-D twice: with the face's depth for image x (yaw) and for image y (pitch)
  const both = (kp: ArrayLike<number>, pose: HeadPose, shape: FaceShape, depth?: ArrayLike<number>) =>
    [toCanonical(kp, pose, shape.x, depth), toCanonical(kp, pose, shape.y, depth)] as const;
  const { pose: idPose, shape: idShape } = fitFaceShape(identity);
  const idCanon = both(identity, idPose, idShape);
  const first = driving[0]!;
  const first3d = options.driving3d?.[0] ?? null;
  const { pose: pose0, shape: driverShape } = fitFaceShape(first);
  const canon0 = both(first, pose0, driverShape, first3d ?? undefined);
  const scales = getExpressionScales(idCanon[0], canon0[0]);
  return driving.map((d, f) => {
    // 1. the driver's pose, and its rotation relative to the first frame
    const d3 = options.driving3d?.[f] ?? null;
    let pose = fitHeadPose(d, driverShape.x, driverShape.y);
    let relative: Rotation = multiply(pose.rotation, transpose(pose0.rotation));
    if (first3d && d3) {
      const rel = fitRotation3d(first3d, d3);
      relative = rel.rotation;
      pose = { ...pose, rotation: multiply(relative, pose0.rotation), scale: pose0.scale * rel.scale };
    }
    // 2. the expression in the driver's head frame, scaled to the identity's features
    const canon = both(d, pose, driverShape, d3 ?? undefined);
    // 3. the identity, moved: s_id · σ · (R_rel · R_id) · (x_c + δ) + t_id + Δt
    const R = multiply(relative, idPose.rotation);
    const sigma = pose.scale / pose0.scale;
    const shift = idPose.scale / pose0.scale;
    const out = new Float32Array(136);
    for (let i = 0; i < 68; i++) {
      const [sx, sy] = EYE_POINTS.has(i) ? scales.eye : MOUTH_POINTS.has(i) ? scales.mouth : [1, 1];
      for (let axis = 0; axis < 2; axis++) {
        const [id, c, c0] = [idCanon[axis]!, canon[axis]!, canon0[axis]!];
        const dx = (c[3 * i]! - c0[3 * i]!) * sx;
        const dy = (c[3 * i + 1]! - c0[3 * i + 1]!) * sy;
        const dz = c[3 * i + 2]! - c0[3 * i + 2]!;
        const p = rotate(R, id[3 * i]! + dx, id[3 * i + 1]! + dy, id[3 * i + 2]! + dz);
        out[2 * i + axis] = idPose.scale * sigma * p[axis]! + idPose.translation[axis]! + (pose.translation[axis]! - pose0.translation[axis]!) * shift;
      }
    }
    return out;
  });
}
