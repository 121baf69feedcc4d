/**
 * Rigid head pose of keypoints: scale, 3-D rotation and image translation under a scaled
 * orthographic camera, p ≈ s · (R · X)_xy + t. From 2-D keypoints against a 3-D template (the
 * SynthPortrait mean shape and its principal shape modes in face-template-3d.json, written by
 * tools/export's synth/template3d.py), or between two frames of 3-D points (the face mesh's).
 * Rotations are row-major 3 × 3 arrays; y points down, z toward the viewer.
 */
import { determinant, Matrix, SingularValueDecomposition, solve } from 'ml-matrix';

import TEMPLATE from './face-template-3d.json';

export type Rotation = number[];

export interface HeadPose {
  scale: number;
  rotation: Rotation;
  /** Image position of the template's centroid (the keypoints' centroid), pixels. */
  translation: [number, number];
}

function centre(points: number[][]): Float64Array {
  const c = [0, 1, 2].map((d) => points.reduce((a, p) => a + p[d]!, 0) / points.length);
  return Float64Array.from(points.flatMap((p) => p.map((v, d) => v - c[d]!)));
}

const DOC = TEMPLATE as { points: number[][]; depth_pitch: number[]; modes: number[][][]; mode_std: number[] };

/**
 * The 68-point template, centred on its centroid: flat [x0, y0, z0, …], z the depth as yaw moves
 * each point. TEMPLATE_68_PITCH: the same with the depth as pitch moves it — they differ on the jaw
 * outline, which turns with the head's silhouette rather than as surface points (a 2.5-D template:
 * image x is fitted with the first, image y with the second).
 */
export const TEMPLATE_68: Float64Array = centre(DOC.points);
export const TEMPLATE_68_PITCH: Float64Array = centre(DOC.points.map((p, i) => [p[0]!, p[1]!, DOC.depth_pitch[i]!]));

/** A face's 3-D keypoints as a 2.5-D template: `x` with the depth for image x (yaw), `y` for image y (pitch). */
export interface FaceShape {
  x: Float64Array;
  y: Float64Array;
}

export const MEAN_SHAPE: FaceShape = Object.freeze({ x: TEMPLATE_68, y: TEMPLATE_68_PITCH });

/** Principal modes of SynthPortrait's face shapes, each as a FaceShape offset, and their std devs. */
const MODES: FaceShape[] = DOC.modes.map((m) => ({
  x: centre(m.map((p) => [p[0]!, p[1]!, p[2]!])), y: centre(m.map((p) => [p[0]!, p[1]!, p[3]!])),
}));
const MODE_STD = DOC.mode_std;
/** Keypoint noise (canonical head units) against which the shape prior is weighed. */
const SHAPE_NOISE = 0.01;

export function multiply(a: Rotation, b: Rotation): Rotation {
  const out = new Array<number>(9).fill(0);
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) for (let k = 0; k < 3; k++) out[3 * i + j]! += a[3 * i + k]! * b[3 * k + j]!;
  return out;
}

export function transpose(a: Rotation): Rotation {
  return [a[0]!, a[3]!, a[6]!, a[1]!, a[4]!, a[7]!, a[2]!, a[5]!, a[8]!];
}

/** R · v for a 3-vector. */
export function rotate(r: Rotation, x: number, y: number, z: number): [number, number, number] {
  return [r[0]! * x + r[1]! * y + r[2]! * z, r[3]! * x + r[4]! * y + r[5]! * z, r[6]! * x + r[7]! * y + r[8]! * z];
}

/** Rotation by the axis-angle vector w (Rodrigues). */
function fromAxisAngle(wx: number, wy: number, wz: number): Rotation {
  const t = Math.hypot(wx, wy, wz);
  if (t < 1e-12) return [1, 0, 0, 0, 1, 0, 0, 0, 1];
  const x = wx / t, y = wy / t, z = wz / t, c = Math.cos(t), s = Math.sin(t), C = 1 - c;
  return [c + x * x * C, x * y * C - z * s, x * z * C + y * s, y * x * C + z * s, c + y * y * C, y * z * C - x * s,
    z * x * C - y * s, z * y * C + x * s, c + z * z * C];
}

