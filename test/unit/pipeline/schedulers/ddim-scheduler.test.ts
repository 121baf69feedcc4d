import { ModelFileError, UsageError } from '../../../../src/errors';
import {
  DDIM_DEFAULTS,
  DDIMScheduler,
  createDDIMSchedulerFromConfig,
} from '../../../../src/pipeline/schedulers/ddim-scheduler';
import { getAlphasCumprod } from '../../../../src/pipeline/schedulers/scheduler';
import { GOLDEN_TOLERANCE, expectClose, expectGoldenLoop, readGolden, runLoop, sum } from './golden';

describe('DDIMScheduler golden full loop (make_fixtures.py)', () => {
  it.each(['ddim-epsilon-10', 'ddim-epsilon-25', 'ddim-v-prediction-10', 'ddim-v-prediction-25'])('%s', (stem) => {
    const g = readGolden(stem);
    const s = createDDIMSchedulerFromConfig(g.config);
    s.setTimesteps(g.num_inference_steps);
    expect(s.timesteps).toEqual(g.timesteps);
    expect(s.initNoiseSigma).toBe(g.init_noise_sigma);
    expectGoldenLoop(s, g);
  });
});

describe('DDIMScheduler timestep spacings (numbers from diffusers 0.42.1 DDIMScheduler)', () => {
  const SD = { beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'scaled_linear', clip_sample: false, set_alpha_to_one: false } as const;
  it.each([
    ['leading', 0, 10, [900, 800, 700, 600, 500, 400, 300, 200, 100, 0], -9.714447478821967],
    ['linspace', 0, 10, [999, 888, 777, 666, 555, 444, 333, 222, 111, 0], -14.479590084403753],
    ['trailing', 0, 10, [999, 899, 799, 699, 599, 499, 399, 299, 199, 99], -18.159939316101372],
    ['linspace', 0, 25, [999, 957, 916, 874, 832, 791, 749, 708, 666, 624, 583, 541, 500, 458, 416, 375, 333, 291, 250,
      208, 166, 125, 83, 42, 0], -15.698641076683998],
  ] as const)('%s, steps_offset %d, %d steps', (spacing, offset, steps, timesteps, goldenSum) => {
    const s = new DDIMScheduler({ ...SD, timestep_spacing: spacing, steps_offset: offset });
    s.setTimesteps(steps);
    expect(s.timesteps).toEqual(timesteps);
    const final = runLoop(s, 128);
    expect(Math.abs(sum(final) - goldenSum)).toBeLessThanOrEqual(GOLDEN_TOLERANCE * Math.abs(goldenSum));
  });
});

describe('DDIMScheduler', () => {
  const config = readGolden('ddim-epsilon-10').config;

  it('recovers x₀ exactly from the true noise at one step (eq. 12)', () => {
    const s = createDDIMSchedulerFromConfig(config);
    s.setTimesteps(20);
    const t = s.timesteps[0]!;
    const a = getAlphasCumprod(s.config)[t]!;
    const x0 = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i));
    const noise = Float32Array.from({ length: 64 }, (_, i) => Math.cos(3 * i));
    const xt = x0.map((v, i) => Math.sqrt(a) * v + Math.sqrt(1 - a) * noise[i]!);
    expectClose(s.step(noise, t, xt).predOriginalSample, Array.from(x0), 1e-4);
  });

  it('adds σ_t·z with injected noise when eta > 0 (eq. 16)', () => {
    const s = createDDIMSchedulerFromConfig(config);
    s.setTimesteps(10);
    const [t, tPrev] = [s.timesteps[2]!, s.timesteps[3]!];
    const ac = getAlphasCumprod(s.config);
    const std = Math.sqrt(((1 - ac[tPrev]!) / (1 - ac[t]!)) * (1 - ac[t]! / ac[tPrev]!));
    const x = new Float32Array([0.5, -0.25, 1]);
    const eps = new Float32Array([0.1, 0.2, -0.3]);
    const z = new Float32Array([1, -2, 0.5]);
    const withNoise = s.step(eps, t, x, { eta: 1, noise: z }).prevSample;
    const withoutNoise = s.step(eps, t, x, { eta: 1, noise: new Float32Array(3) }).prevSample;
    expectClose(withNoise.map((v, i) => v - withoutNoise[i]!), Array.from(z, (v) => std * v), 1e-5);
    expect(() => s.step(eps, t, x, { eta: 1 })).toThrow(/injected noise/);
  });

  it('clamps x̂₀ when clip_sample is set', () => {
    const s = createDDIMSchedulerFromConfig({ ...config, clip_sample: true, clip_sample_range: 0.5 });
    s.setTimesteps(10);
    const out = s.step(new Float32Array([0, 0]), s.timesteps[0]!, new Float32Array([10, -10]));
    expect(Array.from(out.predOriginalSample)).toEqual([0.5, -0.5]);
  });

  it('takes diffusers DDIM defaults for absent keys and freezes its config', () => {
    const s = createDDIMSchedulerFromConfig({ _class_name: 'DDIMScheduler' });
    expect(s.config).toEqual(DDIM_DEFAULTS);
    expect(Object.isFrozen(s.config)).toBe(true);
    s.setTimesteps(10);
    expect(Object.isFrozen(s.timesteps)).toBe(true);
  });

  it('throws on step before setTimesteps', () => {
    const s = createDDIMSchedulerFromConfig(config);
    expect(s.timesteps).toEqual([]);
    expect(() => s.step(new Float32Array(4), 901, new Float32Array(4))).toThrow(/before setTimesteps/);
  });

  it('rejects bad step counts, timesteps and tensor lengths', () => {
    const s = createDDIMSchedulerFromConfig(config);
    expect(() => s.setTimesteps(0)).toThrow(UsageError);
    expect(() => s.setTimesteps(2.5)).toThrow(/numInferenceSteps must be an integer in 1\.\.1000/);
    expect(() => s.setTimesteps(1001)).toThrow(UsageError);
    expect(() => s.setTimesteps(1000)).toThrow(/reaches timestep 1000/); // leading + steps_offset 1
    s.setTimesteps(10);
    expect(() => s.step(new Float32Array(4), 1000, new Float32Array(4))).toThrow(/0\.\.999/);
    expect(() => s.step(new Float32Array(3), 901, new Float32Array(4))).toThrow(/modelOutput has 3 elements/);
  });

  it('rejects unknown config values, listing the valid ones', () => {
    expect(() => createDDIMSchedulerFromConfig({ ...config, prediction_type: 'sample' })).toThrow(
      'DDIMScheduler: unknown prediction_type "sample"; valid: epsilon, v_prediction',
    );
    expect(() => createDDIMSchedulerFromConfig({ ...config, timestep_spacing: 'karras' })).toThrow(
      'valid: leading, linspace, trailing',
    );
    expect(() => createDDIMSchedulerFromConfig({ ...config, beta_schedule: 'cosine' })).toThrow(ModelFileError);
    expect(() => createDDIMSchedulerFromConfig({ ...config, thresholding: true })).toThrow(/thresholding true is not supported/);
    expect(() => createDDIMSchedulerFromConfig({ ...config, steps_offset: -1 })).toThrow(/steps_offset/);
    expect(() => createDDIMSchedulerFromConfig([])).toThrow(/JSON object/);
  });
});
