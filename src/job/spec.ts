/**
 * What a generation job is: its inputs, output and settings as plain typed objects. `AnimateSpec`
 * and `InterpolateSpec` are what callers write (defaults left out); `JobSpec` is the same job
 * checked and with every default filled in, which the rest of src/job runs. The CLI builds a
 * JobSpec from its flags (src/cli/options.ts), naming flags in its messages; `resolveJobSpec`
 * builds one from a caller's spec, naming fields. Both check values with FIELD_CHECKS.
 */
import { UsageError } from '../errors';
import { SCHEDULER_NAMES, type SchedulerName } from '../pipeline/schedulers';

/**
 * How keypoints and masks of the images and the guide are found: `sidecar` files
 * (NAME.keypoints.json, NAME.mask-<class>.png), the model's `parser`, the real-face front end
 * (`face`), or `auto`: sidecars, else a domain check picks parser or face.
 */
export const ANALYSERS = ['auto', 'sidecar', 'parser', 'face'] as const;
export type Analyser = (typeof ANALYSERS)[number];

export type { SchedulerName };

/** The settings a job gets when its spec leaves them out. */
export const JOB_DEFAULTS = Object.freeze({
  steps: 20,
  seed: 0,
  scheduler: 'ddim',
  window: 16,
  overlap: 4,
  analyser: 'auto',
  /** Interpolation: the second attribute's weight. */
  alpha: 0.5,
});

/** One attribute reference. */
export interface AttributeSpec {
  /** The reference image (PNG, JPEG, …) of a face carrying the attribute. */
  image: string;
  /** An attribute class of the model (durian-synth: hair, hat, glasses, beard) or 'auto' (the parser's largest attribute region); default auto. */
  class?: string;
  /** Its mask (PNG); default: NAME.mask-<class>.png beside the image, else the analyser's. */
  mask?: string;
}

/** What animate and interpolate share. */
export interface JobOptions {
  /** Portrait of the person to animate. */
  identity: string;
  /** Keypoints of the identity image (JSON); default: NAME.keypoints.json beside it, else the analyser's. */
  identityKeypoints?: string;
  /** Driving video (mp4, webm, gif, a PNG directory) or keypoint sequence (.json). */
  guide: string;
  /** .mp4, .webm, .gif, or a directory for PNG frames (a name ending in "/"). Its directory must exist. */
  output: string;
  /** Frames to generate; default all of the guide. */
  frames?: number;
  /** Output frame rate; default the guide's. */
  fps?: number;
  /** Denoising steps; default 20. */
  steps?: number;
  /** Classifier-free guidance scale; default the model's (its manifest's defaults.guidance_scale). */
  guidanceScale?: number;
  /** Noise seed, an integer in [0, 2^32); the same seed gives the same frames on the CPU. Default 0. */
  seed?: number;
  /** Sampler; default ddim. */
  scheduler?: SchedulerName;
  /**
   * DDIM's η in [0, 1]: 0 is deterministic DDIM; above 0 every step adds fresh seeded noise (1: the
   * DDPM posterior's variance). ddim only. Default: the model's (its manifest's defaults.eta).
   */
  eta?: number;
  /**
   * Correlation of the sampling noise between neighbouring frames, in [0, 1): 0 draws each frame's
   * noise independently. Default: the model's (its manifest's defaults.noise_correlation).
   */
  noiseCorrelation?: number;
  /** Frames per temporal window; default 16. */
  window?: number;
  /** Frames shared by neighbouring windows, fewer than `window`; default 4. */
  overlap?: number;
  /** How keypoints and masks are found; default auto. */
  analyser?: Analyser;
  /** Also write a preview sheet (.png) of inputs, masks, guidance and sample frames here. */
  preview?: string;
  /** Replace an existing output; default false. */
  overwrite?: boolean;
  /** Refuse (InputError) instead of warning when an input is outside the model's training domain; default false. */
  strict?: boolean;
  /**
   * Run the guidance branches as two UNet calls of batch 1 instead of one of batch 2 (the same
   * frames); default: split on the CPU provider only (src/pipeline/unet-calls.ts).
   */
  splitBranches?: boolean;
  /**
   * Temporal windows per UNet call (the same frames; larger calls use more memory); default: 1 on the
   * CPU provider, up to 128 frames a call on GPU providers (src/pipeline/unet-calls.ts).
   */
  windowsPerCall?: number;
}

