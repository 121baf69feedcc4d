/**
 * Shared by the scheduler tests: the golden fixtures written by
 * `python -m durian_export.make_fixtures schedulers`, and the same dummy-model loop they ran.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

import type { Scheduler } from '../../../../src/pipeline/schedulers/scheduler';

export const FIXTURES = path.join(__dirname, '../../../fixtures/schedulers');
export const GOLDEN_TOLERANCE = 1e-3; // relative, on the full-loop sum and mean
export const STEP_TOLERANCE = 1e-4; // on per-step values, relative to max(1, |expected|)

export interface Golden {
  config: Record<string, unknown>;
  num_inference_steps: number;
  timesteps: number[];
  /** Euler only. */
  sigmas?: number[];
  init_noise_sigma: number;
  loop: {
    shape: number[];
    steps: { timestep: number; prev_sample_head: number[]; pred_original_sample_head: number[] }[];
    final: { sum: number; mean: number; head: number[] };
  };
}

export function readGolden(stem: string): Golden {
  return JSON.parse(readFileSync(path.join(FIXTURES, `${stem}.json`), 'utf8')) as Golden;
}

/** make_fixtures.py's loop: arange sample × initNoiseSigma, model ε = 0.1·x_in + 0.01·t/1000. */
export function runLoop(s: Scheduler, numel: number, onStep?: (t: number, prev: Float32Array, x0: Float32Array) => void): Float32Array {
  let x = new Float32Array(numel);
  for (let i = 0; i < numel; i++) x[i] = Math.fround(i / numel - 0.5) * s.initNoiseSigma;
  for (const t of s.timesteps) {
    const xin = s.scaleModelInput(x, t);
    const eps = xin.map((v) => 0.1 * v + (0.01 * t) / 1000);
    const out = s.step(eps, t, x);
    onStep?.(t, out.prevSample, out.predOriginalSample);
    x = out.prevSample;
  }
  return x;
}

export function sum(x: Float32Array): number {
  return x.reduce((a, v) => a + v, 0);
}

export function expectClose(actual: ArrayLike<number>, expected: readonly number[], tol: number): void {
  expected.forEach((e, i) => expect(Math.abs(actual[i]! - e)).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(e))));
}

/**
 * The golden full loop: every step's timestep, prev_sample and pred_original_sample heads, then the
 * final sample's sum, mean and head, against what make_fixtures.py recorded.
 */
export function expectGoldenLoop(s: Scheduler, g: Golden): void {
  const numel = g.loop.shape.reduce((a, b) => a * b, 1);
  let k = 0;
  const final = runLoop(s, numel, (t, prev, x0) => {
    const step = g.loop.steps[k++]!;
    expect(t).toBe(step.timestep);
    expectClose(prev, step.prev_sample_head, STEP_TOLERANCE);
    expectClose(x0, step.pred_original_sample_head, STEP_TOLERANCE);
  });
  expect(k).toBe(g.loop.steps.length);
  expect(Math.abs(sum(final) - g.loop.final.sum)).toBeLessThanOrEqual(GOLDEN_TOLERANCE * Math.abs(g.loop.final.sum));
  expect(Math.abs(sum(final) / numel - g.loop.final.mean)).toBeLessThanOrEqual(GOLDEN_TOLERANCE * Math.abs(g.loop.final.mean));
  expectClose(final, g.loop.final.head, STEP_TOLERANCE);
}
