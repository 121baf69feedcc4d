/**
 * `durian animate` and `durian interpolate`: flags → job → pipeline → video.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

import { Command, Option } from 'commander';

import { getPartialPath, removePartial } from '../../media/output-file';
import { DEVICES } from '../../onnx/providers';
import { DEFAULT_MODEL_DIR } from '../../pipeline/model-store';
import { loadPipeline } from '../../pipeline/load';
import { PRECISIONS } from '../../pipeline/precision';
import { SCHEDULER_NAMES } from '../../pipeline/schedulers';
import type { CliContext } from '../context';
import { getInterruptSignal, onInterrupt } from '../interrupt';
import { ANALYSERS, type JobSpec } from '../../job/spec';
import { DEFAULTS, resolveJob, resolvePrecisionFlag, resolveProviderFlag, type RawJob } from '../options';
import { FaceLoader } from '../../job/face-loader';
import { preflightJob } from '../../job/preflight';
import { runJob } from '../../job/run-job';
import { createSpinner } from '../spinner';

const collect = (v: string, prev: string[] = []) => [...prev, v];

/** Flags shared by animate, interpolate (and the fields of a batch job). */
export function addGenerationOptions(cmd: Command): Command {
  return cmd
    .requiredOption('--identity <image>', 'portrait of the person to animate')
    .option('--identity-keypoints <json>', 'keypoints of the identity image (default: NAME.keypoints.json beside it, else the parser)')
    .option('--attr <image[:class]>', `attribute reference; class is one of the model's (hair, hat, glasses, beard) or auto; repeat to compose`, collect)
    .option('--attr-mask <png>', 'mask of the i-th --attr (default: NAME.mask-<class>.png beside it, else the parser)', collect)
    .requiredOption('--guide <src>', 'driving video (mp4, webm, gif, PNG directory) or keypoint sequence (.json)')
    .requiredOption('-o, --output <file>', 'output: .mp4, .webm, .gif, or a directory (PNG frames)')
    .option('--frames <n>', 'frames to generate (default: all of the guide)')
    .option('--fps <n>', "output frame rate (default: the guide's)")
    .option('--steps <n>', 'denoising steps', String(DEFAULTS.steps))
    .option('--guidance-scale <s>', `classifier-free guidance scale (default: the model's, from its manifest${bundledDefault('guidance_scale')})`)
    .option('--seed <n>', 'noise seed (same seed → same frames on CPU)', String(DEFAULTS.seed))
    .addOption(new Option('--scheduler <name>', 'sampler').choices([...SCHEDULER_NAMES]).default(DEFAULTS.scheduler))
    .option('--eta <x>', `DDIM eta in [0, 1]: 0 deterministic, above 0 fresh seeded noise every step (ddim only; default: the model's, from its manifest${bundledDefault('eta')})`)
    .option('--noise-correlation <r>', `correlation of the sampling noise between neighbouring frames in [0, 1), 0 independent (default: the model's, from its manifest${bundledDefault('noise_correlation')})`)
    .option('--window <n>', 'frames per temporal window', String(DEFAULTS.window))
    .option('--overlap <n>', 'frames shared by neighbouring windows', String(DEFAULTS.overlap))
    .addOption(new Option('--provider <device>', 'execution provider').choices([...DEVICES]).default(DEFAULTS.provider))
    .addOption(precisionOption())
    .addOption(new Option('--analyser <how>', 'keypoints/masks of images and guide: sidecar files, the model parser, the real-face front end, or auto (sidecars, else a domain check)').choices([...ANALYSERS]).default(DEFAULTS.analyser))
    .option('--model <dir>', 'model directory', DEFAULT_MODEL_DIR)
    .option('--preview <png>', 'also write a sheet of inputs, masks, guidance and sample frames')
    .option('--json', 'print one JSON object with the result instead of progress', false)
    .option('--profile', 'print per-stage times (load, analyse, references, UNet per step, decode, encode) to stderr', false)
    .option('--force', 'overwrite an existing output', false)
    .option('--strict', 'refuse (exit 3) instead of warning when an input is outside the model\'s training domain (e.g. a real photo)', false)
    .option('--low-memory', LOW_MEMORY_HELP, false);
}

/**
 * "; 5 for durian-synth": the bundled model's default for a sampling setting, read from its manifest
 * for the help text (a number written into the text went stale when the model's default changed).
 * Nothing when the bundled model is not there or has no such default.
 */
function bundledDefault(key: 'guidance_scale' | 'eta' | 'noise_correlation'): string {
  const value = bundledDefaults()[key];
  return typeof value === 'number' ? `; ${value} for ${path.basename(DEFAULT_MODEL_DIR)}` : '';
}

let bundled: Record<string, unknown> | undefined;

/** The bundled manifest's `defaults`, read once a process (animate and interpolate both ask, three times each). */
function bundledDefaults(): Record<string, unknown> {
  // the raw file, not readManifest: its schema validation would cost every command's start about
  // 60 ms (measured), for a help text; a setting the file leaves to the schema's default shows none
  if (!bundled) {
    try {
      const raw: unknown = JSON.parse(readFileSync(path.join(DEFAULT_MODEL_DIR, 'manifest.json'), 'utf8'));
      bundled = (raw as { defaults?: Record<string, unknown> }).defaults ?? {};
    } catch {
      bundled = {};
    }
  }
  return bundled;
}

