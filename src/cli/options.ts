/**
 * Pure: command-line flags (or a batch job's JSON fields) → a validated job spec (src/job/spec.ts),
 * with the job layer's defaults and bounds. Throws UsageError naming the flag and its value.
 */
import { UsageError } from '../errors';
import { ANALYSERS, FIELD_CHECKS, JOB_DEFAULTS, type Analyser, type JobSpec, type ResolvedAttribute } from '../job/spec';
import { DEVICES, type Device } from '../onnx/providers';
import { PRECISIONS, type Precision } from '../pipeline/precision';
import { SCHEDULER_NAMES, type SchedulerName } from '../pipeline/schedulers';

/** Defaults shown in --help. */
export const DEFAULTS = Object.freeze({ ...JOB_DEFAULTS, provider: 'auto', precision: 'auto' });

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
  eta?: unknown;
  noiseCorrelation?: unknown;
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

function num(v: unknown, flag: string, fallback: number | undefined, check: { ok: (n: number) => boolean; what: string }): number | undefined {
  if (v === undefined || v === null || v === '') return fallback;
  const n = typeof v === 'number' ? v : Number(v);
  if (!Number.isFinite(n) || !check.ok(n)) throw new UsageError(`${flag} must be ${check.what}, got ${JSON.stringify(v)}`);
  return n;
}

function bool(v: unknown, flag: string): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') throw new UsageError(`${flag} must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

/** `path[:class]` → an attribute. The class is checked against the model later (it knows its classes). */
export function parseAttr(value: string): ResolvedAttribute {
  const m = /^(.*?)(?::([A-Za-z_]+))?$/.exec(value);
  const image = m?.[1] ?? value;
  if (!image) throw new UsageError(`--attr needs an image path, got "${value}"`);
  return { image, class: m?.[2] ?? 'auto' };
}

/** `0.3` → [0.3, 0.3]; `0:1` → [0, 1] (α sweeping over the video). Both ends in [0, 1]. */
export function parseAlpha(value: unknown): [number, number] {
  const text = String(value);
  const parts = text.split(':');
  if (parts.length > 2) throw new UsageError(`--alpha must be a number or FROM:TO, got "${text}"`);
  const ends = parts.map((p) => Number(p));
  if (ends.some((x) => !Number.isFinite(x) || !FIELD_CHECKS.alpha.ok(x)) || parts.some((p) => p.trim() === '')) {
    throw new UsageError(`--alpha values must lie in [0, 1], got "${text}"`);
  }
  return [ends[0]!, ends[ends.length - 1]!];
}

/** Validates a raw job for `mode` into a job spec. */
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
  // unset: the model's default (manifest defaults.eta), which applies to ddim only
  const eta = num(raw.eta, '--eta', undefined, FIELD_CHECKS.eta);
  if (eta !== undefined && eta > 0 && scheduler !== 'ddim') throw new UsageError(`--eta applies to --scheduler ddim only, got --scheduler ${scheduler}`);
  const window = num(raw.window, '--window', DEFAULTS.window, FIELD_CHECKS.window)!;
  const overlap = num(raw.overlap, '--overlap', DEFAULTS.overlap, FIELD_CHECKS.overlap)!;
  if (overlap >= window) throw new UsageError(`--overlap (${overlap}) must be smaller than --window (${window})`);
  return {
    identity: str(raw.identity, '--identity')!,
    identityKeypoints: str(raw.identityKeypoints, '--identity-keypoints', false),
    attributes: attrs,
    guide: str(raw.guide, '--guide')!,
    output: str(raw.output, '--output')!,
    mode,
    alpha: mode === 'interpolate' ? parseAlpha(raw.alpha ?? '0.5') : [0, 0],
    frames: num(raw.frames, '--frames', undefined, FIELD_CHECKS.frames),
    fps: num(raw.fps, '--fps', undefined, FIELD_CHECKS.fps),
    steps: num(raw.steps, '--steps', DEFAULTS.steps, FIELD_CHECKS.steps)!,
    guidanceScale: num(raw.guidanceScale, '--guidance-scale', undefined, FIELD_CHECKS.guidanceScale),
    seed: num(raw.seed, '--seed', DEFAULTS.seed, FIELD_CHECKS.seed)!,
    scheduler: scheduler as SchedulerName,
    eta,
    noiseCorrelation: num(raw.noiseCorrelation, '--noise-correlation', undefined, FIELD_CHECKS.noiseCorrelation),
    window,
    overlap,
    analyser: analyser as Analyser,
    preview: str(raw.preview, '--preview', false),
    overwrite: bool(raw.force, '--force'),
    strict: bool(raw.strict, '--strict'),
  };
}

/** `--provider` word → Device. */
export function resolveProviderFlag(value: unknown): Device {
  const v = str(value, '--provider', false) ?? DEFAULTS.provider;
  if (!(DEVICES as readonly string[]).includes(v)) throw new UsageError(`--provider must be one of ${DEVICES.join(', ')}, got "${v}"`);
  return v as Device;
}

/** `--precision` word → Precision (what the UNet computes in; pipeline/precision.ts). */
export function resolvePrecisionFlag(value: unknown): Precision {
  const v = str(value, '--precision', false) ?? DEFAULTS.precision;
  if (!(PRECISIONS as readonly string[]).includes(v)) throw new UsageError(`--precision must be one of ${PRECISIONS.join(', ')}, got "${v}"`);
  return v as Precision;
}

/** `--shard i/n` (1-based) → [i, n]. */
export function parseShard(value: unknown): [number, number] {
  const m = /^(\d+)\/(\d+)$/.exec(String(value));
  const i = Number(m?.[1]);
  const n = Number(m?.[2]);
  if (!m || n < 1 || i < 1 || i > n) throw new UsageError(`--shard must be I/N with 1 ≤ I ≤ N, got "${String(value)}"`);
  return [i, n];
}
