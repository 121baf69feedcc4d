/**
 * Keypoint face aligner for attribute references and masks: the attribute image and its mask are
 * warped from the donor's face onto the identity's by a thin-plate spline (Bookstein 1989) through
 * class-specific control points — hair and hats follow the head outline, glasses the eyes, beards
 * the jaw and mouth. The 68 iBUG points do not reach past the face, so every class also gets points
 * of a head frame built from the keypoints (origin between the temples 0 and 16, x half-axis to
 * temple 16, y half-axis perpendicular to it as long as the eye-line to chin distance): an arc over
 * the head and rings further out, where the spline reduces to the map between the two head frames.
 *
 * The same warp as tools/export's data/align.py (training); test/unit/face/attribute-align.test.ts
 * holds the two to one fixture. Pixel coordinates with pixel centres at +0.5, keypoints iBUG-68.
 *
 * NOTE: the spline is written out here (its linear solve is ml-matrix's LU) because it must match
 * the Python side's control points, kernel scaling and sampling exactly; no npm package warps by a
 * thin-plate spline with control over those.
 */
import { LuDecomposition, Matrix } from 'ml-matrix';

const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);
const JAW = range(0, 17), BROWS = range(17, 27), NOSE_BRIDGE = range(27, 31), NOSE_BASE = range(31, 36);
const EYES = range(36, 48), OUTER_LIPS = range(48, 60);

/** The attribute classes the aligner knows. */
export const ALIGNED_CLASSES = ['hair', 'hat', 'glasses', 'beard'] as const;
export type AlignedClass = (typeof ALIGNED_CLASSES)[number];

/** Keypoints anchoring each class. */
export const CLASS_ANCHORS: Readonly<Record<AlignedClass, readonly number[]>> = Object.freeze({
  hair: JAW,
  hat: JAW,
  glasses: [0, 1, 15, 16, ...BROWS, ...NOSE_BRIDGE, ...EYES],
  beard: [...JAW, ...NOSE_BASE, ...OUTER_LIPS],
});
/** Radii (head-frame units) of the arcs over the head, per class; the arc's angles are UPPER_ARC. */
const CLASS_ARCS: Readonly<Record<AlignedClass, readonly number[]>> = Object.freeze({ hair: [1.0, 1.35], hat: [1.0, 1.35], glasses: [], beard: [] });
const UPPER_ARC = range(1, 6).map((j) => (-Math.PI * j) / 6);
/** Full rings (radius, points) around every class: the far field follows the head frames. */
const RINGS: readonly [number, number][] = [[1.8, 12], [2.8, 12], [4.5, 8]];
/** Spline smoothing in units of the destination head half-width (as data/align.py's SMOOTHING). */
export const TPS_SMOOTHING = 1e-3;

export function isAlignedClass(cls: string): cls is AlignedClass {
  return (ALIGNED_CLASSES as readonly string[]).includes(cls);
}

/** Head frame of 68 keypoints (flat [x0, y0, …]): origin, x half-axis, y half-axis, each [x, y]. */
export function getHeadFrame(kp: ArrayLike<number>): { origin: [number, number]; ex: [number, number]; ey: [number, number] } {
  const origin: [number, number] = [(kp[0]! + kp[32]!) / 2, (kp[1]! + kp[33]!) / 2];
  const ex: [number, number] = [(kp[32]! - kp[0]!) / 2, (kp[33]! - kp[1]!) / 2];
  const len = Math.max(Math.hypot(ex[0], ex[1]), 1e-6);
  const down: [number, number] = [-ex[1] / len, ex[0] / len]; // ex turned 90° towards the chin (y down)
  const height = (kp[16]! - origin[0]) * down[0] + (kp[17]! - origin[1]) * down[1];
  return { origin, ex, ey: [down[0] * height, down[1] * height] };
}

