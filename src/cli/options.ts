/**
 * Pure: command-line flags (or a batch job's JSON fields) → a validated, typed job.
 * Throws UsageError naming the flag and its value.
 */
import { UsageError } from '../errors';
import { DEVICES, type Device } from '../onnx/providers';
import { SCHEDULER_NAMES, type SchedulerName } from '../pipeline/schedulers';

export const ANALYSERS = ['auto', 'sidecar', 'parser', 'face'] as const;
export type Analyser = (typeof ANALYSERS)[number];

/** Defaults shown in --help. */
export const DEFAULTS = Object.freeze({
  steps: 20,
  seed: 0,
  scheduler: 'ddim',
  window: 16,
  overlap: 4,
  provider: 'auto',
  analyser: 'auto',
});

export interface AttrSpec {
  path: string;
  /** An attribute class of the model, or 'auto' (the parser's largest attribute region). */
  cls: string;
  mask?: string;
}

export interface JobSpec {
  identity: string;
  identityKeypoints?: string;
  attrs: AttrSpec[];
  guide: string;
  output: string;
  /** 'compose' (one group) or 'interpolate' (two groups blended by alpha). */
  mode: 'compose' | 'interpolate';
  alpha: [number, number];
  frames?: number;
  fps?: number;
  steps: number;
  /** Undefined: the model's default (its manifest's `defaults.guidance_scale`). */
  guidanceScale?: number;
  seed: number;
  scheduler: SchedulerName;
  window: number;
  overlap: number;
  analyser: Analyser;
  preview?: string;
  force: boolean;
  /** Refuse (exit 3) instead of warning when an input is outside the model's training domain. */
  strict: boolean;
}

/** Raw values as commander (or a JSONL job) gives them. */
export interface RawJob {
  identity?: unknown;
  identityKeypoints?: unknown;
  attr?: unknown;
  attrMask?: unknown;
  guide?: unknown;
  output?: unknown;
  alpha?: unknown;
  frames?: unknown;
  fps?: unknown;
  steps?: unknown;
  guidanceScale?: unknown;
  seed?: unknown;
  scheduler?: unknown;
  window?: unknown;
  overlap?: unknown;
  analyser?: unknown;
  preview?: unknown;
  force?: unknown;
  strict?: unknown;
}

function str(v: unknown, flag: string, required = true): string | undefined {
  if (v === undefined || v === null || v === '') {
    if (required) throw new UsageError(`missing ${flag}`);
    return undefined;
  }
  if (typeof v !== 'string') throw new UsageError(`${flag} must be a string, got ${JSON.stringify(v)}`);
  return v;
}

function num(v: unknown, flag: string, fallback: number | undefined, check: (n: number) => boolean, what: string): number | undefined {
  if (v === undefined || v === null || v === '') return fallback;
  const n = typeof v === 'number' ? v : Number(v);
  if (!Number.isFinite(n) || !check(n)) throw new UsageError(`${flag} must be ${what}, got ${JSON.stringify(v)}`);
  return n;
}

function bool(v: unknown, flag: string): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') throw new UsageError(`${flag} must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

const positiveInt = (n: number) => Number.isInteger(n) && n > 0;

/** `path[:class]` → AttrSpec. The class is checked against the model later (it knows its classes). */
export function parseAttr(value: string): AttrSpec {
  const m = /^(.*?)(?::([A-Za-z_]+))?$/.exec(value);
  const path = m?.[1] ?? value;
  if (!path) throw new UsageError(`--attr needs an image path, got "${value}"`);
  return { path, cls: m?.[2] ?? 'auto' };
}

/** `0.3` → [0.3, 0.3]; `0:1` → [0, 1] (α sweeping over the video). Both ends in [0, 1]. */
export function parseAlpha(value: unknown): [number, number] {
  const text = String(value);
  const parts = text.split(':');
  if (parts.length > 2) throw new UsageError(`--alpha must be a number or FROM:TO, got "${text}"`);
  const ends = parts.map((p) => Number(p));
  if (ends.some((x) => !Number.isFinite(x) || x < 0 || x > 1) || parts.some((p) => p.trim() === '')) {
    throw new UsageError(`--alpha values must lie in [0, 1], got "${text}"`);
  }
  return [ends[0]!, ends[ends.length - 1]!];
}

