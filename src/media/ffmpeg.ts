/**
 * Locating ffmpeg/ffprobe and running them. The binaries ship inside the
 * `@ffmpeg-installer/ffmpeg` and `@ffprobe-installer/ffprobe` packages.
 */
import { execFile } from 'node:child_process';
import { accessSync, chmodSync, constants, existsSync } from 'node:fs';

import { DurianError } from '../errors';

export interface BinaryInfo {
  path: string;
  version: string;
}

function packagedBinary(pkg: '@ffmpeg-installer/ffmpeg' | '@ffprobe-installer/ffprobe'): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
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
