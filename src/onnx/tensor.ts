/**
 * Plain arrays ↔ ORT tensors. The pipeline works on Float32Array + dims; only this module and
 * session-set.ts see ORT tensor objects.
 */
import { ort } from './runtime';

/** A float32 array with its shape. */
export interface FloatArray {
  data: Float32Array;
  dims: readonly number[];
}

export function toOrtTensor(t: FloatArray): ort.Tensor {
  return new ort.Tensor('float32', t.data, t.dims);
}

export function fromOrtTensor(t: ort.Tensor): FloatArray {
  if (t.type !== 'float32') throw new Error(`expected a float32 output, got ${t.type}`);
  return { data: t.data as Float32Array, dims: [...t.dims] };
}

/** Number of elements of a shape. */
export function sizeOf(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

/** Why `feeds` do not match a graph's `inputNames` (a missing or an unexpected name), or undefined. */
export function feedMismatch(inputNames: readonly string[], feeds: Readonly<Record<string, unknown>>): string | undefined {
  const missing = inputNames.filter((n) => !(n in feeds));
  const extra = Object.keys(feeds).filter((n) => !inputNames.includes(n));
  if (!missing.length && !extra.length) return undefined;
  return `feeds do not match the graph (missing: ${missing.join(', ') || '-'}; unexpected: ${extra.join(', ') || '-'})`;
}