/** Validates a raw job for `mode` into a JobSpec. */
export function resolveJob(raw: RawJob, mode: JobSpec['mode']): JobSpec {
  const attrValues = raw.attr === undefined ? [] : Array.isArray(raw.attr) ? raw.attr : [raw.attr];
  const attrs = attrValues.map((a) => parseAttr(str(a, '--attr')!));
  const masks = raw.attrMask === undefined ? [] : Array.isArray(raw.attrMask) ? raw.attrMask : [raw.attrMask];
  if (masks.length > attrs.length) throw new UsageError(`${masks.length} --attr-mask given for ${attrs.length} --attr`);
  masks.forEach((m, i) => (attrs[i]!.mask = str(m, '--attr-mask')));
  if (attrs.length === 0) throw new UsageError('at least one --attr IMG[:class] is required');
  if (mode === 'interpolate' && attrs.length !== 2) throw new UsageError(`interpolate needs exactly two --attr, got ${attrs.length}`);
  const scheduler = str(raw.scheduler ?? DEFAULTS.scheduler, '--scheduler')!;
  if (!(SCHEDULER_NAMES as readonly string[]).includes(scheduler)) {
    throw new UsageError(`--scheduler must be one of ${SCHEDULER_NAMES.join(', ')}, got "${scheduler}"`);
  }
  const analyser = str(raw.analyser ?? DEFAULTS.analyser, '--analyser')!;
  if (!(ANALYSERS as readonly string[]).includes(analyser)) {
    throw new UsageError(`--analyser must be one of ${ANALYSERS.join(', ')}, got "${analyser}"`);
  }
  const window = num(raw.window, '--window', DEFAULTS.window, (n) => Number.isInteger(n) && n >= 1, 'a positive integer')!;
  const overlap = num(raw.overlap, '--overlap', DEFAULTS.overlap, (n) => Number.isInteger(n) && n >= 0, 'an integer ≥ 0')!;
  if (overlap >= window) throw new UsageError(`--overlap (${overlap}) must be smaller than --window (${window})`);
  return {
    identity: str(raw.identity, '--identity')!,
    identityKeypoints: str(raw.identityKeypoints, '--identity-keypoints', false),
    attrs,
    guide: str(raw.guide, '--guide')!,
    output: str(raw.output, '--output')!,
    mode,
    alpha: mode === 'interpolate' ? parseAlpha(raw.alpha ?? '0.5') : [0, 0],
    frames: num(raw.frames, '--frames', undefined, positiveInt, 'a positive integer'),
    fps: num(raw.fps, '--fps', undefined, (n) => n > 0 && n <= 240, 'a number in (0, 240]'),
    steps: num(raw.steps, '--steps', DEFAULTS.steps, positiveInt, 'a positive integer')!,
    guidanceScale: num(raw.guidanceScale, '--guidance-scale', undefined, (n) => n >= 0 && n <= 50, 'in [0, 50]'),
    seed: num(raw.seed, '--seed', DEFAULTS.seed, (n) => Number.isInteger(n) && n >= 0 && n < 2 ** 32, 'an integer in [0, 2^32)')!,
    scheduler: scheduler as SchedulerName,
    window,
    overlap,
    analyser: analyser as Analyser,
    preview: str(raw.preview, '--preview', false),
    force: bool(raw.force, '--force'),
    strict: bool(raw.strict, '--strict'),
  };
}

/** `--provider` word → Device. */
export function resolveProviderFlag(value: unknown): Device {
  const v = str(value, '--provider', false) ?? DEFAULTS.provider;
  if (!(DEVICES as readonly string[]).includes(v)) throw new UsageError(`--provider must be one of ${DEVICES.join(', ')}, got "${v}"`);
  return v as Device;
}

/** `--shard i/n` (1-based) → [i, n]. */
export function parseShard(value: unknown): [number, number] {
  const m = /^(\d+)\/(\d+)$/.exec(String(value));
  const i = Number(m?.[1]);
  const n = Number(m?.[2]);
  if (!m || n < 1 || i < 1 || i > n) throw new UsageError(`--shard must be I/N with 1 ≤ I ≤ N, got "${String(value)}"`);
  return [i, n];
}
