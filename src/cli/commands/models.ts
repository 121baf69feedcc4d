import path from 'node:path';

import type { Command } from 'commander';

import { UsageError } from '../../errors';
import { DEFAULT_MODELS_DIR, findModelDirs, inspectModelDir, inspectModels, type ModelStatus } from '../../pipeline/model-store';
import type { CliContext } from '../context';
import { EXIT_CODES } from '../exit-codes';

function describe(m: ModelStatus): string {
  const head = `${m.name.padEnd(16)} ${m.kind.padEnd(9)} format ${m.formatVersion ?? '?'}  ${m.status}`;
  return m.error ? `${head}: ${m.error}` : `${head}  ${m.dir}`;
}

/** Model directories named on the command line (a name under the models dir, or a path). */
function resolveTargets(names: string[], modelsDir: string): string[] {
  if (names.length === 0) return findModelDirs(modelsDir);
  return names.map((n) => (n.includes(path.sep) || n.startsWith('.') ? path.resolve(n) : path.join(modelsDir, n)));
}

export function registerModelsCommand(program: Command, ctx: CliContext): void {
  const models = program.command('models').description('list installed models and verify their files');

  models
    .command('list')
    .description('list the models under the models directory')
    .option('--json', 'print one JSON object on stdout', false)
    .option('--models-dir <dir>', 'where to look for models', DEFAULT_MODELS_DIR)
    .action(async (opts: { json: boolean; modelsDir: string }) => {
      const found = await inspectModels(opts.modelsDir, false);
      if (opts.json) ctx.stdout(JSON.stringify({ modelsDir: opts.modelsDir, models: found }, null, 2));
      else if (found.length === 0) ctx.stdout(`no models under ${opts.modelsDir}`);
      else found.forEach((m) => ctx.stdout(`${m.name.padEnd(16)} ${m.kind.padEnd(9)} format ${m.formatVersion ?? '?'}  ${m.dir}`));
    });

  models
    .command('verify [models...]')
    .description('check every graph file of the named models (default: all) against the manifest sha256')
    .option('--json', 'print one JSON object on stdout', false)
    .option('--models-dir <dir>', 'where to look for models', DEFAULT_MODELS_DIR)
    .action(async (names: string[], opts: { json: boolean; modelsDir: string }) => {
      const dirs = resolveTargets(names, opts.modelsDir);
      if (dirs.length === 0) throw new UsageError(`no models to verify under ${opts.modelsDir}`);
      const results = await Promise.all(dirs.map((d) => inspectModelDir(d)));
      const ok = results.every((m) => m.status === 'ok');
      if (opts.json) {
        ctx.stdout(JSON.stringify({ ok, models: results }, null, 2));
      } else {
        for (const m of results) {
          ctx.stdout(describe(m));
          for (const g of m.graphs.filter((g) => g.status !== 'ok')) ctx.stdout(`  ${g.file}: ${g.status}`);
        }
      }
      ctx.setExitCode(ok ? EXIT_CODES.ok : EXIT_CODES.usage);
    });
}
