/**
 * `durian batch JOBS.jsonl`: one job per line (the flags of animate/interpolate as fields), the
 * model loaded once, failures reported and the rest carried on, `--shard i/n` for array jobs,
 * `--resume` to skip jobs whose output already exists (outputs appear only when complete).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

import { Command, Option } from 'commander';

import { DurianError, UsageError } from '../../errors';
import { DEVICES } from '../../onnx/providers';
import { loadPipeline } from '../../pipeline/load';
import type { CliContext } from '../context';
import { EXIT_CODES, getExitCode } from '../exit-codes';
import { onInterrupt } from '../interrupt';
import { DEFAULTS, parseShard, resolveJob, resolveProviderFlag, type RawJob } from '../options';
import { FaceLoader } from '../face-loader';
import { runJob } from '../run-job';
import { createSpinner } from '../spinner';
import { DEFAULT_MODEL } from './generate';

interface BatchFlags {
  shard?: string;
  resume: boolean;
  json: boolean;
  model: string;
  provider: string;
}

interface Outcome {
  line: number;
  output?: string;
  status: 'ok' | 'skipped' | 'failed';
  error?: string;
  exitCode?: number;
  seconds?: number;
}

/** kebab-case job keys (as on the command line) → camelCase; `mode` picks animate or interpolate. */
export function normaliseJob(json: Record<string, unknown>): { raw: RawJob; mode: 'compose' | 'interpolate' } {
  const raw: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(json)) raw[k.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())] = v;
  const command = raw.command ?? 'animate';
  if (command !== 'animate' && command !== 'interpolate') throw new UsageError(`"command" must be animate or interpolate, got ${JSON.stringify(command)}`);
  delete raw.command;
  return { raw, mode: command === 'interpolate' ? 'interpolate' : 'compose' };
}

export function registerBatchCommand(program: Command, ctx: CliContext): void {
  program
    .command('batch <jobs>')
    .description('run a JSONL file of jobs (animate/interpolate fields per line), model loaded once')
    .option('--shard <i/n>', 'run only jobs with (line index mod n) = i − 1 (Slurm arrays, k8s indexed jobs)')
    .option('--resume', 'skip jobs whose output already exists', false)
    .option('--json', 'print one JSON summary', false)
    .option('--model <dir>', 'model directory', DEFAULT_MODEL)
    .addOption(new Option('--provider <device>', 'execution provider').choices([...DEVICES]).default(DEFAULTS.provider))
    .action(async (jobsFile: string, f: BatchFlags) => {
      if (!existsSync(jobsFile)) throw new UsageError(`jobs file not found: ${jobsFile}`);
      const [si, sn] = f.shard ? parseShard(f.shard) : [1, 1];
      const lines = readFileSync(jobsFile, 'utf8').split('\n').map((l, i) => ({ text: l.trim(), line: i + 1 })).filter((l) => l.text && !l.text.startsWith('#'));
      const mine = lines.filter((_, i) => i % sn === si - 1);
      const base = path.dirname(path.resolve(jobsFile));
      const spinner = createSpinner(!f.json);
      const stop = onInterrupt(() => spinner.stop());
      await spinner.start('loading model');
      const loaded = await loadPipeline(f.model, resolveProviderFlag(f.provider));
      const face = new FaceLoader();
      const release = onInterrupt(async () => {
        await face.release();
        await loaded.pipeline.release();
      });
      const outcomes: Outcome[] = [];
      try {
        for (const [k, { text, line }] of mine.entries()) {
          const t0 = Date.now();
          try {
            let json: unknown;
            try {
              json = JSON.parse(text);
            } catch {
              throw new UsageError(`line ${line} is not valid JSON`);
            }
            if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new UsageError(`line ${line} is not a JSON object`);
            const { raw, mode } = normaliseJob(Object.fromEntries(Object.entries(json)));
            // relative paths in a job file are relative to the job file
            for (const key of ['identity', 'identityKeypoints', 'guide', 'output', 'preview'] as const) {
              const value = raw[key];
              if (typeof value === 'string') raw[key] = path.resolve(base, value);
            }
            const attrs: unknown[] = raw.attr === undefined ? [] : Array.isArray(raw.attr) ? raw.attr : [raw.attr];
            raw.attr = attrs.map((a) => (typeof a === 'string' ? path.resolve(base, a) : a));
            const spec = resolveJob(raw, mode);
            if (f.resume && existsSync(spec.output)) {
              outcomes.push({ line, output: spec.output, status: 'skipped' });
              continue;
            }
            spinner.update(`job ${k + 1}/${mine.length} (line ${line})`);
            const r = await runJob(loaded.pipeline, spec, {
              onStep: ({ step, total }) => spinner.update(`job ${k + 1}/${mine.length} (line ${line}): step ${step}/${total}`),
            }, face.get);
            outcomes.push({ line, output: r.output, status: 'ok', seconds: (Date.now() - t0) / 1000 });
          } catch (error) {
            if (!(error instanceof DurianError)) throw error;
            outcomes.push({ line, status: 'failed', error: error.message, exitCode: getExitCode(error), seconds: (Date.now() - t0) / 1000 });
            if (!f.json) ctx.stderr(`durian: job on line ${line} failed: ${error.message}`);
          }
        }
      } finally {
        release();
        stop();
        spinner.stop();
        await face.release();
        await loaded.pipeline.release();
      }
      const failed = outcomes.filter((o) => o.status === 'failed').length;
      const summary = { ok: failed === 0, shard: `${si}/${sn}`, jobs: outcomes.length, succeeded: outcomes.filter((o) => o.status === 'ok').length,
        skipped: outcomes.filter((o) => o.status === 'skipped').length, failed, outcomes };
      if (f.json) ctx.stdout(JSON.stringify(summary));
      else ctx.stdout(`${summary.succeeded} succeeded, ${summary.skipped} skipped, ${failed} failed`);
      ctx.setExitCode(failed === 0 ? EXIT_CODES.ok : EXIT_CODES.runtimeFailure);
    });
}
