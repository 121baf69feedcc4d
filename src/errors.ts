/**
 * Typed errors. Domain code throws these; only `src/cli` turns them into text and exit codes
 * (docs/cli.md, "Exit codes"). This module imports nothing.
 */

/** Options shared by every durian error. */
export interface DurianErrorOptions {
  /** The underlying error, shown with `--verbose`. */
  cause?: unknown;
  /** One line telling the user what to do next. */
  suggestion?: string;
}

/** Base class of every error durian raises on purpose. */
export class DurianError extends Error {
  readonly suggestion: string | undefined;

  constructor(message: string, options: DurianErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.suggestion = options.suggestion;
  }
}

/** Bad flags or arguments. */
export class UsageError extends DurianError {}

/** A model directory that is missing, incomplete, of an unknown format, or fails its sha256. */
export class ModelFileError extends DurianError {}

/** An execution provider that is unknown, unavailable on this platform, or fails to start. */
export class ProviderError extends DurianError {}

/** Input the tool refuses: unreadable files, non-images, videos without frames or faces. */
export class InputError extends DurianError {}

/** ONNX Runtime failed while running a graph. */
export class InferenceError extends DurianError {}

/** The run was stopped by a signal: SIGINT (Ctrl-C, the default) or SIGTERM (Slurm, Kubernetes). */
export class InterruptedError extends DurianError {
  readonly signal: 'SIGINT' | 'SIGTERM';

  constructor(message: string, options: DurianErrorOptions & { signal?: 'SIGINT' | 'SIGTERM' } = {}) {
    super(message, options);
    this.signal = options.signal ?? 'SIGINT';
  }
}

/** Throws InterruptedError when `signal` has been aborted; long work calls it between steps. */
export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new InterruptedError(`${what} stopped: aborted`, { cause: signal.reason });
}
