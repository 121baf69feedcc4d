import { inspect } from 'node:util';

import { DurianError } from '../errors';
import { getExitCode, type ExitCode } from './exit-codes';

/** Where error text goes; the CLI passes `process.stderr.write`, tests pass a collector. */
export type WriteLine = (line: string) => void;

/**
 * Turns any error into the user-facing text (one line, a `Suggestion:` line when there is one,
 * the stack and causes with `verbose`) and returns the exit code. Never exits by itself.
 */
export function handleError(error: unknown, writeLine: WriteLine, verbose = false): ExitCode {
  const message = error instanceof Error ? error.message : String(error);
  const firstLine = message.split('\n', 1)[0] ?? '';
  writeLine(`durian: error: ${firstLine}`);
  if (error instanceof DurianError && error.suggestion) writeLine(`Suggestion: ${error.suggestion}`);
  if (verbose) {
    let current: unknown = error;
    while (current instanceof Error) {
      writeLine(current.stack ?? `${current.name}: ${current.message}`);
      current = current.cause;
      if (current !== undefined) writeLine('Caused by:');
    }
    if (current !== undefined && !(current instanceof Error)) writeLine(inspect(current));
  } else if (!(error instanceof DurianError)) {
    writeLine('Run again with --verbose for the stack trace.');
  }
  return getExitCode(error);
}
