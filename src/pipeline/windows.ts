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