/** Control points of class `cls`, flat [x0, y0, …] (as data/align.py's control_points). */
export function getControlPoints(kp: ArrayLike<number>, cls: AlignedClass): Float64Array {
  const { origin, ex, ey } = getHeadFrame(kp);
  const polar: [number, number][] = CLASS_ARCS[cls].flatMap((r) => UPPER_ARC.map((a): [number, number] => [r, a]));
  for (const [r, n] of RINGS) for (let j = 0; j < n; j++) polar.push([r, (2 * Math.PI * j) / n]);
  const anchors = CLASS_ANCHORS[cls];
  const out = new Float64Array(2 * (anchors.length + polar.length));
  anchors.forEach((k, i) => {
    out[2 * i] = kp[2 * k]!;
    out[2 * i + 1] = kp[2 * k + 1]!;
  });
  polar.forEach(([r, a], i) => {
    const cx = r * Math.cos(a), cy = r * Math.sin(a);
    out[2 * (anchors.length + i)] = origin[0] + cx * ex[0] + cy * ey[0];
    out[2 * (anchors.length + i) + 1] = origin[1] + cx * ex[1] + cy * ey[1];
  });
  return out;
}

/** TPS radial basis on a squared distance: U = r² log r² (0 at r = 0). */
function kernel(d2: number): number {
  return d2 > 0 ? d2 * Math.log(d2) : 0;
}

/** A fitted spline from destination to source points. */
export interface ThinPlateSpline {
  /** Destination control points, centred and divided by `scale`: flat [x0, y0, …]. */
  q: Float64Array;
  centre: [number, number];
  scale: number;
  /** Kernel weights then affine terms (1, x, y), per source coordinate: [K + 3] each. */
  wx: Float64Array;
  wy: Float64Array;
}

/**
 * Thin-plate spline through point pairs dst → src (flat [x0, y0, …]), with dst coordinates centred
 * on their mean and divided by `scale`, and `smoothing` added to the kernel's diagonal.
 */
export function fitThinPlateSpline(dst: ArrayLike<number>, src: ArrayLike<number>, scale: number, smoothing = TPS_SMOOTHING): ThinPlateSpline {
  const K = dst.length / 2;
  let cx = 0, cy = 0;
  for (let i = 0; i < K; i++) {
    cx += dst[2 * i]!;
    cy += dst[2 * i + 1]!;
  }
  cx /= K;
  cy /= K;
  const q = Float64Array.from({ length: 2 * K }, (_, i) => (dst[i]! - (i % 2 === 0 ? cx : cy)) / scale);
  const A = Matrix.zeros(K + 3, K + 3);
  const rhs = Matrix.zeros(K + 3, 2);
  for (let i = 0; i < K; i++) {
    for (let j = 0; j < K; j++) {
      A.set(i, j, kernel((q[2 * i]! - q[2 * j]!) ** 2 + (q[2 * i + 1]! - q[2 * j + 1]!) ** 2) + (i === j ? smoothing : 0));
    }
    const p = [1, q[2 * i]!, q[2 * i + 1]!];
    p.forEach((v, c) => {
      A.set(i, K + c, v);
      A.set(K + c, i, v);
    });
    rhs.set(i, 0, src[2 * i]!);
    rhs.set(i, 1, src[2 * i + 1]!);
  }
  const w = new LuDecomposition(A).solve(rhs);
  return { q, centre: [cx, cy], scale, wx: Float64Array.from(w.getColumn(0)), wy: Float64Array.from(w.getColumn(1)) };
}

/** The spline at one point: its source position [x, y]. */
export function mapThinPlateSpline(t: ThinPlateSpline, x: number, y: number): [number, number] {
  const K = t.q.length / 2;
  const ux = (x - t.centre[0]) / t.scale, uy = (y - t.centre[1]) / t.scale;
  let sx = t.wx[K]! + t.wx[K + 1]! * ux + t.wx[K + 2]! * uy;
  let sy = t.wy[K]! + t.wy[K + 1]! * ux + t.wy[K + 2]! * uy;
  for (let k = 0; k < K; k++) {
    const dx = ux - t.q[2 * k]!, dy = uy - t.q[2 * k + 1]!;
    const d2 = dx * dx + dy * dy;
    if (d2 > 0) {
      const u = d2 * Math.log(d2);
      sx += t.wx[k]! * u;
      sy += t.wy[k]! * u;
    }
  }
  return [sx, sy];
}

