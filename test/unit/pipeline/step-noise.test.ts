import { correlateFrames, createUniform, fillNormalRange, randomNormal } from '../../../src/pipeline/random';
import { NoiseAhead, NoisePool, PARALLEL_MIN_VALUES } from '../../../src/pipeline/step-noise';

/** Box–Muller read straight off the sequential generator: the stream randomNormal has always made. */
function sequentialNormal(n: number, seed: number): Float32Array {
  const u = createUniform(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(Math.max(u(), 1e-12)));
    const a = 2 * Math.PI * u();
    out[i] = r * Math.cos(a);
    if (i + 1 < n) out[i + 1] = r * Math.sin(a);
  }
  return out;
}

describe('seeded normals made in pieces', () => {
  it('randomNormal is still the sequential Box–Muller stream of its seed', () => {
    for (const [n, seed] of [[1, 1], [9, 7], [10_000, 0xffffffff]] as const) {
      expect(Array.from(randomNormal(n, seed))).toEqual(Array.from(sequentialNormal(n, seed)));
    }
  });

  it('any slice, odd ends included, has the very values of the whole draw', () => {
    const whole = randomNormal(1001, 42);
    for (const [a, b] of [[0, 1], [1, 2], [3, 500], [500, 1001], [999, 1001]] as const) {
      const part = fillNormalRange(new Float32Array(1001), a, b, 42);
      expect(Array.from(part.subarray(a, b))).toEqual(Array.from(whole.subarray(a, b)));
      expect(part.subarray(0, a).every((v) => v === 0) && part.subarray(b).every((v) => v === 0)).toBe(true);
    }
  });
});

describe('NoiseAhead: step noise on worker threads', () => {
  // an uneven split: 5 channels over 3 workers, an odd frame size
  const C = 5, F = 7, hw = 33 * 31;
  let pool: NoisePool;
  beforeAll(() => { pool = new NoisePool(3); });

  it.each([0, 0.8])('gives exactly correlateFrames(randomNormal(n, seed)) at rho %p', async (rho) => {
    const seedOf = (k: number) => 1000 + k;
    const ahead = new NoiseAhead(C, F, hw, rho, seedOf, pool);
    expect(ahead.parallel).toBe(true);
    ahead.request(2);
    ahead.request(1);
    for (const k of [1, 2, 3]) {  // 3 was never requested: made on this thread, the same numbers
      const want = correlateFrames(randomNormal(C * F * hw, seedOf(k)), C, F, hw, rho);
      expect(Array.from(await ahead.take(k))).toEqual(Array.from(want));
    }
  });

  it('falls back to this thread when the pool has failed', async () => {
    const broken = new NoisePool(1);
    // the worker is real; stopping it is the failure
    await (broken as unknown as { workers: { terminate(): Promise<number> }[] }).workers[0]!.terminate();
    const ahead = new NoiseAhead(C, F, hw, 0.5, (k) => k, broken);
    ahead.request(4);
    expect(Array.from(await ahead.take(4))).toEqual(Array.from(correlateFrames(randomNormal(C * F * hw, 4), C, F, hw, 0.5)));
  });

  it('makes small draws here and refuses a bad correlation', () => {
    expect(new NoiseAhead(1, 2, 8, 0.5, (k) => k).parallel).toBe(false);
    expect(PARALLEL_MIN_VALUES).toBeGreaterThan(16);
    expect(() => new NoiseAhead(1, 2, 8, 1, (k) => k)).toThrow(/\[0, 1\)/);
  });
});
