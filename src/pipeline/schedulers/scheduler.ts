/**
 * The scheduler contract (STYLE "Scheduler contract") and the noise-schedule math every scheduler
 * shares, in diffusers' conventions and `scheduler_config.json` spelling. Plain Float32Array in and
 * out: nothing here knows ONNX Runtime.
 */
import { ModelFileError, UsageError } from '../../errors';

/** What the model predicts: the noise ε, or v = √ᾱ·ε − √(1−ᾱ)·x₀ (Salimans & Ho 2022, §4). */
export const PREDICTION_TYPES = ['epsilon', 'v_prediction'] as const;
export type PredictionType = (typeof PREDICTION_TYPES)[number];

/** How inference timesteps are laid over the training ones (Lin et al. 2023, Table 2). */
export const TIMESTEP_SPACINGS = ['leading', 'linspace', 'trailing'] as const;
export type TimestepSpacing = (typeof TIMESTEP_SPACINGS)[number];

/** β schedules: `linear` (Ho et al. 2020) and `scaled_linear` (linear in √β, Stable Diffusion's). */
export const BETA_SCHEDULES = ['linear', 'scaled_linear'] as const;
export type BetaSchedule = (typeof BETA_SCHEDULES)[number];

/** The keys every scheduler reads from `scheduler_config.json`, spelled as diffusers spells them. */
export interface SchedulerConfig {
  num_train_timesteps: number;
  beta_start: number;
  beta_end: number;
  beta_schedule: BetaSchedule;
  prediction_type: PredictionType;
  timestep_spacing: TimestepSpacing;
  /** Added to every `leading` timestep (diffusers ignores it for `linspace` and `trailing`). */
  steps_offset: number;
}

/** Options of one `step`: DDIM's η and the injected noise it needs when η > 0. */
export interface StepOptions {
  eta?: number;
  noise?: Float32Array;
}

/** Result of one `step`: new arrays (so `ArrayBuffer`-backed), both with the shape of `sample`. */
export interface StepOutput {
  prevSample: Float32Array<ArrayBuffer>;
  predOriginalSample: Float32Array<ArrayBuffer>;
}

/**
 * One sampling algorithm. `setTimesteps` first, then for each `t` of `timesteps`:
 * `scaleModelInput` → model → `step`. Initial noise is multiplied by `initNoiseSigma`.
 * Tensors are flat Float32Arrays of any shape (e.g. latents `[B, 4, F, H/8, W/8]`); timesteps are
 * plain numbers, fed to the UNet as float32.
 */
export interface Scheduler {
  readonly config: Readonly<SchedulerConfig>;
  readonly timesteps: readonly number[];
  readonly initNoiseSigma: number;
  setTimesteps(numInferenceSteps: number): void;
  scaleModelInput(sample: Float32Array, timestep: number): Float32Array;
  step(modelOutput: Float32Array, timestep: number, sample: Float32Array, opts?: StepOptions): StepOutput;
}

/** β_1…β_N in float64: `linear` in β, or `scaled_linear` (linear in √β, then squared). */
export function getBetas(config: Readonly<SchedulerConfig>): Float64Array {
  const n = config.num_train_timesteps;
  const scaled = config.beta_schedule === 'scaled_linear';
  const start = scaled ? Math.sqrt(config.beta_start) : config.beta_start;
  const end = scaled ? Math.sqrt(config.beta_end) : config.beta_end;
  const betas = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const b = n === 1 ? start : start + ((end - start) * i) / (n - 1);
    betas[i] = scaled ? b * b : b;
  }
  return betas;
}

/** ᾱ_t = ∏_{s≤t} (1 − β_s) (Ho et al. 2020, eq. 4), float64, indexed by training timestep. */
export function getAlphasCumprod(config: Readonly<SchedulerConfig>): Float64Array {
  const betas = getBetas(config);
  const out = new Float64Array(betas.length);
  let prod = 1;
  for (let i = 0; i < betas.length; i++) {
    prod *= 1 - betas[i]!;
    out[i] = prod;
  }
  return out;
}

/** Rounds half to even, as numpy's `round` does (832.5 → 832). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Inference timesteps, descending, as diffusers' `set_timesteps` lays them out:
 * `leading` = k·⌊N/n⌋ + steps_offset; `trailing` = round(N − k·N/n) − 1; `linspace` = linspace(0, N−1, n),
 * rounded when `discrete` (DDIM) or kept as float32 (Euler, whose sigmas are interpolated).
 */
