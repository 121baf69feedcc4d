/**
 * DDIM (Song et al. 2021, "Denoising Diffusion Implicit Models"), matching diffusers'
 * DDIMScheduler and tools/export/durian_export/schedulers.py `DDIMSampler`.
 */
import { UsageError } from '../../errors';
import {
  assertSameLength,
  getAlphasCumprod,
  getConfigObject,
  getTimesteps,
  readBoolean,
  readNumber,
  readSchedulerConfig,
  rejectUnsupported,
  type Scheduler,
  type SchedulerConfig,
  type StepOptions,
  type StepOutput,
} from './scheduler';

/** DDIM's `scheduler_config.json` keys: the shared ones plus x₀ clipping and the final ᾱ. */
export interface DDIMSchedulerConfig extends SchedulerConfig {
  /** Clamp the predicted x₀ to ±`clip_sample_range`. */
  clip_sample: boolean;
  clip_sample_range: number;
  /** ᾱ after the last step: 1 when true, else ᾱ_0 (Stable Diffusion uses false). */
  set_alpha_to_one: boolean;
}

/** diffusers' DDIMScheduler defaults, used for keys the JSON leaves out. */
export const DDIM_DEFAULTS: Readonly<DDIMSchedulerConfig> = Object.freeze({
  num_train_timesteps: 1000,
  beta_start: 0.0001,
  beta_end: 0.02,
  beta_schedule: 'linear',
  prediction_type: 'epsilon',
  timestep_spacing: 'leading',
  steps_offset: 0,
  clip_sample: true,
  clip_sample_range: 1,
  set_alpha_to_one: true,
});

/** diffusers DDIM options that change the math and that this port does not implement. */
const UNSUPPORTED = { thresholding: false, rescale_betas_zero_snr: false, trained_betas: null };

/**
 * Deterministic (η = 0) or stochastic DDIM sampling. `initNoiseSigma` is 1 and `scaleModelInput`
 * is the identity; all the math is in `step`.
 */
export class DDIMScheduler implements Scheduler {
  readonly config: Readonly<DDIMSchedulerConfig>;
  readonly initNoiseSigma = 1;
  private readonly alphasCumprod: Float64Array;
  private readonly finalAlphaCumprod: number;
  private numInferenceSteps = 0;
  private schedule: readonly number[] = [];

  /** Validates `config` (absent keys take diffusers' DDIM defaults) and freezes it. */
  constructor(config: Partial<DDIMSchedulerConfig> = {}) {
    this.config = Object.freeze(resolveDDIMConfig(config));
    this.alphasCumprod = getAlphasCumprod(this.config);
    this.finalAlphaCumprod = this.config.set_alpha_to_one ? 1 : this.alphasCumprod[0]!;
  }

  /** Training timesteps to visit, descending; empty until `setTimesteps`. */
  get timesteps(): readonly number[] {
    return this.schedule;
  }

  /** Lays out `numInferenceSteps` timesteps by `timestep_spacing` (see `getTimesteps`). */
  setTimesteps(numInferenceSteps: number): void {
    this.schedule = Object.freeze(getTimesteps(this.config, numInferenceSteps, true));
    this.numInferenceSteps = numInferenceSteps;
  }

  /** DDIM needs no input scaling: returns `sample` itself. */
  scaleModelInput(sample: Float32Array, _timestep: number): Float32Array {
    return sample;
  }

