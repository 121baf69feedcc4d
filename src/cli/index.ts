/**
 * Entry point of the `durian` command: parse, run, turn errors into one line and an exit code.
 */
import { CommanderError } from 'commander';

import { UsageError } from '../errors';
import type { CliContext } from './context';
import { EXIT_CODES } from './exit-codes';
import { handleError } from './handle-error';
import { getStoppingSignal, installInterruptHandler } from './interrupt';
import { createProgram } from './program';

/** commander codes that mean "printed what was asked" rather than "bad usage". */
const COMMANDER_SUCCESS_CODES = new Set(['commander.helpDisplayed', 'commander.version', 'commander.executeSubCommandAsync']);

/** Runs the CLI on `argv` (as `process.argv`) and sets `process.exitCode`. */
export async function main(argv: readonly string[]): Promise<void> {
  // once a signal is being handled, its one line is the last thing said: an error the abandoned
  // work raises meanwhile is not news
  const stderrLine = (line: string) => void (getStoppingSignal() === undefined && process.stderr.write(`${line}\n`));
  const ctx: CliContext = {
    stdout: (line) => process.stdout.write(`${line}\n`),
    stderr: stderrLine,
    setExitCode: (code) => void (getStoppingSignal() === undefined && (process.exitCode = code)),
  };
  installInterruptHandler((line) => process.stderr.write(`${line}\n`));
  const verbose = argv.includes('--verbose') || argv.includes('-v');
  const program = createProgram(ctx);
  try {
    await program.parseAsync([...argv]);
  } catch (error) {
    if (error instanceof CommanderError) {
      if (COMMANDER_SUCCESS_CODES.has(error.code)) {
        process.exitCode = EXIT_CODES.ok;
        return;
      }
      if (error.code === 'commander.help') {
        // `durian` alone: help was printed to stderr; that is a usage error.
        process.exitCode = EXIT_CODES.usage;
        return;
      }
      process.exitCode = handleError(new UsageError(error.message.replace(/^error: /, '')), stderrLine, verbose);
      return;
    }
    const code = handleError(error, stderrLine, verbose);
    if (getStoppingSignal() === undefined) process.exitCode = code;
  }
}
