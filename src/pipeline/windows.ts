/**
 * Overlapping temporal windows (any video length in bounded memory), blended every step.
 * Mirrors `window_starts` / `window_weights` of tools/export/durian_export/sample.py.
 */
import { UsageError } from '../errors';

/** Start frames of windows of `window` frames overlapping by `overlap`, the last flush with the end. */
export function getWindowStarts(frames: number, window: number, overlap: number): number[] {
  if (frames <= window) return [0];
  const stride = window - overlap;
  if (stride <= 0) throw new UsageError(`--overlap ${overlap} must be smaller than --window ${window}`);
  const starts: number[] = [];
  for (let s = 0; s <= frames - window; s += stride) starts.push(s);
  if (starts[starts.length - 1]! + window < frames) starts.push(frames - window);
  return starts;
}

/** Blend weight of each position in a window: ramps over the overlap at both ends, 1 inside. */
export function getWindowWeights(window: number, overlap: number): Float32Array {
  const w = new Float32Array(window);
  for (let p = 0; p < window; p++) w[p] = Math.min(1, (p + 1) / (overlap + 1), (window - p) / (overlap + 1));
  return w;
}

/** The most elements one tensor may have in cuDNN (its descriptors count in 32-bit integers). */
export const MAX_TENSOR_ELEMENTS = 2 ** 31 - 1;

/**
 * The most temporal windows one UNet call may take so that the graph's largest attention scores
 * (the spatial attention at the finest level: every frame's tokens against its own, the portrait's
 * and all attributes' tokens, once per attribute group and head) stay within MAX_TENSOR_ELEMENTS.
 * Past it ONNX Runtime's CUDA softmax fails (CUDNN_STATUS_NOT_SUPPORTED). At least 1: a single
 * window is what the graph takes at the least.
 */
export function maxWindowsPerCall(p: { heads: number; tokens: number; attributes: number; groups: number; window: number; branches: number }): number {
  const keys = p.tokens * (2 + p.attributes); // target | portrait | attr_1..attr_A
  const perFrame = p.groups * p.heads * p.tokens * keys;
  return Math.max(1, Math.floor(MAX_TENSOR_ELEMENTS / perFrame / (p.window * p.branches)));
}
