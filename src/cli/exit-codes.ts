import {
  InferenceError,
  InputError,
  InterruptedError,
  ModelFileError,
  ProviderError,
  UsageError,
} from '../errors';

/** Exit codes of the `durian` command (docs/cli.md, "Exit codes"). */
export const EXIT_CODES = Object.freeze({
  ok: 0,
  runtimeFailure: 1,
  usage: 2,
  inputRejected: 3,
  interrupted: 130,
} as const);

export type ExitCode = (typeof EXIT_CODES)[keyof typeof EXIT_CODES];

/** The exit code for an error thrown anywhere below the CLI. */
export function getExitCode(error: unknown): ExitCode {
  if (error instanceof InterruptedError) return EXIT_CODES.interrupted;
  if (error instanceof UsageError || error instanceof ModelFileError || error instanceof ProviderError) {
    return EXIT_CODES.usage;
  }
  if (error instanceof InputError) return EXIT_CODES.inputRejected;
  if (error instanceof InferenceError) return EXIT_CODES.runtimeFailure;
  return EXIT_CODES.runtimeFailure;
}
