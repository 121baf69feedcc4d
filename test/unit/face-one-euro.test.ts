import { getSmoothingFactor, OneEuroFilter } from '../../src/face/one-euro';
import { UsageError } from '../../src/errors';

const FPS = 24;

/** Deterministic noise in [-1, 1] (a small LCG), so the tests do not depend on Math.random. */
function createNoise(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return (s / 2 ** 32) * 2 - 1;
  };
}

/** Mean frame-to-frame displacement of point sets. */
function getJitter(frames: Float32Array[]): number {
  let sum = 0, n = 0;
  for (let f = 1; f < frames.length; f++) {
    for (let i = 0; i < frames[f]!.length; i += 2) {
      sum += Math.hypot(frames[f]![i]! - frames[f - 1]![i]!, frames[f]![i + 1]! - frames[f - 1]![i + 1]!);
      n++;
    }
  }
  return sum / n;
}

describe('One Euro filter', () => {
  it('passes the first sample through and holds a static signal exactly', () => {
    const f = new OneEuroFilter({ minCutoff: 1, beta: 0.5, dCutoff: 1 });
    const p = Float32Array.from([10, 20, 30, 40]);
    for (let i = 0; i < 10; i++) expect(Array.from(f.apply(p, i / FPS))).toEqual([10, 20, 30, 40]);
  });

  it('a noisy static signal: converges to the true position and its jitter drops', () => {
    const noise = createNoise(7);
    const f = new OneEuroFilter({ minCutoff: 1, beta: 0.5, dCutoff: 1 });
    const raw: Float32Array[] = [], out: Float32Array[] = [];
    for (let i = 0; i < 240; i++) {
      const p = Float32Array.from({ length: 20 }, (_, k) => 50 + k + noise());
      raw.push(p);
      out.push(f.apply(p, i / FPS, 40)); // speed in units of a 40-px face
    }
    expect(getJitter(out.slice(48))).toBeLessThan(0.35 * getJitter(raw.slice(48)));
    const last = out[out.length - 1]!;
    last.forEach((v, k) => expect(Math.abs(v - (50 + k))).toBeLessThan(0.5));
  });

  it('follows a step with lag bounded by the cutoff at rest: residual ≤ (1 − α(minCutoff))ⁿ', () => {
    const params = { minCutoff: 1, beta: 0, dCutoff: 1 };
    const alpha = getSmoothingFactor(params.minCutoff, 1 / FPS);
    const f = new OneEuroFilter(params);
    for (let i = 0; i < 24; i++) f.apply(Float32Array.from([0, 0]), i / FPS);
    for (let n = 1; n <= 48; n++) {
      const y = f.apply(Float32Array.from([10, 0]), (23 + n) / FPS)[0]!;
      expect(10 - y).toBeLessThanOrEqual(10 * (1 - alpha) ** n + 1e-4);
      expect(y).toBeLessThanOrEqual(10 + 1e-6); // no overshoot
    }
  });

  it('speed raises the cutoff: with beta the step is followed faster than without', () => {
    const run = (beta: number) => {
      const f = new OneEuroFilter({ minCutoff: 1, beta, dCutoff: 1 });
      for (let i = 0; i < 24; i++) f.apply(Float32Array.from([0, 0]), i / FPS);
      let y = 0;
      for (let n = 1; n <= 3; n++) y = f.apply(Float32Array.from([10, 0]), (23 + n) / FPS)[0]!;
      return y;
    };
    expect(run(0.5)).toBeGreaterThan(run(0) + 1);
  });

  it('measures speed in `scale` units: a twice-larger scale halves the speed effect', () => {
    const run = (points: number, scale: number) => {
      const f = new OneEuroFilter({ minCutoff: 1, beta: 0.5, dCutoff: 1 });
      f.apply(Float32Array.from([0, 0]), 0, scale);
      return f.apply(Float32Array.from([points, 0]), 1 / FPS, scale)[0]! / points;
    };
    expect(run(20, 2)).toBeCloseTo(run(10, 1), 6);
  });

  it('restarts after reset() and rejects non-increasing timestamps and bad parameters', () => {
    const f = new OneEuroFilter();
    f.apply(Float32Array.from([0, 0]), 1);
    expect(() => f.apply(Float32Array.from([1, 1]), 1)).toThrow(UsageError);
    f.reset();
    expect(Array.from(f.apply(Float32Array.from([5, 5]), 0))).toEqual([5, 5]);
    expect(() => new OneEuroFilter({ minCutoff: 0, beta: 0, dCutoff: 1 })).toThrow(/minCutoff/);
    expect(() => new OneEuroFilter({ minCutoff: 1, beta: -1, dCutoff: 1 })).toThrow(/beta/);
  });
});
