/**
 * `durian batch JOBS.jsonl`: one job per line (the flags of animate/interpolate as fields), the
 * model loaded once (when the first good job needs it), a bad line or a failing job reported and
 * skipped while every other job runs, `--shard i/n` for array jobs, `--resume` to skip jobs whose
 * output exists and reads back complete.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

import { Command, Option } from 'commander';

import { UsageError } from '../../errors';
import { verifyVideo } from '../../media/video-writer';
import { DEVICES } from '../../onnx/providers';
import { loadPipeline } from '../../pipeline/load';
import { DEFAULT_MODEL_DIR } from '../../pipeline/model-store';
import type { CliContext } from '../context';
import { EXIT_CODES, getExitCode } from '../exit-codes';
import { getInterruptSignal, onInterrupt } from '../interrupt';
import type { JobSpec } from '../../job/spec';
import { DEFAULTS, parseShard, resolveJob, resolvePrecisionFlag, resolveProviderFlag, type RawJob } from '../options';
import { FaceLoader } from '../../job/face-loader';
import { preflightJob } from '../../job/preflight';
import { runJob } from '../../job/run-job';
import { createSpinner } from '../spinner';
import { cleanUpAfter, LOW_MEMORY_HELP, precisionOption } from './generate';

interface BatchFlags {
  shard?: string;
  resume: boolean;
  json: boolean;
  strict: boolean;
  model: string;
  provider: string;
  precision: string;
  lowMemory: boolean;
}

export interface Outcome {
  line: number;
  output?: string;
  status: 'ok' | 'skipped' | 'failed';
  error?: string;
  exitCode?: number;
  seconds?: number;
  warnings?: string[];
  /** --resume found an output that did not read back complete, and wrote it again. */
  replaced?: string;
}

/** The fields a job line may have: the flags of animate/interpolate, and `command`. */
export const JOB_FIELDS: readonly string[] = Object.freeze([
  'command', 'identity', 'identityKeypoints', 'attr', 'attrMask', 'guide', 'output', 'alpha', 'frames', 'fps', 'steps',
  'guidanceScale', 'seed', 'scheduler', 'eta', 'noiseCorrelation', 'window', 'overlap', 'analyser', 'preview', 'force', 'strict',
]);

/** kebab-case job keys (as on the command line) → camelCase; `mode` picks animate or interpolate. */
export function normaliseJob(json: unknown): { raw: RawJob; mode: 'compose' | 'interpolate' } {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new UsageError(`a job must be a JSON object, got ${json === null ? 'null' : Array.isArray(json) ? 'an array' : typeof json}`);
  }
  const raw: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(json)) {
    const key = k.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    if (!JOB_FIELDS.includes(key)) throw new UsageError(`unknown field ${JSON.stringify(k).slice(0, 60)}`);
    raw[key] = v;
  }
  const command = raw.command ?? 'animate';
  if (command !== 'animate' && command !== 'interpolate') throw new UsageError(`"command" must be animate or interpolate, got ${JSON.stringify(command).slice(0, 60)}`);
  delete raw.command;
  return { raw, mode: command === 'interpolate' ? 'interpolate' : 'compose' };
}

/** One non-blank, non-comment line of a jobs file: a resolved job, or why it is not one. */
export type JobLine = { line: number; spec: JobSpec } | { line: number; error: unknown };

/**
 * Pure: the text of a jobs file → its jobs for shard `si` of `sn` (1-based), each resolved or
 * carrying the error that makes it bad. Relative paths are relative to `base`. Never throws.
 */
export function readJobLines(text: string, base: string, shard: [number, number] = [1, 1]): JobLine[] {
  const [si, sn] = shard;
  const lines = text.split('\n').map((l, i) => ({ text: l.trim(), line: i + 1 })).filter((l) => l.text && !l.text.startsWith('#'));
  return lines.filter((_, i) => i % sn === si - 1).map(({ text, line }): JobLine => {
    try {
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        throw new UsageError('not valid JSON');
      }
      const { raw, mode } = normaliseJob(json);
      // relative paths in a job file are relative to the job file
      for (const key of ['identity', 'identityKeypoints', 'guide', 'output', 'preview'] as const) {
        if (typeof raw[key] === 'string' && raw[key] !== '') raw[key] = path.resolve(base, raw[key]);
      }
      const attrs: unknown[] = raw.attr === undefined ? [] : Array.isArray(raw.attr) ? raw.attr : [raw.attr];
      raw.attr = attrs.map((a) => (typeof a === 'string' && a !== '' ? path.resolve(base, a) : a));
      const masks: unknown[] = raw.attrMask === undefined ? [] : Array.isArray(raw.attrMask) ? raw.attrMask : [raw.attrMask];
      if (raw.attrMask !== undefined) raw.attrMask = masks.map((m) => (typeof m === 'string' && m !== '' ? path.resolve(base, m) : m));
      const spec = resolveJob(raw, mode);
      // an output name ending in "/" is a PNG directory: keep that after resolving
      if (typeof json === 'object' && json && String((json as Record<string, unknown>).output).endsWith('/') && !spec.output.endsWith('/')) spec.output += '/';
      return { line, spec };
    } catch (error) {
      return { line, error };
    }
  });
}

/** The exit code of a batch from its outcomes: 0 when none failed, else 1. */
export function getBatchExitCode(outcomes: readonly Outcome[]): number {
  return outcomes.some((o) => o.status === 'failed') ? EXIT_CODES.runtimeFailure : EXIT_CODES.ok;
}

/** Carries an error that stops the whole batch (the model cannot load) past the per-job handler. */
/** A failure that ends the whole batch (the model cannot load), not one job. */
class BatchAbort extends Error {
  constructor(readonly reason: unknown) {
    super('batch aborted', { cause: reason });
  }
}