/**
 * Per destination pixel (centre at +0.5) its source position: flat [x, y] of outH × outW pixels,
 * for warping class `cls` from keypoints `srcKp` onto `dstKp`.
 */
export function createAttributeWarpGrid(srcKp: ArrayLike<number>, dstKp: ArrayLike<number>, cls: AlignedClass, outH: number, outW: number): Float32Array {
  const scale = Math.max(Math.hypot(dstKp[32]! - dstKp[0]!, dstKp[33]! - dstKp[1]!) / 2, 1e-6);
  const tps = fitThinPlateSpline(getControlPoints(dstKp, cls), getControlPoints(srcKp, cls), scale);
  const grid = new Float32Array(2 * outH * outW);
  for (let y = 0; y < outH; y++) {
    for (let x = 0; x < outW; x++) {
      const [sx, sy] = mapThinPlateSpline(tps, x + 0.5, y + 0.5);
      grid[2 * (y * outW + x)] = sx;
      grid[2 * (y * outW + x) + 1] = sy;
    }
  }
  return grid;
}

/** Samples a planar image [C, H, W] at a grid of source positions (bilinear, zero outside): [C, outH, outW]. */
export function samplePlanar(img: Float32Array, channels: number, height: number, width: number, grid: Float32Array,
  outH: number, outW: number): Float32Array {
  const out = new Float32Array(channels * outH * outW);
  const plane = height * width, outPlane = outH * outW;
  for (let i = 0; i < outPlane; i++) {
    const sx = grid[2 * i]! - 0.5, sy = grid[2 * i + 1]! - 0.5;
    const x0 = Math.floor(sx), y0 = Math.floor(sy);
    const fx = sx - x0, fy = sy - y0;
    if (x0 < -1 || y0 < -1 || x0 >= width || y0 >= height) continue; // all four neighbours outside
    const in00 = x0 >= 0 && y0 >= 0, in10 = x0 + 1 < width && y0 >= 0, in01 = x0 >= 0 && y0 + 1 < height, in11 = x0 + 1 < width && y0 + 1 < height;
    const w00 = in00 ? (1 - fx) * (1 - fy) : 0, w10 = in10 ? fx * (1 - fy) : 0, w01 = in01 ? (1 - fx) * fy : 0, w11 = in11 ? fx * fy : 0;
    const at = y0 * width + x0;
    for (let c = 0; c < channels; c++) {
      const base = c * plane + at;
      out[c * outPlane + i] = (w00 ? w00 * img[base]! : 0) + (w10 ? w10 * img[base + 1]! : 0)
        + (w01 ? w01 * img[base + width]! : 0) + (w11 ? w11 * img[base + width + 1]! : 0);
    }
  }
  return out;
}

/**
 * Warps an attribute image [3, H, W] and its mask [H, W] from the donor's keypoints `srcKp` (in
 * the image's pixels) onto the identity's `dstKp` (in the output's pixels), as class `cls`.
 */
export function alignAttribute(image: Float32Array, mask: Float32Array, height: number, width: number, srcKp: ArrayLike<number>,
  dstKp: ArrayLike<number>, cls: AlignedClass, outH = height, outW = width): { image: Float32Array; mask: Float32Array } {
  const grid = createAttributeWarpGrid(srcKp, dstKp, cls, outH, outW);
  return { image: samplePlanar(image, 3, height, width, grid, outH, outW), mask: samplePlanar(mask, 1, height, width, grid, outH, outW) };
}
