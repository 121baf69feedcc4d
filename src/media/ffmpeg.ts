/**
 * Locating ffmpeg/ffprobe and running them. The binaries ship inside the
 * `@ffmpeg-installer/ffmpeg` and `@ffprobe-installer/ffprobe` packages.
 */
import { execFile, spawn } from 'node:child_process';
import { accessSync, chmodSync, constants, existsSync } from 'node:fs';
import { basename } from 'node:path';
import type { Writable } from 'node:stream';
import { inspect } from 'node:util';

import { DurianError, InterruptedError } from '../errors';

export interface BinaryInfo {
  path: string;
  version: string;
}

function packagedBinary(pkg: '@ffmpeg-installer/ffmpeg' | '@ffprobe-installer/ffprobe'): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use: both packages throw at import when their platform binary is missing
  const info = require(pkg) as { path: string };
  if (!existsSync(info.path)) {
    throw new DurianError(`${pkg} has no binary for ${process.platform}-${process.arch} (${info.path})`, {
      suggestion: 'Reinstall with `npm ci`; the binary comes from an optional dependency of that package.',
    });
  }
  ensureExecutable(info.path);
  return info.path;
}

/**
 * NOTE: the installer packages set the execute bit in an install script, which npm 11 does not
 * run by default; the binary then lands as 0644. Set it ourselves when we may.
 */
function ensureExecutable(file: string): void {
  try {
    accessSync(file, constants.X_OK);
  } catch {
    try {
      chmodSync(file, 0o755);
    } catch (cause) {
      throw new DurianError(`${file} is not executable and could not be made so`, {
        cause,
        suggestion: `Run \`chmod +x ${file}\`.`,
      });
    }
  }
}

/** Absolute path of the ffmpeg binary durian uses. */
export function resolveFfmpegPath(): string {
  return packagedBinary('@ffmpeg-installer/ffmpeg');
}

/** Absolute path of the ffprobe binary durian uses. */
export function resolveFfprobePath(): string {
  return packagedBinary('@ffprobe-installer/ffprobe');
}

/** Runs a binary with arguments and returns its stdout; rejects with its stderr's last line. */
export function runBinary(binary: string, args: readonly string[], timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(binary, [...args], { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) {
        const last = stderr.trim().split('\n').pop() ?? error.message;
        reject(new DurianError(`${binary} failed: ${last}`, { cause: error }));
        return;
      }
      resolve(stdout);
    });
  });
}

/** `ffmpeg -version`'s version word, e.g. `N-47683-g0e8eb07980-static` → that string. */
export function parseVersionLine(output: string): string {
  const match = /^\S+ version (\S+)/m.exec(output);
  if (!match?.[1]) throw new DurianError(`unrecognised version output: ${output.split('\n', 1)[0]}`);
  return match[1];
}

/** Path and version of a binary (ffmpeg or ffprobe). */
export async function getBinaryInfo(binary: string): Promise<BinaryInfo> {
  return { path: binary, version: parseVersionLine(await runBinary(binary, ['-version'])) };
}

export interface StreamBinaryOptions {
  /** Chunks written to the child's stdin (pulled one at a time, with backpressure), then closed. */
  stdin?: Iterable<Uint8Array>;
  /** Receives stdout as it arrives; a throw stops the child and rejects with that error. */
  onStdout?: (chunk: Buffer) => void;
  /** Aborting kills the child and rejects with InterruptedError. */
  signal?: AbortSignal;
}

/** Error from a binary that exited non-zero; `stderr` holds the end of what it printed. */
export class BinaryFailedError extends DurianError {
  constructor(
    message: string,
    readonly stderr: string,
  ) {
    super(message);
  }
}

const STDERR_TAIL_CHARS = 8192;

/**
 * Runs a binary with streamed stdin/stdout (for rawvideo pipes). Resolves on exit code 0; rejects
 * with BinaryFailedError (its stderr's last line in the message), InterruptedError, or the error
 * `onStdout` threw.
 */
export function streamBinary(binary: string, args: readonly string[], options: StreamBinaryOptions = {}): Promise<void> {
  const { stdin, onStdout, signal } = options;
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new InterruptedError(`${basename(binary)} was not started: interrupted`));
      return;
    }
    const child = spawn(binary, [...args], {
      stdio: [stdin ? 'pipe' : 'ignore', onStdout ? 'pipe' : 'ignore', 'pipe'],
      signal,
    });
    let stderr = '';
    let failure: unknown;
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-STDERR_TAIL_CHARS);
    });
    child.on('error', (error) => {
      failure ??= signal?.aborted ? new InterruptedError(`${basename(binary)} stopped: interrupted`, { cause: error }) : error;
    });
    child.stdout?.on('data', (chunk: Buffer) => {
      if (failure !== undefined) return;
      try {
        onStdout?.(chunk);
      } catch (error) {
        failure = error;
        child.kill();
      }
    });
    child.on('close', (code) => {
      if (failure !== undefined) reject(failure instanceof Error ? failure : new Error(inspect(failure)));
      else if (code !== 0) {
        const last = stderr.trim().split('\n').pop() || `exit code ${code}`;
        reject(new BinaryFailedError(`${basename(binary)} failed: ${last}`, stderr));
      } else resolve();
    });
    if (stdin && child.stdin) {
      pump(stdin, child.stdin).catch((error: unknown) => {
        failure ??= error;
        child.kill();
      });
    }
  });
}

/** Writes chunks to a child's stdin, waiting for 'drain'; stops quietly when the child goes away. */
async function pump(chunks: Iterable<Uint8Array>, sink: Writable): Promise<void> {
  // NOTE: a child that exits early makes writes fail with EPIPE; its exit code reports the failure.
  sink.on('error', () => undefined);
  for (const chunk of chunks) {
    if (sink.destroyed || sink.writableEnded) return;
    if (!sink.write(chunk)) await waitForDrain(sink);
  }
  if (!sink.destroyed) sink.end();
}

function waitForDrain(sink: Writable): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      sink.off('drain', done).off('close', done).off('error', done);
      resolve();
    };
    sink.on('drain', done).on('close', done).on('error', done);
  });
}