/** A job for `animate`: the identity wearing every attribute (one group), moving as the guide. */
export interface AnimateSpec extends JobOptions {
  attributes: AttributeSpec[];
}

/** A job for `interpolate`: two attributes blended by α. */
export interface InterpolateSpec extends JobOptions {
  attributes: [AttributeSpec, AttributeSpec];
  /** The second attribute's weight in [0, 1], or [from, to] sweeping over the video; default 0.5. */
  alpha?: number | [number, number];
}

/** An attribute with its class decided ('auto' still means: the parser's largest region). */
export interface ResolvedAttribute {
  image: string;
  class: string;
  mask?: string;
}

/** A checked job with every default filled in. */
export interface JobSpec extends Omit<JobOptions, keyof typeof JOB_DEFAULTS | 'overwrite' | 'strict'> {
  /** 'compose' (one group of all attributes) or 'interpolate' (two groups blended by alpha). */
  mode: 'compose' | 'interpolate';
  attributes: ResolvedAttribute[];
  alpha: [number, number];
  steps: number;
  seed: number;
  scheduler: SchedulerName;
  /** Unset: the model's default. */
  eta?: number;
  /** Unset: the model's default. */
  noiseCorrelation?: number;
  window: number;
  overlap: number;
  analyser: Analyser;
  overwrite: boolean;
  strict: boolean;
}

const positiveInt = (n: number) => Number.isInteger(n) && n > 0;

/** The numeric settings' bounds, with how to say them: `<name> must be <what>`. */
export const FIELD_CHECKS = Object.freeze({
  frames: { ok: positiveInt, what: 'a positive integer' },
  fps: { ok: (n: number) => n > 0 && n <= 240, what: 'a number in (0, 240]' },
  steps: { ok: positiveInt, what: 'a positive integer' },
  guidanceScale: { ok: (n: number) => n >= 0 && n <= 50, what: 'in [0, 50]' },
  seed: { ok: (n: number) => Number.isInteger(n) && n >= 0 && n < 2 ** 32, what: 'an integer in [0, 2^32)' },
  window: { ok: (n: number) => Number.isInteger(n) && n >= 1, what: 'a positive integer' },
  overlap: { ok: (n: number) => Number.isInteger(n) && n >= 0, what: 'an integer ≥ 0' },
  alpha: { ok: (n: number) => n >= 0 && n <= 1, what: 'in [0, 1]' },
  eta: { ok: (n: number) => n >= 0 && n <= 1, what: 'in [0, 1]' },
  noiseCorrelation: { ok: (n: number) => n >= 0 && n < 1, what: 'in [0, 1)' },
  windowsPerCall: { ok: positiveInt, what: 'a positive integer' },
});

/** An attribute class name as AttributeSpec.class spells it (and `--attr IMG:class`). */
export const CLASS_NAME = /^[A-Za-z_]+$/;

function text(v: unknown, name: string, required: true): string;
function text(v: unknown, name: string, required: false): string | undefined;
function text(v: unknown, name: string, required: boolean): string | undefined {
  if (v === undefined || v === null) {
    if (required) throw new UsageError(`${name} is missing`);
    return undefined;
  }
  if (typeof v !== 'string' || v === '') throw new UsageError(`${name} must be a non-empty string, got ${JSON.stringify(v)}`);
  return v;
}

function number(v: unknown, name: keyof typeof FIELD_CHECKS): number | undefined {
  if (v === undefined || v === null) return undefined;
  const check = FIELD_CHECKS[name];
  if (typeof v !== 'number' || !Number.isFinite(v) || !check.ok(v)) throw new UsageError(`${name} must be ${check.what}, got ${JSON.stringify(v)}`);
  return v;
}

function flag(v: unknown, name: string): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') throw new UsageError(`${name} must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

function oneOf<T extends string>(v: unknown, name: string, words: readonly T[], fallback: T): T {
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'string' || !(words as readonly string[]).includes(v)) throw new UsageError(`${name} must be one of ${words.join(', ')}, got ${JSON.stringify(v)}`);
  return v as T;
}

