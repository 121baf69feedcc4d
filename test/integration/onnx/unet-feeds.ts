import type { FloatArray } from '../../../src/onnx/tensor';

/** Feeds for every input of the tiny UNet: its declared dims with the named ones from `sizes`,
 * filled from a seeded LCG (timestep 321; group members and weights 1). */
export function unetFeeds(declared: Record<string, (number | string)[]>, sizes: Record<string, number>, seed: number): Record<string, FloatArray> {
  let s = seed;
  const rand = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
  const feeds: Record<string, FloatArray> = {};
  for (const [name, dims] of Object.entries(declared)) {
    const shape = dims.map((d) => (typeof d === 'string' ? sizes[d]! : d));
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) data[i] = name === 'timestep' ? 321 : name === 'members' || name === 'weights' ? 1 : rand();
    feeds[name] = { data, dims: shape };
  }
  return feeds;
}