export function getTimesteps(config: Readonly<SchedulerConfig>, numInferenceSteps: number, discrete: boolean): number[] {
  const n = numInferenceSteps;
  const N = config.num_train_timesteps;
  if (!Number.isInteger(n) || n <= 0 || n > N) {
    throw new UsageError(`numInferenceSteps must be an integer in 1..${N} (num_train_timesteps), got ${n}`);
  }
  const ascending: number[] = [];
  if (config.timestep_spacing === 'leading') {
    const ratio = Math.floor(N / n);
    for (let k = 0; k < n; k++) ascending.push(k * ratio + config.steps_offset);
  } else if (config.timestep_spacing === 'trailing') {
    const ratio = N / n;
    for (let k = n - 1; k >= 0; k--) ascending.push(roundHalfEven(N - k * ratio) - 1);
  } else {
    const step = n === 1 ? 0 : (N - 1) / (n - 1); // numpy: arange(n) · step, then the end exactly
    for (let k = 0; k < n; k++) {
      const t = n > 1 && k === n - 1 ? N - 1 : k * step;
      ascending.push(discrete ? roundHalfEven(t) : Math.fround(t));
    }
  }
  const last = ascending[n - 1]!;
  if (last > N - 1) {
    throw new UsageError(
      `numInferenceSteps ${n} with ${config.timestep_spacing} spacing and steps_offset ${config.steps_offset} ` +
        `reaches timestep ${last}, past num_train_timesteps − 1 (${N - 1})`,
    );
  }
  return ascending.reverse();
}

/** Throws unless every tensor has the sample's length. */
export function assertSameLength(sample: Float32Array, others: Record<string, Float32Array | undefined>): void {
  for (const [name, t] of Object.entries(others)) {
    if (t !== undefined && t.length !== sample.length) {
      throw new Error(`${name} has ${t.length} elements, sample has ${sample.length}`);
    }
  }
}

// --- reading scheduler_config.json -------------------------------------------------------------

/** `scheduler_config.json` as parsed JSON; unknown keys (`_class_name`, other schedulers') are ignored. */
export type SchedulerConfigJson = Record<string, unknown>;

/** Checks that `json` is an object and returns it; `where` names the scheduler in messages. */
export function getConfigObject(json: unknown, where: string): SchedulerConfigJson {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new ModelFileError(`${where}: scheduler config must be a JSON object`);
  }
  return json as SchedulerConfigJson;
}

/** A finite number (an integer ≥ `min` when `integer`), or `fallback` when the key is absent. */
export function readNumber(json: SchedulerConfigJson, key: string, fallback: number, where: string,
  check: { integer?: boolean; min?: number; exclusiveMin?: boolean } = {}): number {
  const v = json[key] ?? fallback;
  const { integer = false, min = -Infinity, exclusiveMin = false } = check;
  const ok = typeof v === 'number' && Number.isFinite(v) && (!integer || Number.isInteger(v)) &&
    (exclusiveMin ? v > min : v >= min);
  if (!ok) {
    const kind = integer ? 'an integer' : 'a number';
    throw new ModelFileError(`${where}: ${key} must be ${kind} ${exclusiveMin ? '>' : '≥'} ${min}, got ${JSON.stringify(v)}`);
  }
  return v;
}

/** A boolean, or `fallback` when the key is absent. */
export function readBoolean(json: SchedulerConfigJson, key: string, fallback: boolean, where: string): boolean {
  const v = json[key] ?? fallback;
  if (typeof v !== 'boolean') throw new ModelFileError(`${where}: ${key} must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

/** One of `choices`, or `fallback` when the key is absent; an unknown value lists the valid ones. */
export function readChoice<T extends string>(json: SchedulerConfigJson, key: string, choices: readonly T[],
  fallback: T, where: string): T {
  const v = json[key] ?? fallback;
  if (!choices.includes(v as T)) {
    throw new ModelFileError(`${where}: unknown ${key} ${JSON.stringify(v)}; valid: ${choices.join(', ')}`);
  }
  return v as T;
}

/**
 * Throws if a diffusers option that changes the math is set to anything but its default, since
 * ignoring it would silently sample differently (e.g. `use_karras_sigmas: true`).
 */
export function rejectUnsupported(json: SchedulerConfigJson, defaults: Record<string, unknown>, where: string): void {
  for (const [key, expected] of Object.entries(defaults)) {
    const v = json[key];
    if (v !== undefined && v !== expected) {
      throw new ModelFileError(`${where}: ${key} ${JSON.stringify(v)} is not supported (only ${JSON.stringify(expected)})`);
    }
  }
}

/** The shared keys with per-scheduler diffusers defaults for absent ones. */
export function readSchedulerConfig(json: SchedulerConfigJson, defaults: SchedulerConfig, where: string): SchedulerConfig {
  const config: SchedulerConfig = {
    num_train_timesteps: readNumber(json, 'num_train_timesteps', defaults.num_train_timesteps, where, { integer: true, min: 1 }),
    beta_start: readNumber(json, 'beta_start', defaults.beta_start, where, { min: 0, exclusiveMin: true }),
    beta_end: readNumber(json, 'beta_end', defaults.beta_end, where, { min: 0, exclusiveMin: true }),
    beta_schedule: readChoice(json, 'beta_schedule', BETA_SCHEDULES, defaults.beta_schedule, where),
    prediction_type: readChoice(json, 'prediction_type', PREDICTION_TYPES, defaults.prediction_type, where),
    timestep_spacing: readChoice(json, 'timestep_spacing', TIMESTEP_SPACINGS, defaults.timestep_spacing, where),
    steps_offset: readNumber(json, 'steps_offset', defaults.steps_offset, where, { integer: true, min: 0 }),
  };
  if (config.beta_end >= 1 || config.beta_start > config.beta_end) {
    throw new ModelFileError(`${where}: need 0 < beta_start ≤ beta_end < 1, got ${config.beta_start}, ${config.beta_end}`);
  }
  return config;
}