/** --low-memory, for animate, interpolate and batch. */
export const LOW_MEMORY_HELP = 'CPU: return ONNX Runtime\'s buffers after every call (less peak memory, slower; the same frames)';

/** --precision, for animate, interpolate, guide and batch. */
export function precisionOption(): Option {
  return new Option('--precision <p>', 'what the UNet and VAE decoder compute in: auto (float16 on a GPU provider, float32 on the CPU), float32, or float16 (made at load time)')
    .choices([...PRECISIONS]).default(DEFAULTS.precision);
}

interface GenerationFlags extends RawJob {
  provider: string;
  precision: string;
  model: string;
  json: boolean;
  profile: boolean;
  lowMemory: boolean;
}

/** Lines of the `--profile` table from a job's timings (ms). */
export function formatProfile(loadMs: number, timings: Record<string, number>, steps: number, providers: readonly string[]): string[] {
  const row = (name: string, ms: number | undefined) => `  ${name.padEnd(22)} ${((ms ?? 0) / 1000).toFixed(3).padStart(9)} s`;
  return [
    `profile (providers: ${providers.join(', ')})`,
    row('load model', loadMs),
    row('analyse inputs', timings.analyse),
    row('guidance', timings.guide),
    row('references', timings.references),
    row('pose guider', timings.pose),
    row('UNet session', timings['unet session']),
    row('UNet, all steps', timings.unet),
    row('UNet, per step', (timings.unet ?? 0) / Math.max(1, steps)),
    row('decode', timings.decode),
    row('encode', timings.encode),
    row('total (without load)', timings.total),
  ];
}

/** Removes what an interrupted job may have left: its temporary output and its claim. */
export function cleanUpAfter(output: string, releaseClaim: () => void): () => Promise<void> {
  const target = path.resolve(output.replace(/\/+$/, ''));
  return async () => {
    await removePartial(getPartialPath(target, 'file'));
    await removePartial(getPartialPath(target, 'directory'));
    releaseClaim();
  };
}

export async function runGeneration(flags: GenerationFlags, mode: JobSpec['mode'], ctx: CliContext): Promise<void> {
  // 1. Flags, inputs and output, before anything heavy is loaded
  const spec = resolveJob(flags, mode);
  const device = resolveProviderFlag(flags.provider);
  const precision = resolvePrecisionFlag(flags.precision);
  const spinner = createSpinner(!flags.json);
  const stopSpinner = onInterrupt(() => spinner.stop());
  const face = new FaceLoader();
  let releaseClaim: () => void = () => {};
  let clean: () => void = () => {};
  let loaded: Awaited<ReturnType<typeof loadPipeline>> | undefined;
  try {
    await spinner.start('checking inputs');
    releaseClaim = await preflightJob(spec, face.get);
    // an interrupted run leaves its temporary output and its claim behind unless removed here
    clean = onInterrupt(cleanUpAfter(spec.output, releaseClaim));
    // 2. The model, then the job
    spinner.update('loading model');
    const started = Date.now();
    loaded = await loadPipeline(flags.model, device, { memory: flags.lowMemory ? 'low' : 'balanced', precision });
    const loadMs = Date.now() - started;
    const result = await runJob(loaded.pipeline, spec, {
      // one job: the face front end (preflight, analysis, tracking) is not needed while generating
      beforeGenerate: () => face.release(),
      // a signal stops the job before its next stage or encoder start (the encoder opens before denoising)
      signal: getInterruptSignal(),
      onWarning: (w) => ctx.stderr(`durian: warning: ${w}`),
      onStage: (s) => spinner.update(s),
      onStep: ({ step, total }) => {
        const elapsed = (Date.now() - started) / 1000;
        const eta = step > 0 ? Math.round((elapsed / step) * (total - step)) : 0;
        spinner.update(`denoising: step ${step}/${total}, ETA ${eta}s`);
      },
    }, face.get);
    spinner.succeed(`wrote ${result.output} (${result.frames} frames, ${result.fps} fps)`);
    if (flags.profile) formatProfile(loadMs, result.timings, result.steps, loaded.providers).forEach((l) => ctx.stderr(l));
    if (flags.json) {
      ctx.stdout(JSON.stringify({ ok: true, ...result, provider: loaded.providers[0], providers: loaded.providers, fallbacks: loaded.fallbacks,
        memory: loaded.pipeline.memoryMode, unet_binding: loaded.pipeline.unetBinding(), unet_precision: loaded.pipeline.unetPrecision,
        vae_decoder_precision: loaded.pipeline.precisions.vae_decoder }));
    }
    else if (!process.stderr.isTTY) ctx.stdout(result.output);
  } catch (error) {
    spinner.fail();
    throw error;
  } finally {
    clean();
    releaseClaim();
    stopSpinner();
    await face.release();
    await loaded?.pipeline.release();
  }
}

export function registerGenerationCommands(program: Command, ctx: CliContext): void {
  addGenerationOptions(program.command('animate').description('animate the identity wearing the attribute(s) along the guide, in one pass'))
    .action((flags: GenerationFlags) => runGeneration(flags, 'compose', ctx));
  addGenerationOptions(program.command('interpolate').description('blend two attributes by α (fixed, or FROM:TO sweeping over the video) in one pass'))
    .option('--alpha <a>', 'weight of the second attribute: a number in [0, 1] or FROM:TO', '0.5')
    .action((flags: GenerationFlags) => runGeneration(flags, 'interpolate', ctx));
}
