/**
 * Binary mask drawing on [H, W] float planes: polygon fill and box dilation (pure TypeScript).
 */

/** The (x, y) of selected points of a flat point list with `stride` values per point. */
export function pickPoints(points: ArrayLike<number>, indices: readonly number[], stride = 3): Float32Array {
  const out = new Float32Array(2 * indices.length);
  indices.forEach((p, i) => {
    out[2 * i] = points[p * stride]!;
    out[2 * i + 1] = points[p * stride + 1]!;
  });
  return out;
}

/**
 * Sets to 1 every pixel of `mask` (width×height) whose centre lies inside the polygon (flat
 * [x0, y0, …] in pixel coordinates, pixel i spanning [i, i+1)); even-odd rule, scanline.
 */
export function fillPolygon(mask: Float32Array, width: number, height: number, polygon: ArrayLike<number>): void {
  const n = polygon.length / 2;
  if (n < 3) return;
  let yMin = Infinity, yMax = -Infinity;
  for (let i = 1; i < polygon.length; i += 2) {
    yMin = Math.min(yMin, polygon[i]!);
    yMax = Math.max(yMax, polygon[i]!);
  }
  const rowStart = Math.max(0, Math.ceil(yMin - 0.5));
  const rowEnd = Math.min(height - 1, Math.floor(yMax - 0.5));
  const xs: number[] = [];
  for (let y = rowStart; y <= rowEnd; y++) {
    const yc = y + 0.5;
    xs.length = 0;
    for (let i = 0, j = n - 1; i < n; j = i++) {
      const xi = polygon[2 * i]!, yi = polygon[2 * i + 1]!, xj = polygon[2 * j]!, yj = polygon[2 * j + 1]!;
      if ((yi <= yc && yc < yj) || (yj <= yc && yc < yi)) xs.push(xi + ((yc - yi) / (yj - yi)) * (xj - xi));
    }
    xs.sort((a, b) => a - b);
    for (let k = 0; k + 1 < xs.length; k += 2) {
      const x0 = Math.max(0, Math.ceil(xs[k]! - 0.5));
      const x1 = Math.min(width, Math.ceil(xs[k + 1]! - 0.5));
      mask.fill(1, y * width + x0, y * width + Math.max(x0, x1));
    }
  }
}

/** A polygon filled into a fresh width×height mask. */
export function rasterizePolygon(width: number, height: number, polygon: ArrayLike<number>): Float32Array {
  const mask = new Float32Array(width * height);
  fillPolygon(mask, width, height, polygon);
  return mask;
}

/**
 * Binary dilation by a (2r+1)×(2r+1) square: a pixel is set when any pixel of the square around it
 * is above 0.5. Separable, with running counts: O(H·W) for any radius.
 */
export function dilateBox(mask: Float32Array, width: number, height: number, radius: number): Float32Array {
  const r = Math.max(0, Math.round(radius));
  const rows = new Float32Array(mask.length);
  for (let y = 0; y < height; y++) dilateLine(mask, rows, y * width, 1, width, r);
  const out = new Float32Array(mask.length);
  for (let x = 0; x < width; x++) dilateLine(rows, out, x, width, height, r);
  return out;
}

function dilateLine(src: Float32Array, dst: Float32Array, start: number, step: number, n: number, r: number): void {
  let count = 0;
  for (let i = 0; i < Math.min(r, n); i++) if (src[start + i * step]! > 0.5) count++;
  for (let i = 0; i < n; i++) {
    const enter = i + r, leave = i - r - 1;
    if (enter < n && src[start + enter * step]! > 0.5) count++;
    if (leave >= 0 && src[start + leave * step]! > 0.5) count--;
    dst[start + i * step] = count > 0 ? 1 : 0;
  }
}
