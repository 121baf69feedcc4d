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
  /** 128 + the signal number, as shells report a process killed by it. */
  interrupted: 130,
  terminated: 143,
} as const);

export type ExitCode = (typeof EXIT_CODES)[keyof typeof EXIT_CODES];

/** The exit code for an error thrown anywhere below the CLI. */
export function getExitCode(error: unknown): ExitCode {
  if (error instanceof InterruptedError) return error.signal === 'SIGTERM' ? EXIT_CODES.terminated : EXIT_CODES.interrupted;
  if (error instanceof UsageError || error instanceof ModelFileError || error instanceof ProviderError) {
    return EXIT_CODES.usage;
  }
  if (error instanceof InputError) return EXIT_CODES.inputRejected;
  if (error instanceof InferenceError) return EXIT_CODES.runtimeFailure;
  return EXIT_CODES.runtimeFailure;
}
