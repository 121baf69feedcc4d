import { addGuidedFrames } from '../../../src/pipeline/guidance';
import { areaDownsample, sliceFrames, stackFrames } from '../../../src/pipeline/latents';
import { correlateFrames, randomNormal } from '../../../src/pipeline/random';
import { getWindowStarts, getWindowWeights, MAX_TENSOR_ELEMENTS, maxWindowsPerCall } from '../../../src/pipeline/windows';

describe('windows (same numbers as durian_export.sample.window_starts / window_weights)', () => {
  it.each([
    [8, 16, 4, [0]],
    [16, 16, 4, [0]],
    [20, 16, 4, [0, 4]],
    [40, 16, 4, [0, 12, 24]],
    [300, 16, 4, [...Array.from({ length: 24 }, (_, i) => i * 12), 284]],
  ])('%i frames, window %i, overlap %i', (frames, window, overlap, starts) => {
    const s = getWindowStarts(frames, window, overlap);
    expect(s).toEqual(starts);
    // every frame is covered
    const covered = new Set(s.flatMap((a) => Array.from({ length: Math.min(window, frames) }, (_, k) => a + k)));
    expect(covered.size).toBe(frames);
  });

  it('ramps weights over the overlap', () => {
    expect(Array.from(getWindowWeights(6, 2)).map((v) => +v.toFixed(3))).toEqual([0.333, 0.667, 1, 1, 0.667, 0.333]);
    expect(() => getWindowStarts(20, 4, 4)).toThrow(/--overlap/);
  });
});

describe('latent layout helpers', () => {
  it('area-downsamples by block means', () => {
    const plane = Float32Array.from({ length: 16 }, (_, i) => i);
    expect(Array.from(areaDownsample(plane, 4, 4, 2))).toEqual([2.5, 4.5, 10.5, 12.5]);
  });

  it('slices, stacks and accumulates frames of [1, C, F, h, w]', () => {
    const C = 2, F = 3, hw = 2;
    const frames = [0, 1, 2].map((f) => Float32Array.from({ length: C * hw }, (_, i) => 10 * f + i));
    const x = stackFrames(frames, C, hw);
    expect(Array.from(sliceFrames(x, C, F, hw, 1, 2))).toEqual([10, 11, 20, 21, 12, 13, 22, 23]);
    // guidance 1 takes the conditional half of the pair as it is
    const cond = sliceFrames(x, C, F, hw, 1, 2);
    const acc = new Float32Array(x.length);
    addGuidedFrames(acc, Float32Array.from([...cond, ...cond.map((v) => -v)]), 1, C, F, hw, 1, 2, Float32Array.from([0.5, 2]));
    expect(Array.from(acc)).toEqual([0, 0, 5, 5.5, 40, 42, 0, 0, 6, 6.5, 44, 46]);
  });

  it('guides and accumulates in one pass with the float32 rounding of guiding first', () => {
    const C = 3, F = 5, hw = 7, n = 3, f0 = 2, scale = 4.7;
    const pair = randomNormal(2 * C * n * hw, 9);
    const weights = Float32Array.from([0.25, 1, 0.75]);
    const acc = randomNormal(C * F * hw, 10);
    const want = Float32Array.from(acc);
    const half = C * n * hw;
    const guided = Float32Array.from({ length: half }, (_, i) => pair[half + i]! + scale * (pair[i]! - pair[half + i]!));
    for (let c = 0; c < C; c++) {
      for (let f = 0; f < n; f++) {
        for (let p = 0; p < hw; p++) {
          const d = (c * F + f0 + f) * hw + p;
          want[d] = want[d]! + weights[f]! * guided[(c * n + f) * hw + p]!;
        }
      }
    }
    addGuidedFrames(acc, pair, scale, C, F, hw, f0, n, weights);
    expect(Array.from(acc)).toEqual(Array.from(want));
  });

  it('seeded noise is reproducible and roughly standard normal', () => {
    const a = randomNormal(20000, 3);
    expect(Array.from(randomNormal(20000, 3))).toEqual(Array.from(a));
    expect(Array.from(randomNormal(5, 4))).not.toEqual(Array.from(a.subarray(0, 5)));
    const mean = a.reduce((s, v) => s + v, 0) / a.length;
    const std = Math.sqrt(a.reduce((s, v) => s + (v - mean) ** 2, 0) / a.length);
    expect(Math.abs(mean)).toBeLessThan(0.03);
    expect(Math.abs(std - 1)).toBeLessThan(0.03);
  });

  describe('frame-correlated noise (the same chain as durian_export.schedulers.correlate_frames)', () => {
    const C = 3, F = 5, hw = 4000;

    it('is each frame\'s own draw mixed with the previous frame: the closed form of the chain', () => {
      const rho = 0.6;
      const draw = randomNormal(C * F * hw, 11);
      const got = correlateFrames(Float32Array.from(draw), C, F, hw, rho);
      const fresh = Math.sqrt(1 - rho * rho);
      for (const [c, f, p] of [[0, 0, 5], [1, 3, 17], [2, 4, 3999]] as const) {
        // x_f = ρ^f ε_0 + √(1−ρ²) Σ_{j=1..f} ρ^(f−j) ε_j
        let want = rho ** f * draw[(c * F) * hw + p]!;
        for (let j = 1; j <= f; j++) want += fresh * rho ** (f - j) * draw[(c * F + j) * hw + p]!;
        expect(got[(c * F + f) * hw + p]).toBeCloseTo(want, 5);
      }
    });

    it('keeps unit variance, correlates neighbours by ρ and frames k apart by ρ^k; ρ = 0 changes nothing', () => {
      const rho = 0.8;
      const x = correlateFrames(randomNormal(C * F * hw, 5), C, F, hw, rho);
      const frame = (c: number, f: number) => x.subarray((c * F + f) * hw, (c * F + f + 1) * hw);
      const corr = (a: Float32Array, b: Float32Array) => a.reduce((s, v, i) => s + v * b[i]!, 0) / a.length;
      for (let f = 0; f < F; f++) expect(corr(frame(1, f), frame(1, f))).toBeCloseTo(1, 1);
      expect(corr(frame(0, 1), frame(0, 2))).toBeCloseTo(rho, 1);
      expect(corr(frame(2, 0), frame(2, 3))).toBeCloseTo(rho ** 3, 1);
      const plain = randomNormal(C * F * hw, 5);
      expect(Array.from(correlateFrames(Float32Array.from(plain), C, F, hw, 0))).toEqual(Array.from(plain));
    });

    it('refuses a correlation outside [0, 1) or noise of the wrong size', () => {
      expect(() => correlateFrames(new Float32Array(8), 1, 2, 4, 1)).toThrow(/\[0, 1\)/);
      expect(() => correlateFrames(new Float32Array(8), 1, 2, 4, -0.1)).toThrow(/\[0, 1\)/);
      expect(() => correlateFrames(new Float32Array(7), 1, 2, 4, 0.5)).toThrow(/7 values/);
    });
  });
});

