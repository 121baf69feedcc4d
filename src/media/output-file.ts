/**
 * Whole-or-nothing outputs: write under a hidden temporary name beside the target, then rename.
 * A failed or interrupted write leaves nothing behind, and an existing target is replaced only on
 * request. A target is claimed before the work starts (a `.NAME.lock` beside it, created
 * exclusively), so of two runs writing the same output exactly one goes ahead.
 */
import { readFileSync, writeFileSync, rmSync } from 'node:fs';
import { link, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';

import { UsageError } from '../errors';

/** A file (a video) or a directory (numbered PNG frames). */
export type OutputKind = 'file' | 'directory';

/** Names a directory of durian's own frames may hold, so `--force` never deletes other files. */
const FRAME_FILE = /^\d+\.png$/i;

/** `.<name>.partial-<pid><ext>` in the target's directory; the extension keeps tools' format guesses working. */
export function getPartialPath(target: string, kind: OutputKind): string {
  const name = basename(target);
  const ext = kind === 'file' ? extname(name) : '';
  return join(dirname(target), `.${name}.partial-${process.pid}${ext}`);
}

/**
 * Checks that `target` may be written: its directory exists, and it does not exist unless `force`.
 * Even with `force`, a directory is never replaced by a file, nor a directory holding anything
 * but frame PNGs replaced at all.
 */
export async function prepareOutput(target: string, kind: OutputKind, force: boolean): Promise<void> {
  const parent = dirname(target);
  const parentStat = await statOrUndefined(parent);
  if (!parentStat?.isDirectory()) {
    throw new UsageError(`cannot write output ${target}: directory ${parent} does not exist`, {
      suggestion: `Create it first (mkdir -p ${parent}).`,
    });
  }
  const existing = await statOrUndefined(target);
  if (existing === undefined) return;
  if (!force) {
    throw new UsageError(`${target} already exists`, { suggestion: 'Pass --force to overwrite it.' });
  }
  if (!existing.isFile() && !existing.isDirectory()) {
    throw new UsageError(`${target} is not a regular file (a device, pipe or socket); refusing to replace it, even with --force`);
  }
  if (existing.isDirectory()) {
    if (kind === 'file') throw new UsageError(`${target} is a directory; refusing to replace it with a file`);
    const others = (await readdir(target)).filter((name) => !FRAME_FILE.test(name));
    if (others.length > 0) {
      throw new UsageError(`${target} holds files other than PNG frames (${others.slice(0, 3).join(', ')}); refusing to replace it`, {
        suggestion: 'Choose another output directory, or empty this one.',
      });
    }
  }
}

/**
 * Moves a finished `partial` onto `target`, replacing whatever prepareOutput allowed. Without
 * `force` a file is linked into place, which fails rather than replaces when something appeared
 * under the name meanwhile.
 */
export async function commitOutput(partial: string, target: string, kind: OutputKind, force = true): Promise<void> {
  if (kind === 'file') {
    if (force) {
      await rename(partial, target); // atomic, and replaces an existing file
      return;
    }
    try {
      await link(partial, target);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') throw new UsageError(`${target} appeared while this run was writing it; kept the other file`, { cause: error });
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EXDEV') throw error;
      // a file system without hard links: the claim (claimOutput) is all the protection left
      await rename(partial, target);
      return;
    }
    await unlink(partial);
    return;
  }
  // a directory cannot be renamed over a non-empty one: move the old one aside first
  const aside = join(dirname(target), `.${basename(target)}.replaced-${process.pid}`);
  const existing = await statOrUndefined(target);
  if (existing !== undefined) await rename(target, aside);
  try {
    await rename(partial, target);
  } catch (error) {
    if (existing !== undefined) await rename(aside, target);
    throw error;
  }
  await rm(aside, { recursive: true, force: true });
}

/** Deletes a temporary file or directory, ignoring one that never got created. */
export async function removePartial(partial: string): Promise<void> {
  await rm(partial, { recursive: true, force: true });
}

async function statOrUndefined(path: string): Promise<Awaited<ReturnType<typeof stat>> | undefined> {
  try {
    return await stat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** `.<name>.lock` beside the target: the claim of a run on that output. */
export function getLockPath(target: string): string {
  return join(dirname(target), `.${basename(target)}.lock`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Claims `target` for this process: creates its lock file exclusively, holding our pid. A lock of a
 * process that is gone (killed with SIGKILL, say) is taken over. Throws UsageError when another
 * live process holds it. Returns the release function (idempotent).
 */
export function claimOutput(target: string): () => void {
  const lock = getLockPath(target);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(lock, `${process.pid}\n`, { flag: 'wx' });
      let held = true;
      return () => {
        if (!held) return;
        held = false;
        rmSync(lock, { force: true });
      };
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST') {
        throw new UsageError(`cannot write output ${target}: ${code === 'ENOENT' ? 'its directory does not exist' : (error as Error).message}`, { cause: error });
      }
    }
    let holder = Number.NaN;
    try {
      holder = Number.parseInt(readFileSync(lock, 'utf8'), 10);
    } catch {
      // removed meanwhile: try again
    }
    if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && isAlive(holder)) {
      throw new UsageError(`output ${target} is being written by another durian run (pid ${holder})`, {
        suggestion: 'Wait for it, or choose another output name.',
      });
    }
    if (holder === process.pid) throw new UsageError(`output ${target} is written twice by this run`);
    rmSync(lock, { force: true }); // stale: its process is gone
  }
  throw new UsageError(`output ${target} is being claimed by another durian run`);
}
