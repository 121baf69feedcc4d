import { Command } from 'commander';

import { registerDoctorCommand } from './commands/doctor';
import { registerModelsCommand } from './commands/models';
import { registerBatchCommand } from './commands/batch';
import { registerGenerationCommands } from './commands/generate';
import { registerGuideCommand } from './commands/guide';
import type { CliContext } from './context';
import { getDurianVersion } from './version';

/** The commander program with every command registered; nothing is parsed or printed here. */
export function createProgram(ctx: CliContext): Command {
  const program = new Command('durian')
    .description('Portrait animation with cross-identity attribute transfer, over ONNX Runtime.')
    .version(getDurianVersion(), '-V, --version', 'print the version')
    .option('-v, --verbose', 'print stacks and debug details', false)
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      writeOut: (text) => process.stdout.write(text),
      writeErr: (text) => process.stderr.write(text),
      // Errors are printed once, in one line, by handleError.
      outputError: () => {},
    });

  registerGenerationCommands(program, ctx);
  registerGuideCommand(program, ctx);
  registerBatchCommand(program, ctx);
  registerModelsCommand(program, ctx);
  registerDoctorCommand(program, ctx);
  // commander's own `help [command]` stays; every subcommand inherits exitOverride.
  return program;
}
