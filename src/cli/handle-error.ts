import { inspect } from 'node:util';

import { DurianError } from '../errors';
import { getExitCode, type ExitCode } from './exit-codes';

/** Where error text goes; the CLI passes `process.stderr.write`, tests pass a collector. */
export type WriteLine = (line: string) => void;

/**
 * Turns any error into the user-facing text and returns the exit code. Never exits by itself.
 * Without `verbose` that text is exactly one line (scripts and log collectors count on it): the
 * message's first line, then the suggestion when there is one, or a pointer to `--verbose` for an
 * unexpected error. `verbose` adds the stack and causes on further lines.
 */
export function handleError(error: unknown, writeLine: WriteLine, verbose = false): ExitCode {
  writeLine(formatErrorLine(error));
  if (verbose) {
    let current: unknown = error;
    while (current instanceof Error) {
      writeLine(current.stack ?? `${current.name}: ${current.message}`);
      current = current.cause;
      if (current !== undefined) writeLine('Caused by:');
    }
    if (current !== undefined && !(current instanceof Error)) writeLine(inspect(current));
  }
  return getExitCode(error);
}

/** `durian: error: MESSAGE (suggestion: …)` in one line. */
export function formatErrorLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const first = message.split('\n', 1)[0] ?? '';
  const hint = error instanceof DurianError
    ? (error.suggestion ? ` (suggestion: ${error.suggestion.split('\n', 1)[0]})` : '')
    : ' (run again with --verbose for the stack trace)';
  return `durian: error: ${first}${hint}`;
}
