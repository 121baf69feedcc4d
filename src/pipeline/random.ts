/**
 * Seeded random numbers: a 32-bit PCG-style generator (mulberry32) and Box–Muller normals.
 * Same seed → the same numbers on every platform (integer arithmetic via Math.imul).
 */

/** Uniform floats in [0, 1) from a 32-bit seed. */
export function createUniform(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` standard normal samples (Box–Muller) from a seed. */
export function randomNormal(n: number, seed: number): Float32Array {
  const u = createUniform(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u1 = Math.max(u(), 1e-12);
    const u2 = u();
    const r = Math.sqrt(-2 * Math.log(u1));
    out[i] = r * Math.cos(2 * Math.PI * u2);
    if (i + 1 < n) out[i + 1] = r * Math.sin(2 * Math.PI * u2);
  }
  return out;
}

/**
 * Correlates noise laid out [C, F, hw] (channel-major, then frame, then pixel) along the frame axis,
 * in place: frame f becomes ρ·(frame f−1, already correlated) + √(1−ρ²)·(its own draw), a first-order
 * autoregressive chain. Every value keeps unit variance and frames k apart correlate by ρ^k, so a
 * long video's noise is still independent between distant frames. ρ = 0 leaves the noise unchanged.
 */
export function correlateFrames(noise: Float32Array, C: number, F: number, hw: number, rho: number): Float32Array {
  if (noise.length !== C * F * hw) throw new RangeError(`noise has ${noise.length} values, expected ${C}×${F}×${hw}`);
  if (!(rho >= 0 && rho < 1)) throw new RangeError(`frame noise correlation must be in [0, 1), got ${rho}`);
  if (rho === 0) return noise;
  const fresh = Math.sqrt(1 - rho * rho);
  for (let c = 0; c < C; c++) {
    for (let f = 1; f < F; f++) {
      const o = (c * F + f) * hw;
      for (let p = 0; p < hw; p++) noise[o + p] = rho * noise[o - hw + p]! + fresh * noise[o + p]!;
    }
  }
  return noise;
}