function firstLine(error: unknown): string {
  const m = error instanceof Error ? error.message : String(error);
  return m.split('\n', 1)[0] ?? m;
}

export function registerBatchCommand(program: Command, ctx: CliContext): void {
  program
    .command('batch <jobs>')
    .description('run a JSONL file of jobs (animate/interpolate fields per line), model loaded once')
    .option('--shard <i/n>', 'run only jobs with (line index mod n) = i − 1 (Slurm arrays, k8s indexed jobs)')
    .option('--resume', 'skip jobs whose output exists and reads back complete (a broken one is written again)', false)
    .option('--json', 'print one JSON summary', false)
    .option('--strict', 'fail a job (exit 3) instead of warning when an input is outside the model\'s training domain', false)
    .option('--model <dir>', 'model directory', DEFAULT_MODEL_DIR)
    .addOption(new Option('--provider <device>', 'execution provider').choices([...DEVICES]).default(DEFAULTS.provider))
    .addOption(precisionOption())
    .option('--low-memory', LOW_MEMORY_HELP, false)
    .action(async (jobsFile: string, f: BatchFlags) => {
      // 1. The batch's own flags and file: a problem here stops everything (exit 2)
      const shard = f.shard ? parseShard(f.shard) : ([1, 1] as [number, number]);
      const device = resolveProviderFlag(f.provider);
      const precision = resolvePrecisionFlag(f.precision);
      if (!existsSync(jobsFile)) throw new UsageError(`jobs file not found: ${jobsFile}`);
      if (!statSync(jobsFile).isFile()) throw new UsageError(`jobs file ${jobsFile} is not a regular file`);
      const mine = readJobLines(readFileSync(jobsFile, 'utf8'), path.dirname(path.resolve(jobsFile)), shard);
      const spinner = createSpinner(!f.json);
      const stop = onInterrupt(() => spinner.stop());
      await spinner.start('checking jobs');
      const face = new FaceLoader();
      let loaded: Awaited<ReturnType<typeof loadPipeline>> | undefined;
      const outcomes: Outcome[] = [];
      const fail = (line: number, error: unknown, t0: number, output?: string) => {
        outcomes.push({ line, ...(output ? { output } : {}), status: 'failed', error: firstLine(error), exitCode: getExitCode(error), seconds: (Date.now() - t0) / 1000 });
        if (!f.json) ctx.stderr(`durian: job on line ${line} failed: ${firstLine(error)}`);
      };
      try {
        for (const [k, job] of mine.entries()) {
          const t0 = Date.now();
          if ('error' in job) {
            fail(job.line, job.error, t0);
            continue;
          }
          const { line } = job;
          const spec = { ...job.spec, strict: job.spec.strict || f.strict };
          let replaced: string | undefined;
          if (f.resume) {
            const target = path.resolve(spec.output.replace(/\/+$/, ''));
            if (existsSync(target)) {
              const problem = await verifyVideo(target);
              if (problem === undefined) {
                outcomes.push({ line, output: target, status: 'skipped' });
                continue;
              }
              // an output that does not read back is no result: write it again
              replaced = problem;
              spec.overwrite = true;
            }
          }
          let releaseClaim: () => void = () => {};
          let clean: () => void = () => {};
          try {
            spinner.update(`job ${k + 1}/${mine.length} (line ${line}): checking inputs`);
            releaseClaim = await preflightJob(spec, face.get);
            clean = onInterrupt(cleanUpAfter(spec.output, releaseClaim));
            if (!loaded) {
              spinner.update('loading model');
              // a model that cannot load fails the whole batch (exit 2), not each job
              loaded = await loadPipeline(f.model, device, { memory: f.lowMemory ? 'low' : 'balanced', precision }).catch((error: unknown) => {
                throw new BatchAbort(error);
              });
            }
            const warnings: string[] = [];
            spinner.update(`job ${k + 1}/${mine.length} (line ${line})`);
            const r = await runJob(loaded.pipeline, spec, {
              onWarning: (w) => {
                warnings.push(w);
                if (!f.json) ctx.stderr(`durian: warning: job on line ${line}: ${w}`);
              },
              onStep: ({ step, total }) => spinner.update(`job ${k + 1}/${mine.length} (line ${line}): step ${step}/${total}`),
              signal: getInterruptSignal(),
            }, face.get);
            outcomes.push({ line, output: r.output, status: 'ok', seconds: (Date.now() - t0) / 1000,
              ...(warnings.length ? { warnings } : {}), ...(replaced ? { replaced } : {}) });
          } catch (error) {
            if (error instanceof BatchAbort) throw error.cause;
            fail(line, error, t0, spec.output);
          } finally {
            clean();
            releaseClaim();
          }
        }
      } finally {
        stop();
        spinner.stop();
        await face.release();
        await loaded?.pipeline.release();
      }
      const failed = outcomes.filter((o) => o.status === 'failed').length;
      const summary = { ok: failed === 0, shard: `${shard[0]}/${shard[1]}`, jobs: outcomes.length, succeeded: outcomes.filter((o) => o.status === 'ok').length,
        skipped: outcomes.filter((o) => o.status === 'skipped').length, failed, memory: f.lowMemory ? 'low' : 'balanced',
        ...(loaded ? { unet_precision: loaded.pipeline.unetPrecision, vae_decoder_precision: loaded.pipeline.precisions.vae_decoder } : {}), outcomes };
      if (f.json) ctx.stdout(JSON.stringify(summary));
      else ctx.stdout(`${summary.succeeded} succeeded, ${summary.skipped} skipped, ${failed} failed`);
      ctx.setExitCode(getBatchExitCode(outcomes));
    });
}
