/**
 * Euler sampling in σ space (Karras et al. 2022, "Elucidating the Design Space of Diffusion-Based
 * Generative Models", Alg. 1 without churn), matching diffusers' EulerDiscreteScheduler and
 * tools/export/durian_export/schedulers.py `EulerDiscreteSampler`.
 */
import { UsageError } from '../../errors';
import {
  assertSameLength,
  getAlphasCumprod,
  getConfigObject,
  getTimesteps,
  readSchedulerConfig,
  rejectUnsupported,
  type Scheduler,
  type SchedulerConfig,
  type StepOptions,
  type StepOutput,
} from './scheduler';

/**
 * diffusers' EulerDiscreteScheduler defaults, used for keys the JSON leaves out. NOTE: diffusers
 * defaults Euler to `linspace` spacing, but durian's exported `scheduler_config.json` says
 * `leading` with `steps_offset: 1` (as Stable Diffusion's does), so `--scheduler euler` visits the
 * same timesteps as DDIM.
 */
export const EULER_DEFAULTS: Readonly<SchedulerConfig> = Object.freeze({
  num_train_timesteps: 1000,
  beta_start: 0.0001,
  beta_end: 0.02,
  beta_schedule: 'linear',
  prediction_type: 'epsilon',
  timestep_spacing: 'linspace',
  steps_offset: 0,
});

/** diffusers Euler options that change the math and that this port does not implement. */
const UNSUPPORTED = {
  trained_betas: null,
  interpolation_type: 'linear',
  use_karras_sigmas: false,
  use_exponential_sigmas: false,
  use_beta_sigmas: false,
  rescale_betas_zero_snr: false,
  final_sigmas_type: 'zero',
  timestep_type: 'discrete',
};

/**
 * Deterministic Euler sampling with σ_t = √((1 − ᾱ_t)/ᾱ_t), interpolated linearly at the (possibly
 * fractional) timesteps, and a final σ of 0. Timesteps are looked up in `timesteps`, so pass those
 * values, not loop indices.
 */
export class EulerDiscreteScheduler implements Scheduler {
  readonly config: Readonly<SchedulerConfig>;
  private readonly trainSigmas: Float64Array;
  private schedule: readonly number[] = [];
  private sigmaSchedule: readonly number[] = [];

  /** Validates `config` (absent keys take diffusers' Euler defaults) and freezes it. */
  constructor(config: Partial<SchedulerConfig> = {}) {
    const where = 'EulerDiscreteScheduler';
    const obj = getConfigObject(config, where);
    rejectUnsupported(obj, UNSUPPORTED, where);
    this.config = Object.freeze(readSchedulerConfig(obj, EULER_DEFAULTS, where));
    const ac = getAlphasCumprod(this.config);
    this.trainSigmas = ac.map((a) => Math.sqrt((1 - a) / a));
  }

  /** Timesteps to visit, descending (float32 values for `linspace`); empty until `setTimesteps`. */
  get timesteps(): readonly number[] {
    return this.schedule;
  }

  /** σ at each timestep, then a final 0 (length `timesteps.length + 1`); empty until `setTimesteps`. */
  get sigmas(): readonly number[] {
    return this.sigmaSchedule;
  }

  /**
   * Standard deviation of the initial noise: σ_max, or √(σ_max² + 1) for `leading` spacing
   * (diffusers' rule). Valid after `setTimesteps`.
   */
  get initNoiseSigma(): number {
    this.assertReady('initNoiseSigma');
    const max = Math.max(...this.sigmaSchedule);
    return this.config.timestep_spacing === 'leading' ? Math.sqrt(max * max + 1) : max;
  }

  /** Lays out `numInferenceSteps` timesteps by `timestep_spacing` and their σ's. */
  setTimesteps(numInferenceSteps: number): void {
    const timesteps = getTimesteps(this.config, numInferenceSteps, false);
    this.sigmaSchedule = Object.freeze([...timesteps.map((t) => this.interpolateSigma(t)), 0]);
    this.schedule = Object.freeze(timesteps);
  }