/** Yaw, pitch, roll (radians) of R = Rz(roll) · Rx(pitch) · Ry(yaw), SynthPortrait's convention. */
export function getEulerAngles(r: Rotation): { yaw: number; pitch: number; roll: number } {
  // row 3 of Rx·Ry = (−cp·sy, −sp, cp·cy) is unchanged by Rz; column 2 of R is (−sr·cp, cr·cp, −sp)
  return { yaw: Math.atan2(-r[6]!, r[8]!), pitch: Math.asin(Math.max(-1, Math.min(1, -r[7]!))), roll: Math.atan2(-r[1]!, r[4]!) };
}

/**
 * Scaled-orthographic pose of 68 keypoints (flat [x0, y0, …], pixels) against the template (image x
 * against `templateX`, image y against `templateY`): a linear (affine camera) fit projected onto a
 * rotation, then Gauss–Newton on rotation and scale to the least reprojection error.
 */
export function fitHeadPose(kp: ArrayLike<number>, templateX: Float64Array = TEMPLATE_68, templateY: Float64Array = TEMPLATE_68_PITCH,
  iterations = 20): HeadPose {
  const n = templateX.length / 3;
  let tx = 0, ty = 0;
  for (let i = 0; i < n; i++) {
    tx += kp[2 * i]!;
    ty += kp[2 * i + 1]!;
  }
  tx /= n;
  ty /= n;
  const x = Matrix.zeros(n, 1), y = Matrix.zeros(n, 1), Xa = Matrix.zeros(n, 3), Xb = Matrix.zeros(n, 3);
  for (let i = 0; i < n; i++) {
    x.set(i, 0, kp[2 * i]! - tx);
    y.set(i, 0, kp[2 * i + 1]! - ty);
    for (let d = 0; d < 3; d++) {
      Xa.set(i, d, templateX[3 * i + d]!);
      Xb.set(i, d, templateY[3 * i + d]!);
    }
  }
  // 1. Affine camera: x ≈ Xa · m1, y ≈ Xb · m2; the nearest scaled rotation of [m1 m2] through its SVD
  const Mt = new Matrix([...solve(Xa, x).getColumn(0).map((v, d) => [v, solve(Xb, y).get(d, 0)])]); // [3, 2]
  const svd = new SingularValueDecomposition(Mt);
  const rows = svd.leftSingularVectors.mmul(svd.rightSingularVectors.transpose()); // [3, 2]: columns r1, r2
  let scale = (svd.diagonal[0]! + svd.diagonal[1]!) / 2;
  const r1 = rows.getColumn(0), r2 = rows.getColumn(1);
  const r3 = [r1[1]! * r2[2]! - r1[2]! * r2[1]!, r1[2]! * r2[0]! - r1[0]! * r2[2]!, r1[0]! * r2[1]! - r1[1]! * r2[0]!];
  let R: Rotation = [...r1, ...r2, ...r3];
  // 2. Gauss–Newton on (rotation increment w, scale): residuals x − s·(R·Xa)_x, y − s·(R·Xb)_y
  for (let it = 0; it < iterations; it++) {
    const JtJ = Matrix.zeros(4, 4), Jtr = Matrix.zeros(4, 1);
    for (let i = 0; i < n; i++) {
      const pa = rotate(R, templateX[3 * i]!, templateX[3 * i + 1]!, templateX[3 * i + 2]!);
      const pb = rotate(R, templateY[3 * i]!, templateY[3 * i + 1]!, templateY[3 * i + 2]!);
      const res = [x.get(i, 0) - scale * pa[0], y.get(i, 0) - scale * pb[1]];
      // d(w × p)_x = wy·pz − wz·py; d(w × p)_y = wz·px − wx·pz
      const J = [[0, scale * pa[2], -scale * pa[1], pa[0]], [-scale * pb[2], 0, scale * pb[0], pb[1]]];
      for (let a = 0; a < 2; a++) {
        for (let u = 0; u < 4; u++) {
          Jtr.set(u, 0, Jtr.get(u, 0) + J[a]![u]! * res[a]!);
          for (let v = 0; v < 4; v++) JtJ.set(u, v, JtJ.get(u, v) + J[a]![u]! * J[a]![v]!);
        }
      }
    }
    const step = solve(JtJ, Jtr).getColumn(0);
    R = multiply(fromAxisAngle(step[0]!, step[1]!, step[2]!), R);
    scale += step[3]!;
    if (Math.hypot(...step.slice(0, 3)) < 1e-9) break;
  }
  return { scale, rotation: R, translation: [tx, ty] };
}

