/**
 * Whole-or-nothing outputs: write under a hidden temporary name beside the target, then rename.
 * A failed or interrupted write leaves nothing behind, and an existing target is replaced only on
 * request.
 */
import { readdir, rename, rm, stat } from 'node:fs/promises';
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
    throw new UsageError(`cannot write ${target}: directory ${parent} does not exist`, {
      suggestion: `Create it first (mkdir -p ${parent}).`,
    });
  }
  const existing = await statOrUndefined(target);
  if (existing === undefined) return;
  if (!force) {
    throw new UsageError(`${target} already exists`, { suggestion: 'Pass --force to overwrite it.' });
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

/** Moves a finished `partial` onto `target`, replacing whatever prepareOutput allowed. */
export async function commitOutput(partial: string, target: string, kind: OutputKind): Promise<void> {
  if (kind === 'file') {
    await rename(partial, target); // atomic, and replaces an existing file
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
