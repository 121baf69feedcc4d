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