describe('maxWindowsPerCall', () => {
  const shipped = { heads: 4, tokens: 1024, window: 16, branches: 2 };
  it('keeps a call within cuDNN\'s 2^31 - 1 elements of attention scores', () => {
    for (const [attributes, groups] of [[1, 1], [2, 1], [2, 2], [3, 3]] as const) {
      const n = maxWindowsPerCall({ ...shipped, attributes, groups });
      const scores = (k: number) => k * 16 * 2 * groups * 4 * 1024 * 1024 * (2 + attributes);
      expect(scores(n)).toBeLessThanOrEqual(MAX_TENSOR_ELEMENTS);
      if (n > 1) expect(scores(n + 1)).toBeGreaterThan(MAX_TENSOR_ELEMENTS);
    }
  });
  it('leaves the GPU default of 4 windows for one attribute and cuts it for two attributes', () => {
    expect(maxWindowsPerCall({ ...shipped, attributes: 1, groups: 1 })).toBe(5);
    // 4 windows of a 2-attribute composition would be exactly 2^31 elements: one too many
    expect(maxWindowsPerCall({ ...shipped, attributes: 2, groups: 1 })).toBe(3);
    expect(maxWindowsPerCall({ ...shipped, attributes: 2, groups: 2 })).toBe(1); // 2 would be exactly 2^31 too
    expect(maxWindowsPerCall({ ...shipped, attributes: 1, groups: 1, branches: 1 })).toBe(10);
  });
  it('is at least one window, whatever the sizes', () => {
    expect(maxWindowsPerCall({ heads: 64, tokens: 4096, attributes: 8, groups: 8, window: 64, branches: 2 })).toBe(1);
  });
});
