/**
 * Face alignment: a similarity transform from keypoints to the model's face template, and a
 * bilinear warp of planar images and masks by it (pure TypeScript; no image library).
 */

/** 2×3 affine matrix [a, b, tx, c, d, ty]: x' = a·x + b·y + tx, y' = c·x + d·y + ty. */
export type Affine = [number, number, number, number, number, number];

/**
 * Least-squares similarity (rotation, uniform scale, translation) mapping src → dst points
 * (Umeyama 1991 without reflection). Points are flat [x0, y0, x1, y1, …].
 */
export function estimateSimilarity(src: ArrayLike<number>, dst: ArrayLike<number>): Affine {
  const n = src.length / 2;
  let sx = 0, sy = 0, dx = 0, dy = 0;
  for (let i = 0; i < n; i++) {
    sx += src[2 * i]!; sy += src[2 * i + 1]!; dx += dst[2 * i]!; dy += dst[2 * i + 1]!;
  }
  sx /= n; sy /= n; dx /= n; dy /= n;
  let a = 0, b = 0, norm = 0;
  for (let i = 0; i < n; i++) {
    const px = src[2 * i]! - sx, py = src[2 * i + 1]! - sy;
    const qx = dst[2 * i]! - dx, qy = dst[2 * i + 1]! - dy;
    a += px * qx + py * qy;
    b += px * qy - py * qx;
    norm += px * px + py * py;
  }
  const ca = a / norm;
  const cb = b / norm;
  return [ca, -cb, dx - ca * sx + cb * sy, cb, ca, dy - cb * sx - ca * sy];
}

export function invertAffine(m: Affine): Affine {
  const [a, b, tx, c, d, ty] = m;
  const det = a * d - b * c;
  const ia = d / det, ib = -b / det, ic = -c / det, id = a / det;
  return [ia, ib, -(ia * tx + ib * ty), ic, id, -(ic * tx + id * ty)];
}

export function applyAffine(m: Affine, pts: ArrayLike<number>): Float32Array {
  const out = new Float32Array(pts.length);
  for (let i = 0; i < pts.length; i += 2) {
    const x = pts[i]!, y = pts[i + 1]!;
    out[i] = m[0] * x + m[1] * y + m[2];
    out[i + 1] = m[3] * x + m[4] * y + m[5];
  }
  return out;
}

/**
 * Warps a planar image [C, H, W] by `m` (source → destination pixel coordinates, pixel centres at
 * +0.5) into [C, outH, outW], bilinear, zero outside.
 */
export function warpPlanar(img: Float32Array, channels: number, height: number, width: number, m: Affine,
  outH: number, outW: number): Float32Array {
  const inv = invertAffine(m);
  const out = new Float32Array(channels * outH * outW);
  const plane = height * width;
  for (let y = 0; y < outH; y++) {
    for (let x = 0; x < outW; x++) {
      const cx = x + 0.5, cy = y + 0.5;
      const sx = inv[0] * cx + inv[1] * cy + inv[2] - 0.5;
      const sy = inv[3] * cx + inv[4] * cy + inv[5] - 0.5;
      const x0 = Math.floor(sx), y0 = Math.floor(sy);
      const fx = sx - x0, fy = sy - y0;
      for (let c = 0; c < channels; c++) {
        const base = c * plane;
        const at = (xx: number, yy: number) => (xx < 0 || yy < 0 || xx >= width || yy >= height ? 0 : img[base + yy * width + xx]!);
        const v = (1 - fy) * ((1 - fx) * at(x0, y0) + fx * at(x0 + 1, y0)) + fy * ((1 - fx) * at(x0, y0 + 1) + fx * at(x0 + 1, y0 + 1));
        out[c * outH * outW + y * outW + x] = v;
      }
    }
  }
  return out;
}
