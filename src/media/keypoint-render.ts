/**
 * Keypoint guidance images: the 68 iBUG points drawn as coloured Gaussian dots, exactly as
 * tools/export/durian_export/keypoint_image.py draws them for training. Change both together.
 */
import { DurianError } from '../errors';

/** One iBUG-68 group: points [start, end) drawn in `colour` (RGB in [0, 1]). */
export interface KeypointGroup {
  name: string;
  start: number;
  end: number;
  colour: readonly number[];
}

/** The manifest's `keypoint_image` object (keys spelled as in manifest.json). */
export interface KeypointSpec {
  /** Dot σ in pixels at 256 px; scales with min(H, W) / 256. */
  sigma_per_pixel_of_256: number;
  groups: readonly KeypointGroup[];
}

/** keypoint_image.py's GROUPS and SIGMA_PER_PIXEL_OF_256, for tests and manifests without the object. */
export const DEFAULT_KEYPOINT_SPEC: Readonly<KeypointSpec> = Object.freeze({
  sigma_per_pixel_of_256: 2.0,
  groups: Object.freeze([
    { name: 'jaw', start: 0, end: 17, colour: [1.0, 1.0, 1.0] },
    { name: 'brows', start: 17, end: 27, colour: [1.0, 0.6, 0.0] },
    { name: 'nose', start: 27, end: 36, colour: [0.0, 1.0, 0.0] },
    { name: 'eye_right', start: 36, end: 42, colour: [0.0, 0.6, 1.0] },
    { name: 'eye_left', start: 42, end: 48, colour: [0.0, 0.2, 1.0] },
    { name: 'mouth_outer', start: 48, end: 60, colour: [1.0, 0.0, 0.0] },
    { name: 'mouth_inner', start: 60, end: 68, colour: [1.0, 0.0, 1.0] },
  ]),
});

/**
 * Renders keypoints as an image [3, H, W] in [0, 1]. `points` is [68, 2] interleaved (x, y) in
 * pixels, pixel centres at +0.5. Per group: g = max over its points of gy·gx with
 * gx = exp(−(x − px)² / 2σ²), σ = sigma_per_pixel_of_256 · min(H, W) / 256; then per channel
 * out = max(out, g · colour).
 */
export function renderKeypoints(points: Float32Array, height: number, width: number, spec: KeypointSpec): Float32Array {
  const plane = height * width;
  const out = new Float32Array(3 * plane);
  const sigma = (spec.sigma_per_pixel_of_256 * Math.min(height, width)) / 256;
  const twoSigmaSq = 2 * sigma * sigma;
  const gx = new Float64Array(width);
  const gy = new Float64Array(height);
  const g = new Float64Array(plane);
  for (const group of spec.groups) {
    if (2 * group.end > points.length) {
      throw new DurianError(`keypoint group ${group.name} needs ${group.end} points, got ${points.length / 2}`);
    }
    g.fill(0);
    for (let p = group.start; p < group.end; p++) {
      const px = points[2 * p] as number;
      const py = points[2 * p + 1] as number;
      for (let x = 0; x < width; x++) gx[x] = Math.exp(-((x + 0.5 - px) ** 2) / twoSigmaSq);
      for (let y = 0; y < height; y++) gy[y] = Math.exp(-((y + 0.5 - py) ** 2) / twoSigmaSq);
      for (let y = 0; y < height; y++) {
        const wy = gy[y] as number;
        if (wy === 0) continue;
        const row = y * width;
        for (let x = 0; x < width; x++) {
          const v = wy * (gx[x] as number);
          if (v > (g[row + x] as number)) g[row + x] = v;
        }
      }
    }
    for (let c = 0; c < 3; c++) {
      const colour = group.colour[c] ?? 0;
      const base = c * plane;
      for (let i = 0; i < plane; i++) {
        const v = (g[i] as number) * colour;
        if (v > (out[base + i] as number)) out[base + i] = v;
      }
    }
  }
  return out;
}
