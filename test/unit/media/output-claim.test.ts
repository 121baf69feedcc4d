import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { getMajorVersion, streamBinary } from '../../../src/media/ffmpeg';
import { claimOutput, commitOutput, getLockPath, prepareOutput } from '../../../src/media/output-file';
import { verifyVideo } from '../../../src/media/video-writer';
import { UsageError } from '../../../src/errors';

describe('output claims and commits', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(path.join(os.tmpdir(), 'durian-claim-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('a claim is exclusive while its process lives, and released once', () => {
    const target = path.join(dir, 'a.mp4');
    const release = claimOutput(target);
    expect(readFileSync(getLockPath(target), 'utf8')).toBe(`${process.pid}\n`);
    expect(() => claimOutput(target)).toThrow(UsageError);
    release();
    release();
    expect(existsSync(getLockPath(target))).toBe(false);
    claimOutput(target)();
  });

  it('a lock whose process is gone is taken over', () => {
    const target = path.join(dir, 'b.mp4');
    writeFileSync(getLockPath(target), '2147483646\n'); // no such process
    const release = claimOutput(target);
    expect(readFileSync(getLockPath(target), 'utf8')).toBe(`${process.pid}\n`);
    release();
  });

  it('without force, a file that appeared meanwhile is kept and the commit fails', async () => {
    const target = path.join(dir, 'c.mp4');
    const partial = path.join(dir, '.c.mp4.partial');
    writeFileSync(partial, 'new');
    writeFileSync(target, 'other run');
    await expect(commitOutput(partial, target, 'file', false)).rejects.toThrow(/appeared while this run was writing it/);
    expect(readFileSync(target, 'utf8')).toBe('other run');
    await commitOutput(partial, target, 'file', true);
    expect(readFileSync(target, 'utf8')).toBe('new');
    expect(existsSync(partial)).toBe(false);
  });

  it('a device is never replaced, even with force', async () => {
    await expect(prepareOutput('/dev/null', 'file', true)).rejects.toThrow(/not a regular file/);
  });
});

describe('verifyVideo', () => {
  it('says what is wrong with a missing, empty or garbled file', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'durian-verify-'));
    try {
      expect(await verifyVideo(path.join(dir, 'none.mp4'))).toBe('missing');
      writeFileSync(path.join(dir, 'empty.mp4'), '');
      expect(await verifyVideo(path.join(dir, 'empty.mp4'))).toBe('empty file');
      writeFileSync(path.join(dir, 'junk.mp4'), 'junk'.repeat(100));
      expect(await verifyVideo(path.join(dir, 'junk.mp4'))).toMatch(/ffprobe cannot read it/);
      const good = path.resolve(__dirname, '..', '..', '..', 'examples', 'drive-talking.mp4');
      expect(await verifyVideo(good)).toBeUndefined();
      expect(await verifyVideo(good, { frames: 1 })).toMatch(/frames, expected 1$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('ffmpeg', () => {
  it.each([
    ['6.1.1-3ubuntu5', 6],
    ['n7.0', 7],
    ['5.1.4-0+deb12u1', 5],
    ['4.4.2-0ubuntu0.22.04.1', 4],
    ['N-47683-g0e8eb07980-static', undefined],
  ])('major version of %s is %p', (version, major) => {
    expect(getMajorVersion(version)).toBe(major);
  });

  it('a write error counts even when the binary exits 0', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'durian-bin-'));
    const bin = path.join(dir, 'fake');
    writeFileSync(bin, '#!/bin/sh\necho "[mp4 @ 0x1] Error writing trailer of out.mp4: No space left on device" >&2\nexit 0\n');
    chmodSync(bin, 0o755);
    try {
      await expect(streamBinary(bin, [])).rejects.toThrow(/fake failed: \[mp4 @ 0x1\] Error writing trailer of out\.mp4: No space left on device/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
