/**
 * Seeded random numbers: a 32-bit PCG-style generator (mulberry32) and Box–Muller normals.
 * Same seed → the same numbers on every platform (integer arithmetic via Math.imul).
 *
 * mulberry32's state only ever moves by a constant, so the k-th number of a stream can be made
 * without the k before it. `fillNormalRange` uses that to fill any slice of a draw, which is how
 * step-noise.ts splits one draw across worker threads and still gets the very numbers that
 * `randomNormal` gives. `mulberry32` and the two fill functions below are also sent to those
 * workers as source text, so they use nothing but each other and Math.
 */

/** mulberry32's output for the state `a`: a uniform float in [0, 1). */
export function mulberry32(a: number): number {
  let t = a;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

/** Uniform floats in [0, 1) from a 32-bit seed. */
export function createUniform(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    return mulberry32(a);
  };
}

/**
 * Writes values [start, end) of the standard-normal draw `randomNormal(n, seed)` into `out` at the
 * same indices (n ≥ end does not matter: value i depends only on the seed and i). Values 2j and
 * 2j+1 are the cosine and sine halves of one Box–Muller pair made from uniforms 2j and 2j+1.
 * Uses only mulberry32 (see the file's comment).
 */
export function fillNormalRange(out: Float32Array, start: number, end: number, seed: number): Float32Array {
  const step = 0x6d2b79f5;
  // the state before uniform k is seed + k·step (mod 2³²); uniform k is made from seed + (k+1)·step
  let a = (seed + Math.imul(start - (start % 2), step)) >>> 0;
  for (let i = start - (start % 2); i < end; i += 2) {
    a = (a + step) >>> 0;
    const u1 = Math.max(mulberry32(a), 1e-12);
    a = (a + step) >>> 0;
    const u2 = mulberry32(a);
    const r = Math.sqrt(-2 * Math.log(u1));
    if (i >= start) out[i] = r * Math.cos(2 * Math.PI * u2);
    if (i + 1 < end) out[i + 1] = r * Math.sin(2 * Math.PI * u2);
  }
  return out;
}

/**
 * Chains channels [c0, c1) of noise laid out [C, F, hw] along the frame axis, in place (see
 * correlateFrames). Channels are independent of each other, so any split of them gives the same
 * numbers. Self-contained (see the file's comment).
 */
export function correlateChannelRange(noise: Float32Array, c0: number, c1: number, F: number, hw: number, rho: number): Float32Array {
  if (rho === 0) return noise;
  const fresh = Math.sqrt(1 - rho * rho);
  for (let c = c0; c < c1; c++) {
    for (let f = 1; f < F; f++) {
      const o = (c * F + f) * hw;
      for (let p = 0; p < hw; p++) noise[o + p] = rho * noise[o - hw + p]! + fresh * noise[o + p]!;
    }
  }
  return noise;
}

/** `n` standard normal samples (Box–Muller) from a seed. */
export function randomNormal(n: number, seed: number): Float32Array {
  return fillNormalRange(new Float32Array(n), 0, n, seed);
}

/** Checks a frame-noise correlation and a [C, F, hw] noise size; throws RangeError otherwise. */
export function checkCorrelation(length: number, C: number, F: number, hw: number, rho: number): void {
  if (length !== C * F * hw) throw new RangeError(`noise has ${length} values, expected ${C}×${F}×${hw}`);
  if (!(rho >= 0 && rho < 1)) throw new RangeError(`frame noise correlation must be in [0, 1), got ${rho}`);
}

/**
 * Correlates noise laid out [C, F, hw] (channel-major, then frame, then pixel) along the frame axis,
 * in place: frame f becomes ρ·(frame f−1, already correlated) + √(1−ρ²)·(its own draw), a first-order
 * autoregressive chain. Every value keeps unit variance and frames k apart correlate by ρ^k, so a
 * long video's noise is still independent between distant frames. ρ = 0 leaves the noise unchanged.
 */
export function correlateFrames(noise: Float32Array, C: number, F: number, hw: number, rho: number): Float32Array {
  checkCorrelation(noise.length, C, F, hw, rho);
  return correlateChannelRange(noise, 0, C, F, hw, rho);
}