  /** Preconditions the model input, Karras et al. 2022, Table 1: c_in = 1/√(σ² + 1). */
  scaleModelInput(sample: Float32Array, timestep: number): Float32Array {
    const sigma = this.sigmaSchedule[this.indexOf(timestep, 'scaleModelInput')]!;
    const c = 1 / Math.sqrt(sigma * sigma + 1);
    const out = new Float32Array(sample.length);
    for (let i = 0; i < sample.length; i++) out[i] = sample[i]! * c;
    return out;
  }

  /**
   * One Euler step σ_i → σ_{i+1} (Karras et al. 2022, Alg. 1, lines 5–8 with γ = 0):
   * d = (x − D(x))/σ_i, x' = x + (σ_{i+1} − σ_i)·d, where D(x) = x − σ·ε̂ for `epsilon` and
   * D(x) = x/(σ² + 1) − σ/√(σ² + 1)·v̂ for `v_prediction`. `sample` is the unscaled latent
   * (e.g. `[B, 4, F, H/8, W/8]`); `modelOutput` was computed on `scaleModelInput(sample, timestep)`.
   */
  step(modelOutput: Float32Array, timestep: number, sample: Float32Array, opts: StepOptions = {}): StepOutput {
    const index = this.indexOf(timestep, 'step');
    if ((opts.eta ?? 0) !== 0 || opts.noise !== undefined) {
      throw new UsageError('EulerDiscreteScheduler is deterministic; eta and noise are DDIM options');
    }
    assertSameLength(sample, { modelOutput });
    const sigma = this.sigmaSchedule[index]!;
    const dt = this.sigmaSchedule[index + 1]! - sigma;
    const epsilon = this.config.prediction_type === 'epsilon';
    const cOut = -sigma / Math.sqrt(sigma * sigma + 1);
    const cSkip = 1 / (sigma * sigma + 1);

    const prevSample = new Float32Array(sample.length);
    const predOriginalSample = new Float32Array(sample.length);
    for (let i = 0; i < sample.length; i++) {
      const x = sample[i]!;
      const m = modelOutput[i]!;
      const x0 = epsilon ? x - sigma * m : cOut * m + cSkip * x;
      predOriginalSample[i] = x0;
      prevSample[i] = x + dt * ((x - x0) / sigma);
    }
    return { prevSample, predOriginalSample };
  }

  /** np.interp over the training σ table: linear between integer timesteps, clamped at the ends. */
  private interpolateSigma(t: number): number {
    const last = this.trainSigmas.length - 1;
    if (t <= 0) return this.trainSigmas[0]!;
    if (t >= last) return this.trainSigmas[last]!;
    const lo = Math.floor(t);
    const frac = t - lo;
    const a = this.trainSigmas[lo]!;
    return frac === 0 ? a : a + frac * (this.trainSigmas[lo + 1]! - a);
  }

  private indexOf(timestep: number, caller: string): number {
    this.assertReady(caller);
    const index = this.schedule.indexOf(timestep);
    if (index < 0) {
      throw new Error(
        `EulerDiscreteScheduler.${caller}: timestep ${timestep} is not one of scheduler.timesteps ` +
          `(${this.schedule[0]}…${this.schedule[this.schedule.length - 1]}); pass those values, not loop indices`,
      );
    }
    return index;
  }

  private assertReady(caller: string): void {
    if (this.schedule.length === 0) {
      throw new Error(`EulerDiscreteScheduler.${caller} called before setTimesteps(numInferenceSteps)`);
    }
  }
}

/** An EulerDiscreteScheduler from parsed `scheduler_config.json`; absent keys take diffusers' Euler defaults. */
export function createEulerDiscreteSchedulerFromConfig(json: unknown): EulerDiscreteScheduler {
  return new EulerDiscreteScheduler(getConfigObject(json, 'EulerDiscreteScheduler'));
}
