import { UsageError } from '../../../../src/errors';
import {
  EULER_DEFAULTS,
  EulerDiscreteScheduler,
  createEulerDiscreteSchedulerFromConfig,
} from '../../../../src/pipeline/schedulers/euler-discrete-scheduler';
import { getAlphasCumprod } from '../../../../src/pipeline/schedulers/scheduler';
import { GOLDEN_TOLERANCE, expectClose, expectGoldenLoop, readGolden, runLoop, sum } from './golden';

describe('EulerDiscreteScheduler golden full loop (make_fixtures.py)', () => {
  it.each(['euler-epsilon-10', 'euler-epsilon-25', 'euler-v-prediction-10'])('%s', (stem) => {
    const g = readGolden(stem);
    const s = createEulerDiscreteSchedulerFromConfig(g.config);
    s.setTimesteps(g.num_inference_steps);
    expect(s.timesteps).toEqual(g.timesteps);
    expect(g.sigmas).toBeDefined();
    expectClose(s.sigmas, g.sigmas!, 1e-9);
    expect(s.initNoiseSigma).toBeCloseTo(g.init_noise_sigma, 9);
    expectGoldenLoop(s, g);
  });
});

describe('EulerDiscreteScheduler timestep spacings (numbers from diffusers 0.42.1 EulerDiscreteScheduler)', () => {
  const SD = { beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'scaled_linear' } as const;
  it.each([
    ['leading', 10, [900, 800, 700, 600, 500, 400, 300, 200, 100, 0], 8.406290054321289, -9.69024422595976],
    ['linspace', 10, [999, 888, 777, 666, 555, 444, 333, 222, 111, 0], 14.614646911621094, -18.25614711176604],
    ['trailing', 10, [999, 899, 799, 699, 599, 499, 399, 299, 199, 99], 14.614646911621094, -18.107074262574315],
    ['linspace', 25, [999, 957.375, 915.75, 874.125, 832.5, 790.875, 749.25, 707.625, 666, 624.375, 582.75, 541.125,
      499.5, 457.875, 416.25, 374.625, 333, 291.375, 249.75, 208.125, 166.5, 124.875, 83.25, 41.625, 0],
    14.614646911621094, -17.244275114499032],
  ] as const)('%s, %d steps', (spacing, steps, timesteps, initNoiseSigma, goldenSum) => {
    const s = new EulerDiscreteScheduler({ ...SD, timestep_spacing: spacing });
    s.setTimesteps(steps);
    expect(s.timesteps).toEqual(timesteps);
    // diffusers keeps σ in float32
    expect(Math.abs(s.initNoiseSigma - initNoiseSigma)).toBeLessThanOrEqual(1e-6 * initNoiseSigma);
    const final = runLoop(s, 128);
    expect(Math.abs(sum(final) - goldenSum)).toBeLessThanOrEqual(GOLDEN_TOLERANCE * Math.abs(goldenSum));
  });
});

describe('EulerDiscreteScheduler', () => {
  const config = readGolden('euler-epsilon-10').config;

  it.each(['epsilon', 'v_prediction'])('recovers x₀ exactly from the true target at one step (%s)', (predictionType) => {
    const s = createEulerDiscreteSchedulerFromConfig({ ...config, prediction_type: predictionType });
    s.setTimesteps(20);
    const t = s.timesteps[0]!;
    const a = getAlphasCumprod(s.config)[t]!;
    const sigma = s.sigmas[0]!;
    expect(sigma).toBeCloseTo(Math.sqrt((1 - a) / a), 12);
    const x0 = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i));
    const noise = Float32Array.from({ length: 64 }, (_, i) => Math.cos(3 * i));
    // in σ space x_σ = x₀ + σ·ε (= x_t/√ᾱ); v = √ᾱ·ε − √(1−ᾱ)·x₀
    const xSigma = x0.map((v, i) => v + sigma * noise[i]!);
    const target = predictionType === 'epsilon' ? noise : noise.map((e, i) => Math.sqrt(a) * e - Math.sqrt(1 - a) * x0[i]!);
    expectClose(s.step(target, t, xSigma).predOriginalSample, Array.from(x0), 1e-4);
  });

  it('scales the model input by 1/√(σ² + 1) and ends at σ = 0', () => {
    const s = createEulerDiscreteSchedulerFromConfig(config);
    s.setTimesteps(10);
    const sigma = s.sigmas[3]!;
    const scaled = s.scaleModelInput(new Float32Array([2, -1]), s.timesteps[3]!);
    expectClose(scaled, [2 / Math.sqrt(sigma * sigma + 1), -1 / Math.sqrt(sigma * sigma + 1)], 1e-7);
    expect(s.sigmas).toHaveLength(11);
    expect(s.sigmas[10]).toBe(0);
    // the last step lands on x̂₀
    const t = s.timesteps[9]!;
    const out = s.step(new Float32Array([0.3]), t, new Float32Array([1]));
    expect(out.prevSample[0]).toBeCloseTo(out.predOriginalSample[0]!, 6);
  });

  it('takes diffusers Euler defaults (linspace) for absent keys and freezes its config', () => {
    const s = createEulerDiscreteSchedulerFromConfig({});
    expect(s.config).toEqual(EULER_DEFAULTS);
    expect(Object.isFrozen(s.config)).toBe(true);
    s.setTimesteps(4);
    expect(s.timesteps).toEqual([999, 666, 333, 0]);
  });

  it('throws when used before setTimesteps', () => {
    const s = createEulerDiscreteSchedulerFromConfig(config);
    expect(s.timesteps).toEqual([]);
    expect(() => s.initNoiseSigma).toThrow(/initNoiseSigma called before setTimesteps/);
    expect(() => s.scaleModelInput(new Float32Array(4), 901)).toThrow(/before setTimesteps/);
    expect(() => s.step(new Float32Array(4), 901, new Float32Array(4))).toThrow(/step called before setTimesteps/);
  });

  it('rejects loop indices as timesteps, DDIM options and bad step counts', () => {
    const s = createEulerDiscreteSchedulerFromConfig(config);
    s.setTimesteps(10);
    expect(() => s.step(new Float32Array(4), 0, new Float32Array(4))).toThrow(/not one of scheduler\.timesteps \(901…1\)/);
    expect(() => s.step(new Float32Array(4), 901, new Float32Array(4), { eta: 0.5 })).toThrow(UsageError);
    expect(() => s.setTimesteps(0)).toThrow(UsageError);
    expect(() => s.setTimesteps(-3)).toThrow(/numInferenceSteps must be an integer/);
  });

  it('rejects unknown or unsupported config values, listing the valid ones', () => {
    expect(() => createEulerDiscreteSchedulerFromConfig({ ...config, prediction_type: 'x0' })).toThrow(
      'EulerDiscreteScheduler: unknown prediction_type "x0"; valid: epsilon, v_prediction',
    );
    expect(() => createEulerDiscreteSchedulerFromConfig({ ...config, timestep_spacing: 'even' })).toThrow(
      'valid: leading, linspace, trailing',
    );
    expect(() => createEulerDiscreteSchedulerFromConfig({ ...config, use_karras_sigmas: true })).toThrow(
      /use_karras_sigmas true is not supported/,
    );
    expect(() => createEulerDiscreteSchedulerFromConfig({ ...config, num_train_timesteps: '1000' })).toThrow(
      /num_train_timesteps must be an integer/,
    );
  });
});
