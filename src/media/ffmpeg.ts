/**
 * Locating ffmpeg/ffprobe and running them. A current build on PATH (major version
 * MIN_PATH_MAJOR or later) is preferred: ffmpeg parses untrusted video, and the build bundled in
 * the `@ffmpeg-installer/ffmpeg` and `@ffprobe-installer/ffprobe` packages dates from 2018. The
 * bundled one is used otherwise.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { accessSync, chmodSync, constants, existsSync, statSync } from 'node:fs';
import { basename, delimiter, join } from 'node:path';
import type { Writable } from 'node:stream';
import { inspect } from 'node:util';

import { DurianError, InterruptedError } from '../errors';

export interface BinaryInfo {
  path: string;
  version: string;
  /** Where it was found: on PATH (a current build) or the npm package's bundled build. */
  source?: BinarySource;
}

export type BinarySource = 'path' | 'bundled';

/** The oldest major version taken from PATH (ffmpeg 5.0, January 2022). */
export const MIN_PATH_MAJOR = 5;

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

/** The major version of a version word: `6.1.1-3ubuntu5` → 6, `n7.0` → 7; undefined for a git snapshot (`N-47683-g…`). */
export function getMajorVersion(version: string): number | undefined {
  const m = /^n?(\d+)\.\d+/.exec(version);
  return m ? Number(m[1]) : undefined;
}

/** Executable files named `name` on PATH, in PATH order. */
function findOnPath(name: string): string[] {
  const found: string[] = [];
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const file = join(dir, name);
    try {
      if (!statSync(file).isFile()) continue;
      accessSync(file, constants.X_OK);
      found.push(file);
    } catch {
      // not there, or not executable
    }
  }
  return found;
}

export interface BinaryChoice {
  path: string;
  source: BinarySource;
  /** The version of a PATH binary (bundled: not asked, to keep resolving cheap). */
  version?: string;
  /** PATH candidates passed over, and why (shown by `durian doctor`). */
  skipped: string[];
}

const choices = new Map<string, BinaryChoice>();

/**
 * Picks `name` (ffmpeg or ffprobe): the first on PATH whose `-version` reports major version
 * MIN_PATH_MAJOR or later, else the bundled one. Decided once per process and PATH.
 */
export function chooseBinary(name: 'ffmpeg' | 'ffprobe'): BinaryChoice {
  const key = `${name}\0${process.env.PATH ?? ''}`;
  const known = choices.get(key);
  if (known) return known;
  const skipped: string[] = [];
  let choice: BinaryChoice | undefined;
  for (const file of findOnPath(name)) {
    let version: string;
    try {
      version = parseVersionLine(execFileSync(file, ['-version'], { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'ignore'] }));
    } catch {
      skipped.push(`${file}: -version failed`);
      continue;
    }
    const major = getMajorVersion(version);
    if (major !== undefined && major >= MIN_PATH_MAJOR) {
      choice = { path: file, source: 'path', version, skipped };
      break;
    }
    skipped.push(`${file}: version ${version} is older than ${MIN_PATH_MAJOR} or unknown`);
  }
  choice ??= { path: packagedBinary(name === 'ffmpeg' ? '@ffmpeg-installer/ffmpeg' : '@ffprobe-installer/ffprobe'), source: 'bundled', skipped };
  choices.set(key, choice);
  return choice;
}

/** Absolute path of the ffmpeg binary durian uses (see chooseBinary). */
export function resolveFfmpegPath(): string {
  return chooseBinary('ffmpeg').path;
}

/** Absolute path of the ffprobe binary durian uses (see chooseBinary). */
export function resolveFfprobePath(): string {
  return chooseBinary('ffprobe').path;
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
export async function getBinaryInfo(binary: string, source?: BinarySource): Promise<BinaryInfo> {
  return { path: binary, version: parseVersionLine(await runBinary(binary, ['-version'])), ...(source ? { source } : {}) };
}

/** Child processes running now, so a signal handler can stop them before removing their files. */
const running = new Set<ChildProcess>();

/** Kills every ffmpeg/ffprobe this process started and waits (at most `timeoutMs`) until they are gone. */
export async function stopChildren(timeoutMs = 5000): Promise<void> {
  const waits = [...running].map((child) => new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('close', () => resolve());
    child.kill('SIGKILL');
  }));
  await Promise.race([Promise.all(waits), new Promise((resolve) => setTimeout(resolve, timeoutMs).unref())]);
}

export interface StreamBinaryOptions {
  /** Chunks written to the child's stdin (pulled one at a time, with backpressure), then closed. */
  stdin?: Iterable<Uint8Array> | AsyncIterable<Uint8Array>;
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

/** ffmpeg's words for an output it could not write completely (it may still exit 0). */
const WRITE_FAILURE = /^.*(?:Error writing trailer|No space left on device|Disk quota exceeded|File too large|Error closing file|av_interleaved_write_frame\(\): ).*$/m;

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
    running.add(child);
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
    child.on('close', (code, killedBy) => {
      running.delete(child);
      if (failure !== undefined) reject(failure instanceof Error ? failure : new Error(inspect(failure)));
      else if (code !== 0) {
        const last = stderr.trim().split('\n').pop() || (killedBy ? `killed by ${killedBy}` : `exit code ${code}`);
        reject(new BinaryFailedError(`${basename(binary)} failed: ${last}`, stderr));
      } else {
        // NOTE: ffmpeg exits 0 after some write errors (the 2018 build does on a full disk:
        // "Error writing trailer of …: No space left on device"); such an output is broken.
        const written = WRITE_FAILURE.exec(stderr);
        if (written) reject(new BinaryFailedError(`${basename(binary)} failed: ${written[0].trim()}`, stderr));
        else resolve();
      }
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
async function pump(chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>, sink: Writable): Promise<void> {
  // NOTE: a child that exits early makes writes fail with EPIPE; its exit code reports the failure.
  sink.on('error', () => undefined);
  for await (const chunk of chunks) {
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
