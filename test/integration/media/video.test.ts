import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, watch, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { InputError, InterruptedError, UsageError } from '../../../src/errors';
import type { RgbImage } from '../../../src/media/image';
import { decodeVideo, probeVideo, streamVideoFrames } from '../../../src/media/video';
import { encodeVideo, openVideoWriter } from '../../../src/media/video-writer';

/** ffmpeg runs on the CPU of a small CI box; a few seconds per encode is plenty. */
const FFMPEG_TIMEOUT_MS = 30_000;
const DRIVE = join(__dirname, '../../../examples/drive-talking.mp4');

/** Frame i: red = i/(n−1) everywhere, green ramps left→right, blue ramps top→bottom. */
function syntheticFrames(n: number, width: number, height: number): RgbImage[] {
  return Array.from({ length: n }, (_, i) => {
    const plane = width * height;
    const data = new Float32Array(3 * plane);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        data[y * width + x] = i / (n - 1);
        data[plane + y * width + x] = x / (width - 1);
        data[2 * plane + y * width + x] = y / (height - 1);
      }
    }
    return { data, width, height };
  });
}

function meanColour(img: RgbImage): [number, number, number] {
  const plane = img.width * img.height;
  const sums: [number, number, number] = [0, 0, 0];
  for (let c = 0; c < 3; c++) {
    let sum = 0;
    for (let i = 0; i < plane; i++) sum += img.data[c * plane + i] as number;
    sums[c] = sum / plane;
  }
  return sums;
}

function expectSameColours(got: RgbImage[], want: RgbImage[], tolerance: number): void {
  expect(got).toHaveLength(want.length);
  got.forEach((frame, i) => {
    const a = meanColour(frame);
    const b = meanColour(want[i] as RgbImage);
    a.forEach((mean, c) => expect(Math.abs(mean - (b[c] as number))).toBeLessThan(tolerance));
  });
}

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'durian-video-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const FRAMES = syntheticFrames(8, 64, 64);

describe('encodeVideo → probeVideo → decodeVideo', () => {
  it.each([
    // per-frame mean colour tolerance: yuv420p (mp4, webm) is off by < 0.01 here; the gif's one
    // 256-colour palette for all frames lacks the extremes (red 0 and 1 of the first and last frame)
    // and shifts those frames' means by up to ~0.07
    ['clip.mp4', 'h264', 0.02],
    ['clip.webm', 'vp9', 0.02],
    ['clip.gif', 'gif', 0.1],
  ])(
    '%s',
    async (name, codec, tolerance) => {
      const file = join(dir, name);
      await encodeVideo(FRAMES, file, { fps: 10 });
      expect(readdirSync(dir)).toEqual([name]);
      expect(await probeVideo(file)).toEqual({ width: 64, height: 64, fps: 10, frames: 8, codec });
      expectSameColours(await decodeVideo(file, { width: 64, height: 64 }), FRAMES, tolerance);
    },
    FFMPEG_TIMEOUT_MS,
  );

  it('a PNG directory: 0000.png… decoded back in order', async () => {
    const out = join(dir, 'frames');
    await encodeVideo(FRAMES, `${out}/`, { fps: 10 });
    expect(readdirSync(dir)).toEqual(['frames']);
    expect(readdirSync(out)).toEqual(FRAMES.map((_, i) => `000${i}.png`));
    expectSameColours(await decodeVideo(out, { width: 64, height: 64 }), FRAMES, 1 / 255);
    expect(await decodeVideo(out, { width: 32, height: 16, maxFrames: 3 })).toHaveLength(3);
  });

  it(
    'writes a gif of odd size',
    async () => {
      const file = join(dir, 'odd.gif');
      await encodeVideo(syntheticFrames(3, 63, 65), file, { fps: 25 });
      expect(await probeVideo(file)).toMatchObject({ width: 63, height: 65, frames: 3, fps: 25 });
    },
    FFMPEG_TIMEOUT_MS,
  );
});

