import type { Command } from 'commander';

import { chooseBinary, getBinaryInfo, MIN_PATH_MAJOR, type BinaryInfo } from '../../media/ffmpeg';
import { getSharpVersions } from '../../media/image';
import { DEFAULT_MODELS_DIR, inspectModels, type ModelStatus } from '../../pipeline/model-store';
import { getRuntimeInfo, type RuntimeInfo } from '../../pipeline/runtime-info';
import { EXIT_CODES } from '../exit-codes';
import type { CliContext } from '../context';
import { createSpinner } from '../spinner';
import { getDurianVersion } from '../version';

/** Everything `durian doctor` reports; `--json` prints exactly this object. */
export interface DoctorReport {
  ok: boolean;
  durian: string;
  node: string;
  platform: string;
  onnxruntimeNode: string;
  providers: RuntimeInfo['providers'];
  ffmpeg: BinaryInfo | { error: string };
  ffprobe: BinaryInfo | { error: string };
  sharp: string;
  libvips: string;
  modelsDir: string;
  models: ModelStatus[];
  problems: string[];
}

async function settleBinary(name: 'ffmpeg' | 'ffprobe'): Promise<BinaryInfo | { error: string }> {
  try {
    const choice = chooseBinary(name);
    return await getBinaryInfo(choice.path, choice.source);
  } catch (error) {
    return { error: error instanceof Error ? error.message : String(error) };
  }
}

/** Gathers the report. Problems that make durian unusable are listed in `problems`. */
export async function collectDoctorReport(modelsDir: string, onStage: (s: string) => void = () => {}): Promise<DoctorReport> {
  onStage('probing execution providers');
  const runtime = await getRuntimeInfo();
  onStage('checking ffmpeg');
  const [ffmpeg, ffprobe] = await Promise.all([settleBinary('ffmpeg'), settleBinary('ffprobe')]);
  onStage('hashing model files');
  const models = await inspectModels(modelsDir);
  const { sharp, libvips } = getSharpVersions();

  const problems: string[] = [];
  if (!runtime.providers.some((p) => p.provider === 'cpu' && p.usable)) problems.push('the CPU provider cannot run a graph');
  if ('error' in ffmpeg) problems.push(`ffmpeg: ${ffmpeg.error}`);
  if ('error' in ffprobe) problems.push(`ffprobe: ${ffprobe.error}`);
  for (const m of models.filter((m) => m.status !== 'ok')) problems.push(`model ${m.name}: ${m.status}`);

  return {
    ok: problems.length === 0,
    durian: getDurianVersion(),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    onnxruntimeNode: runtime.onnxruntimeNode,
    providers: runtime.providers,
    ffmpeg,
    ffprobe,
    sharp,
    libvips,
    modelsDir,
    models,
    problems,
  };
}

/** Human-readable lines of a report. */
export function formatDoctorReport(r: DoctorReport): string[] {
  const binary = (b: BinaryInfo | { error: string }) => ('error' in b ? `MISSING (${b.error})`
    : `${b.version}  ${b.path}  (${b.source === 'path' ? 'from PATH' : `bundled; put ffmpeg ${MIN_PATH_MAJOR} or later on PATH to use it instead`})`);
  const lines = [
    `durian             ${r.durian}`,
    `node               ${r.node} (${r.platform})`,
    `onnxruntime-node   ${r.onnxruntimeNode}`,
    'execution providers',
    ...r.providers.map((p) => {
      const state = p.usable ? `usable (probe ${p.ms} ms)` : `not usable: ${p.error ?? 'unknown'}`;
      return `  ${p.provider.padEnd(10)} ${p.bundled ? 'bundled' : 'external'}  ${state}`;
    }),
    `ffmpeg             ${binary(r.ffmpeg)}`,
    `ffprobe            ${binary(r.ffprobe)}`,
    `sharp              ${r.sharp} (libvips ${r.libvips})`,
    `models             ${r.modelsDir}`,
    ...(r.models.length === 0
      ? ['  (none found)']
      : r.models.map((m) => `  ${m.name.padEnd(16)} ${m.kind.padEnd(9)} format ${m.formatVersion ?? '?'}  ${m.status}${m.error ? `: ${m.error}` : ''}`)),
  ];
  lines.push(r.ok ? 'ok' : `problems: ${r.problems.join('; ')}`);
  return lines;
}

export function registerDoctorCommand(program: Command, ctx: CliContext): void {
  program
    .command('doctor')
    .description('check node, onnxruntime-node providers, ffmpeg, sharp and the installed models')
    .option('--json', 'print one JSON object on stdout', false)
    .option('--models-dir <dir>', 'where to look for models', DEFAULT_MODELS_DIR)
    .action(async (opts: { json: boolean; modelsDir: string }) => {
      const spinner = createSpinner(!opts.json);
      await spinner.start('doctor');
      const report = await collectDoctorReport(opts.modelsDir, (s) => spinner.update(s));
      spinner.stop();
      if (opts.json) ctx.stdout(JSON.stringify(report, null, 2));
      else formatDoctorReport(report).forEach((l) => ctx.stdout(l));
      ctx.setExitCode(report.ok ? EXIT_CODES.ok : EXIT_CODES.runtimeFailure);
    });
}
