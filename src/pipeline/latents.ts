/**
 * Pure Float32Array layout helpers for [B, C, F, h, w] video latents and [C, H, W] images.
 */

/** Mean over factor×factor blocks: [H, W] → [H/f, W/f] (PyTorch's area interpolation at an integer factor). */
export function areaDownsample(plane: Float32Array, height: number, width: number, factor: number): Float32Array {
  const h = Math.floor(height / factor);
  const w = Math.floor(width / factor);
  const out = new Float32Array(h * w);
  const n = factor * factor;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let s = 0;
      for (let dy = 0; dy < factor; dy++) {
        const row = (y * factor + dy) * width + x * factor;
        for (let dx = 0; dx < factor; dx++) s += plane[row + dx]!;
      }
      out[y * w + x] = s / n;
    }
  }
  return out;
}

/** [C, H, W] in [0, 1] → [C, H, W] in [−1, 1]. */
export function toSignedRange(img: Float32Array): Float32Array {
  const out = new Float32Array(img.length);
  for (let i = 0; i < img.length; i++) out[i] = img[i]! * 2 - 1;
  return out;
}

/** [N, C, H, W] in [−1, 1] → [0, 1], clamped. */
export function toUnitRange(img: Float32Array): Float32Array {
  const out = new Float32Array(img.length);
  for (let i = 0; i < img.length; i++) out[i] = Math.min(1, Math.max(0, (img[i]! + 1) / 2));
  return out;
}

/** Frames [f0, f0 + n) of a [1, C, F, h, w] tensor → [1, C, n, h, w]. */
export function sliceFrames(x: Float32Array, channels: number, frames: number, hw: number, f0: number, n: number): Float32Array {
  const out = new Float32Array(channels * n * hw);
  for (let c = 0; c < channels; c++) {
    out.set(x.subarray((c * frames + f0) * hw, (c * frames + f0 + n) * hw), c * n * hw);
  }
  return out;
}

/** [1, C, F, h, w] → frame f as [C, h, w]. */
export function frameOf(x: Float32Array, channels: number, frames: number, hw: number, f: number): Float32Array {
  const out = new Float32Array(channels * hw);
  for (let c = 0; c < channels; c++) out.set(x.subarray((c * frames + f) * hw, (c * frames + f + 1) * hw), c * hw);
  return out;
}

/** Frame-major [F][C·hw] pieces → [1, C, F, h, w]. */
export function stackFrames(frames: Float32Array[], channels: number, hw: number): Float32Array {
  const F = frames.length;
  const out = new Float32Array(channels * F * hw);
  frames.forEach((fr, f) => {
    for (let c = 0; c < channels; c++) out.set(fr.subarray(c * hw, (c + 1) * hw), (c * F + f) * hw);
  });
  return out;
}

/** Concatenates arrays along the leading (batch) axis. */
export function concatBatch(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