describe('encodeVideo refusals and cleanup', () => {
  it(
    'refuses to overwrite without force, replaces with it',
    async () => {
      const file = join(dir, 'clip.mp4');
      await encodeVideo(FRAMES, file, { fps: 10 });
      const error = await encodeVideo(FRAMES.slice(0, 4), file, { fps: 10 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UsageError);
      expect((error as UsageError).message).toMatch(/clip\.mp4 already exists/);
      expect((error as UsageError).suggestion).toMatch(/--force/);
      expect((await probeVideo(file)).frames).toBe(8);

      await encodeVideo(FRAMES.slice(0, 4), file, { fps: 10, force: true });
      expect((await probeVideo(file)).frames).toBe(4);
      expect(readdirSync(dir)).toEqual(['clip.mp4']);
    },
    FFMPEG_TIMEOUT_MS,
  );

  it('replaces a PNG directory only with force, and never one holding other files', async () => {
    const out = join(dir, 'frames');
    await encodeVideo(FRAMES, out, { fps: 10 });
    await expect(encodeVideo(FRAMES.slice(0, 2), out, { fps: 10 })).rejects.toThrow(UsageError);
    await encodeVideo(FRAMES.slice(0, 2), out, { fps: 10, force: true });
    expect(readdirSync(out)).toEqual(['0000.png', '0001.png']);
    expect(readdirSync(dir)).toEqual(['frames']);

    writeFileSync(join(out, 'notes.txt'), 'keep me');
    await expect(encodeVideo(FRAMES, out, { fps: 10, force: true })).rejects.toThrow(/holds files other than PNG frames/);
    expect(readdirSync(out)).toEqual(['0000.png', '0001.png', 'notes.txt']);
  });

  it.each(['clip.mp4', 'clip.webm'])('rejects an odd size for %s (yuv420p) before writing anything', async (name) => {
    const error = await encodeVideo(syntheticFrames(2, 63, 64), join(dir, name), { fps: 10 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UsageError);
    expect((error as UsageError).message).toMatch(/needs an even width and height .* got 63×64/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('rejects frames of different sizes and unknown extensions', async () => {
    const mixed = [...syntheticFrames(1, 64, 64), ...syntheticFrames(1, 32, 32)];
    await expect(encodeVideo(mixed, join(dir, 'x.mp4'), { fps: 10 })).rejects.toThrow(/frame 1 is 32×32, frame 0 is 64×64/);
    await expect(encodeVideo(FRAMES, join(dir, 'x.avi'), { fps: 10 })).rejects.toThrow(UsageError);
    await expect(encodeVideo(FRAMES, join(dir, 'missing', 'x.mp4'), { fps: 10 })).rejects.toThrow(/does not exist/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('deletes the partial file when the encoder fails', async () => {
    // a stand-in ffmpeg that writes half a file to its output (the last argument), then fails
    const fake = join(dir, 'fake-ffmpeg.sh');
    writeFileSync(fake, '#!/bin/sh\nfor last; do :; done\necho partial > "$last"\necho "encoder exploded" >&2\nexit 1\n');
    chmodSync(fake, 0o755);
    const out = join(dir, 'out');
    mkdirSync(out);
    await expect(encodeVideo(FRAMES, join(out, 'clip.mp4'), { fps: 10, ffmpegPath: fake })).rejects.toThrow(
      /fake-ffmpeg\.sh failed: encoder exploded/,
    );
    expect(readdirSync(out)).toEqual([]);
  });

  it(
    'deletes the partial file when interrupted mid-encode',
    async () => {
      const controller = new AbortController();
      const watcher = watch(dir, (_event, name) => {
        if (name?.includes('.partial-')) controller.abort();
      });
      try {
        const frames = syntheticFrames(60, 256, 256);
        const error = await encodeVideo(frames, join(dir, 'long.mp4'), { fps: 25, signal: controller.signal }).catch(
          (e: unknown) => e,
        );
        expect(controller.signal.aborted).toBe(true);
        expect(error).toBeInstanceOf(InterruptedError);
      } finally {
        watcher.close();
      }
      expect(readdirSync(dir)).toEqual([]);
    },
    FFMPEG_TIMEOUT_MS,
  );
});

describe('openVideoWriter: frames handed over one at a time', () => {
  it.each(['clip.mp4', 'clip.webm', 'clip.gif', 'frames/'])(
    '%s: the same bytes as encodeVideo of all the frames at once',
    async (name) => {
      const whole = join(dir, 'whole'), streamed = join(dir, 'streamed');
      mkdirSync(whole);
      mkdirSync(streamed);
      await encodeVideo(FRAMES, join(whole, name), { fps: 10 });
      const writer = await openVideoWriter(join(streamed, name), { fps: 10, width: 64, height: 64 });
      for (const frame of FRAMES) await writer.write(frame);
      expect(writer.written).toBe(FRAMES.length);
      await writer.close();
      const files = (root: string) => (name.endsWith('/') ? readdirSync(join(root, name)).map((f) => join(root, name, f)) : [join(root, name)]);
      expect(files(streamed).map((f) => f.slice(streamed.length))).toEqual(files(whole).map((f) => f.slice(whole.length)));
      files(whole).forEach((f, i) => expect(readFileSync(files(streamed)[i]!).equals(readFileSync(f))).toBe(true));
    },
    FFMPEG_TIMEOUT_MS,
  );

  it(
    'leaves nothing behind when aborted, or closed with fewer frames than announced',
    async () => {
      const aborted = await openVideoWriter(join(dir, 'a.mp4'), { fps: 10, width: 64, height: 64 });
      await aborted.write(FRAMES[0]!);
      await aborted.abort();
      await expect(aborted.write(FRAMES[1]!)).rejects.toThrow(/write after the video was aborted/);
      const short = await openVideoWriter(join(dir, 'b'), { fps: 10, width: 64, height: 64, frames: 3 });
      await short.write(FRAMES[0]!);
      await expect(short.write(syntheticFrames(2, 32, 32)[0]!)).rejects.toThrow(/frame 1 is 32×32, the video 64×64/);
      await expect(short.close()).rejects.toThrow(/1 frames written, 3 expected/);
      expect(readdirSync(dir)).toEqual([]);
      await expect(openVideoWriter(join(dir, 'c.mp4'), { fps: 10, width: 63, height: 64 })).rejects.toThrow(UsageError);
    },
    FFMPEG_TIMEOUT_MS,
  );
});

describe('probeVideo and decodeVideo on real inputs', () => {
  it('probes the example driving clip', async () => {
    expect(await probeVideo(DRIVE)).toEqual({ width: 256, height: 256, fps: 25, frames: 64, codec: 'h264' });
  });

  it(
    'decodes every frame, resamples to fps, and stops at maxFrames',
    async () => {
      const all = await decodeVideo(DRIVE, { width: 64, height: 64 });
      expect(all).toHaveLength(64);
      expect(all[0]?.data).toHaveLength(3 * 64 * 64);
      const resampled = await decodeVideo(DRIVE, { width: 32, height: 48, fps: 10 });
      expect(Math.abs(resampled.length - 26)).toBeLessThanOrEqual(1);
      expect(resampled[0]).toMatchObject({ width: 32, height: 48 });
      expect(await decodeVideo(DRIVE, { width: 256, height: 256, maxFrames: 5 })).toHaveLength(5);
    },
    FFMPEG_TIMEOUT_MS,
  );

  it(
    'startFrame seeks to that frame, and streamVideoFrames yields exactly the frames of one decode, chunk by chunk',
    async () => {
      const all = await decodeVideo(DRIVE, { width: 64, height: 64 });
      const from = await decodeVideo(DRIVE, { width: 64, height: 64, startFrame: 40, maxFrames: 5 });
      expect(from).toHaveLength(5);
      from.forEach((f, i) => expect(f.data).toEqual(all[40 + i]!.data));
      const streamed: RgbImage[] = [];
      for await (const f of streamVideoFrames(DRIVE, { width: 64, height: 64, chunkFrames: 10 })) streamed.push(f);
      expect(streamed).toHaveLength(64);
      streamed.forEach((f, i) => expect(f.data).toEqual(all[i]!.data));
      const capped: RgbImage[] = [];
      for await (const f of streamVideoFrames(DRIVE, { width: 64, height: 64, chunkFrames: 7, maxFrames: 20 })) capped.push(f);
      expect(capped).toHaveLength(20);
    },
    FFMPEG_TIMEOUT_MS,
  );

  it('rejects unreadable inputs with InputError naming the file', async () => {
    const text = join(dir, 'notes.mp4');
    writeFileSync(text, 'not a video\n');
    mkdirSync(join(dir, 'empty'));
    await expect(probeVideo(text)).rejects.toThrow(InputError);
    await expect(probeVideo(text)).rejects.toThrow(`cannot read video ${text}: Invalid data found when processing input`);
    await expect(decodeVideo(text, { width: 8, height: 8 })).rejects.toThrow(/^cannot decode video .*notes\.mp4: /);
    await expect(decodeVideo(text, { width: 8, height: 8 })).rejects.toThrow(InputError);
    await expect(probeVideo(join(dir, 'nope.mp4'))).rejects.toThrow(/^cannot read video .*nope\.mp4: no such file$/);
    await expect(decodeVideo(join(dir, 'empty'), { width: 8, height: 8 })).rejects.toThrow(/empty holds no video frames/);
  });
});