/**
 * A face's own shape and pose from its 68 keypoints: the mean shape plus the principal modes that
 * best explain the keypoints under the fitted pose (a Gaussian prior on each mode's weight), and
 * the pose refitted to that shape, alternately. The modes tie the 2-D layout to depth, so the
 * face's depth — how its points move as it turns — is its own rather than the mean's.
 */
export function fitFaceShape(kp: ArrayLike<number>, rounds = 3): { pose: HeadPose; shape: FaceShape } {
  let shape: FaceShape = MEAN_SHAPE;
  let pose = fitHeadPose(kp, shape.x, shape.y);
  const K = MODES.length;
  for (let round = 0; round < rounds; round++) {
    const R = pose.rotation, s = pose.scale;
    const w = 1 / (s * SHAPE_NOISE) ** 2;
    const AtA = Matrix.zeros(K, K), Atb = Matrix.zeros(K, 1);
    for (let i = 0; i < 68; i++) {
      for (let axis = 0; axis < 2; axis++) {
        const mean = axis === 0 ? MEAN_SHAPE.x : MEAN_SHAPE.y;
        const row = MODES.map((m) => {
          const t = axis === 0 ? m.x : m.y;
          return s * rotate(R, t[3 * i]!, t[3 * i + 1]!, t[3 * i + 2]!)[axis]!;
        });
        const b = kp[2 * i + axis]! - pose.translation[axis]! - s * rotate(R, mean[3 * i]!, mean[3 * i + 1]!, mean[3 * i + 2]!)[axis]!;
        for (let u = 0; u < K; u++) {
          Atb.set(u, 0, Atb.get(u, 0) + w * row[u]! * b);
          for (let v = 0; v < K; v++) AtA.set(u, v, AtA.get(u, v) + w * row[u]! * row[v]!);
        }
      }
    }
    for (let k = 0; k < K; k++) AtA.set(k, k, AtA.get(k, k) + 1 / MODE_STD[k]! ** 2);
    const c = solve(AtA, Atb).getColumn(0);
    const blend = (key: 'x' | 'y') => Float64Array.from(MEAN_SHAPE[key], (v, j) => v + MODES.reduce((a, m, k) => a + c[k]! * m[key][j]!, 0));
    shape = { x: blend('x'), y: blend('y') };
    pose = fitHeadPose(kp, shape.x, shape.y);
  }
  return { pose, shape };
}

/**
 * Similarity between two sets of 3-D points (flat [x0, y0, z0, …]): b ≈ s · R · (a − ā) + b̄, the
 * least-squares fit with R a proper rotation (Umeyama 1991).
 */
export function fitRotation3d(a: ArrayLike<number>, b: ArrayLike<number>): { scale: number; rotation: Rotation } {
  const n = a.length / 3;
  const ca = [0, 0, 0], cb = [0, 0, 0];
  for (let i = 0; i < n; i++) for (let d = 0; d < 3; d++) {
    ca[d]! += a[3 * i + d]! / n;
    cb[d]! += b[3 * i + d]! / n;
  }
  const cov = Matrix.zeros(3, 3);
  let va = 0;
  for (let i = 0; i < n; i++) {
    for (let r = 0; r < 3; r++) {
      va += (a[3 * i + r]! - ca[r]!) ** 2;
      for (let c = 0; c < 3; c++) cov.set(r, c, cov.get(r, c) + (b[3 * i + r]! - cb[r]!) * (a[3 * i + c]! - ca[c]!));
    }
  }
  const svd = new SingularValueDecomposition(cov);
  const U = svd.leftSingularVectors, V = svd.rightSingularVectors;
  const sign = Math.sign(determinant(U) * determinant(V)) || 1;
  const D = Matrix.diag([1, 1, sign]);
  const R = U.mmul(D).mmul(V.transpose());
  const sv = svd.diagonal;
  return { scale: (sv[0]! + sv[1]! + sign * sv[2]!) / va, rotation: R.to1DArray() };
}