  /**
   * One DDIM step t → t − ⌊N/n⌋ (diffusers' rule, for every spacing), Song et al. 2021, eq. 12:
   * x_{t−1} = √ᾱ_{t−1}·x̂₀ + √(1 − ᾱ_{t−1} − σ_t²)·ε̂ + σ_t·z, with
   * σ_t = η·√((1 − ᾱ_{t−1})/(1 − ᾱ_t))·√(1 − ᾱ_t/ᾱ_{t−1}) (eq. 16). η > 0 needs `opts.noise` (z ~ N(0, I)).
   * Tensors share one shape, e.g. `[B, 4, F, H/8, W/8]`.
   */
  step(modelOutput: Float32Array, timestep: number, sample: Float32Array, opts: StepOptions = {}): StepOutput {
    if (this.numInferenceSteps === 0) {
      throw new Error('DDIMScheduler.step called before setTimesteps(numInferenceSteps)');
    }
    const { eta = 0, noise } = opts;
    if (!(eta >= 0)) throw new UsageError(`eta must be ≥ 0, got ${eta}`);
    if (eta > 0 && noise === undefined) throw new UsageError('DDIM with eta > 0 needs injected noise (opts.noise)');
    assertSameLength(sample, { modelOutput, noise });
    const N = this.config.num_train_timesteps;
    if (!Number.isInteger(timestep) || timestep < 0 || timestep >= N) {
      throw new Error(`DDIM timestep must be an integer in 0..${N - 1}, got ${timestep}`);
    }

    // 1. ᾱ_t and ᾱ_{t−1}
    const prevTimestep = timestep - Math.floor(N / this.numInferenceSteps);
    const aT = this.alphasCumprod[timestep]!;
    const aPrev = prevTimestep >= 0 ? this.alphasCumprod[prevTimestep]! : this.finalAlphaCumprod;
    const sqrtA = Math.sqrt(aT);
    const sqrtB = Math.sqrt(1 - aT);
    // 2. σ_t (eq. 16) and the coefficients of eq. 12
    const variance = ((1 - aPrev) / (1 - aT)) * (1 - aT / aPrev);
    const std = eta * Math.sqrt(variance);
    const cX0 = Math.sqrt(aPrev);
    const cEps = Math.sqrt(Math.max(0, 1 - aPrev - std * std));
    const epsilon = this.config.prediction_type === 'epsilon';
    const clip = this.config.clip_sample ? this.config.clip_sample_range : Infinity;

    const prevSample = new Float32Array(sample.length);
    const predOriginalSample = new Float32Array(sample.length);
    for (let i = 0; i < sample.length; i++) {
      const x = sample[i]!;
      const m = modelOutput[i]!;
      // 3. x̂₀ and ε̂: from ε, x̂₀ = (x − √(1−ᾱ)·ε)/√ᾱ (eq. 12's "predicted x₀");
      //    from v, x̂₀ = √ᾱ·x − √(1−ᾱ)·v and ε̂ = √ᾱ·v + √(1−ᾱ)·x (Salimans & Ho 2022)
      let x0 = epsilon ? (x - sqrtB * m) / sqrtA : sqrtA * x - sqrtB * m;
      const eps = epsilon ? m : sqrtA * m + sqrtB * x;
      // 4. clip x̂₀; ε̂ is not re-derived (diffusers' use_clipped_model_output = false)
      x0 = Math.min(clip, Math.max(-clip, x0));
      predOriginalSample[i] = x0;
      // 5. eq. 12
      prevSample[i] = cX0 * x0 + cEps * eps + (eta > 0 ? std * noise![i]! : 0);
    }
    return { prevSample, predOriginalSample };
  }
}

/** A DDIMScheduler from parsed `scheduler_config.json`; absent keys take diffusers' DDIM defaults. */
export function createDDIMSchedulerFromConfig(json: unknown): DDIMScheduler {
  return new DDIMScheduler(getConfigObject(json, 'DDIMScheduler'));
}

function resolveDDIMConfig(config: Partial<DDIMSchedulerConfig>): DDIMSchedulerConfig {
  const where = 'DDIMScheduler';
  const obj = getConfigObject(config, where);
  rejectUnsupported(obj, UNSUPPORTED, where);
  return {
    ...readSchedulerConfig(obj, DDIM_DEFAULTS, where),
    clip_sample: readBoolean(obj, 'clip_sample', DDIM_DEFAULTS.clip_sample, where),
    clip_sample_range: readNumber(obj, 'clip_sample_range', DDIM_DEFAULTS.clip_sample_range, where, { min: 0, exclusiveMin: true }),
    set_alpha_to_one: readBoolean(obj, 'set_alpha_to_one', DDIM_DEFAULTS.set_alpha_to_one, where),
  };
}