function readAlpha(v: unknown): [number, number] {
  if (v === undefined || v === null) return [JOB_DEFAULTS.alpha, JOB_DEFAULTS.alpha];
  const ends = Array.isArray(v) && v.length === 2 ? v as unknown[] : typeof v === 'number' ? [v, v] : undefined;
  if (!ends) throw new UsageError(`alpha must be a number or [from, to], got ${JSON.stringify(v)}`);
  return [number(ends[0], 'alpha')!, number(ends[1], 'alpha')!];
}

/**
 * A caller's spec (defaults left out) → a checked JobSpec. Throws UsageError naming the field and
 * its value. Paths are checked to be strings here; whether the files exist and hold what they
 * should is preflightJob's part (src/job/preflight.ts). Attribute classes are checked against the
 * model when the job runs (the model knows its classes).
 */
export function resolveJobSpec(spec: AnimateSpec | InterpolateSpec, mode: JobSpec['mode']): JobSpec {
  if (spec === null || typeof spec !== 'object') throw new UsageError(`a job spec must be an object, got ${JSON.stringify(spec)}`);
  const given: unknown = spec.attributes;
  if (!Array.isArray(given) || given.length === 0) throw new UsageError('attributes must list at least one { image, class? }');
  if (mode === 'interpolate' && given.length !== 2) throw new UsageError(`interpolate needs exactly two attributes, got ${given.length}`);
  const attributes = (given as unknown[]).map((a, i): ResolvedAttribute => {
    const where = `attributes[${i}]`;
    if (a === null || typeof a !== 'object') throw new UsageError(`${where} must be an object { image, class?, mask? }, got ${JSON.stringify(a)}`);
    const { image, class: cls, mask } = a as Record<string, unknown>;
    const name = text(cls, `${where}.class`, false) ?? 'auto';
    if (!CLASS_NAME.test(name)) throw new UsageError(`${where}.class must be a class name or auto, got ${JSON.stringify(name)}`);
    const resolved: ResolvedAttribute = { image: text(image, `${where}.image`, true), class: name };
    const maskFile = text(mask, `${where}.mask`, false);
    if (maskFile !== undefined) resolved.mask = maskFile;
    return resolved;
  });
  const window = number(spec.window, 'window') ?? JOB_DEFAULTS.window;
  const overlap = number(spec.overlap, 'overlap') ?? JOB_DEFAULTS.overlap;
  if (overlap >= window) throw new UsageError(`overlap (${overlap}) must be smaller than window (${window})`);
  const job: JobSpec = {
    identity: text(spec.identity, 'identity', true),
    identityKeypoints: text(spec.identityKeypoints, 'identityKeypoints', false),
    attributes,
    guide: text(spec.guide, 'guide', true),
    output: text(spec.output, 'output', true),
    mode,
    alpha: mode === 'interpolate' ? readAlpha((spec as InterpolateSpec).alpha) : [0, 0],
    frames: number(spec.frames, 'frames'),
    fps: number(spec.fps, 'fps'),
    steps: number(spec.steps, 'steps') ?? JOB_DEFAULTS.steps,
    guidanceScale: number(spec.guidanceScale, 'guidanceScale'),
    seed: number(spec.seed, 'seed') ?? JOB_DEFAULTS.seed,
    scheduler: oneOf(spec.scheduler, 'scheduler', SCHEDULER_NAMES, JOB_DEFAULTS.scheduler),
    eta: number(spec.eta, 'eta'),
    noiseCorrelation: number(spec.noiseCorrelation, 'noiseCorrelation'),
    window,
    overlap,
    analyser: oneOf(spec.analyser, 'analyser', ANALYSERS, JOB_DEFAULTS.analyser),
    preview: text(spec.preview, 'preview', false),
    overwrite: flag(spec.overwrite, 'overwrite'),
    strict: flag(spec.strict, 'strict'),
  };
  if (job.eta !== undefined && job.eta > 0 && job.scheduler !== 'ddim') throw new UsageError(`eta applies to the ddim scheduler only, got scheduler ${job.scheduler}`);
  if (spec.splitBranches !== undefined) job.splitBranches = flag(spec.splitBranches, 'splitBranches');
  const windowsPerCall = number(spec.windowsPerCall, 'windowsPerCall');
  if (windowsPerCall !== undefined) job.windowsPerCall = windowsPerCall;
  return job;
}
