import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { InputError } from '../../../src/errors';
import { cropResize, readImage, readMask, resizeRgb, writePng, type RgbImage } from '../../../src/media/image';

const EXAMPLES = join(__dirname, '../../../examples');

function range(values: Float32Array): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  return [lo, hi];
}

function channelMean(img: RgbImage, c: number): number {
  const plane = img.width * img.height;
  let sum = 0;
  for (let i = 0; i < plane; i++) sum += img.data[c * plane + i] as number;
  return sum / plane;
}

describe('readImage', () => {
  it('reads an example portrait as [3, 256, 256] in [0, 1]', async () => {
    const img = await readImage(join(EXAMPLES, 'identity-1.png'));
    expect([img.width, img.height, img.data.length]).toEqual([256, 256, 3 * 256 * 256]);
    const [lo, hi] = range(img.data);
    expect(lo).toBeGreaterThanOrEqual(0);
    expect(hi).toBeLessThanOrEqual(1);
    expect(hi - lo).toBeGreaterThan(0.5);
  });

  it('stretches to an exact size', async () => {
    const img = await readImage(join(EXAMPLES, 'identity-1.png'), { width: 96, height: 64 });
    expect([img.width, img.height, img.data.length]).toEqual([96, 64, 3 * 96 * 64]);
  });

  it('expands a greyscale file to RGB', async () => {
    const img = await readImage(join(EXAMPLES, 'identity-1.mask-hair.png'));
    expect(img.data.length).toBe(3 * 256 * 256);
    const plane = 256 * 256;
    for (let i = 0; i < plane; i += 997) expect(img.data[i]).toBe(img.data[plane + i]);
  });

  describe('rejects with a one-line InputError naming the file', () => {
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'durian-image-'));
      writeFileSync(join(dir, 'notes.png'), 'this is not an image\n');
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it.each([
      ['a text file', 'notes.png', /^cannot read image .*notes\.png: .*unsupported image format/],
      ['a missing file', 'missing.png', /^cannot read image .*missing\.png: no such file$/],
      ['a directory', '.', /^cannot read image .*: is a directory$/],
    ])('%s', async (_what, name, message) => {
      const error = await readImage(join(dir, name)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InputError);
      expect((error as Error).message).toMatch(message);
      expect((error as Error).message).not.toContain('\n');
    });
  });
});

describe('readMask', () => {
  it('reads an example mask as [256, 256] in [0, 1], mostly 0 or 1', async () => {
    const mask = await readMask(join(EXAMPLES, 'identity-1.mask-hair.png'));
    expect([mask.width, mask.height, mask.data.length]).toEqual([256, 256, 256 * 256]);
    const [lo, hi] = range(mask.data);
    expect([lo, hi]).toEqual([0, 1]);
    const crisp = mask.data.filter((v) => v === 0 || v === 1).length;
    expect(crisp / mask.data.length).toBeGreaterThan(0.9);
  });

  it('resizes to the image size asked for', async () => {
    const mask = await readMask(join(EXAMPLES, 'identity-1.mask-hair.png'), { width: 128, height: 128 });
    expect([mask.width, mask.height, mask.data.length]).toEqual([128, 128, 128 * 128]);
  });

  it('reads a colour image as its luminance', async () => {
    const mask = await readMask(join(EXAMPLES, 'identity-1.png'));
    expect(mask.data.length).toBe(256 * 256);
  });
});

describe('writePng', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'durian-png-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('round-trips through readImage within 8-bit rounding and leaves no temporary file', async () => {
    const img = await readImage(join(EXAMPLES, 'identity-1.png'), { width: 64, height: 64 });
    const file = join(dir, 'out.png');
    await writePng(file, img);
    const back = await readImage(file);
    let max = 0;
    back.data.forEach((v, i) => (max = Math.max(max, Math.abs(v - (img.data[i] as number)))));
    expect(max).toBeLessThanOrEqual(0.5 / 255 + 1e-6);
    expect(readdirSync(dir)).toEqual(['out.png']);
  });

  it('fails into a missing directory without leaving anything', async () => {
    const img = { data: new Float32Array(12), width: 2, height: 2 };
    await expect(writePng(join(dir, 'nope', 'x.png'), img)).rejects.toThrow(/^cannot write .*x\.png/);
  });
});

describe('resizeRgb and cropResize', () => {
  const solid = (w: number, h: number, rgb: [number, number, number]): RgbImage => {
    const data = new Float32Array(3 * w * h);
    rgb.forEach((v, c) => data.fill(v, c * w * h, (c + 1) * w * h));
    return { data, width: w, height: h };
  };

  it('resizes to exact sizes and keeps a flat colour', async () => {
    // NOTE: libvips' fixed-point 16-bit kernels shift a flat colour by up to ~1e-4 (0.03 of an 8-bit step)
    const out = await resizeRgb(solid(40, 30, [0.2, 0.5, 0.9]), 17, 64);
    expect([out.width, out.height, out.data.length]).toEqual([17, 64, 3 * 17 * 64]);
    expect(channelMean(out, 0)).toBeCloseTo(0.2, 3);
    expect(channelMean(out, 2)).toBeCloseTo(0.9, 3);
  });

  it('crops inside the image without padding', async () => {
    const img = solid(20, 20, [1, 0.5, 0]);
    const out = await cropResize(img, { x: 2, y: 3, size: 10 }, 10);
    expect(channelMean(out, 0)).toBeCloseTo(1, 5);
    expect(channelMean(out, 1)).toBeCloseTo(0.5, 5);
  });

  it('pads black outside the image', async () => {
    // the 8×8 box at (-4, -4) covers one quadrant of image: a quarter of it is red, the rest black
    const out = await cropResize(solid(10, 10, [1, 0, 0]), { x: -4, y: -4, size: 8 }, 8);
    const plane = 64;
    const red = out.data.subarray(0, plane);
    expect(channelMean(out, 0)).toBeCloseTo(0.25, 5);
    expect(red[0]).toBe(0); // top-left: padding
    expect(red[7 * 8 + 7]).toBeCloseTo(1, 5); // bottom-right: image
  });

  it('resizes the crop to outSize', async () => {
    const img = await readImage(join(EXAMPLES, 'identity-1.png'));
    const out = await cropResize(img, { x: 64, y: 40, size: 140 }, 112);
    expect([out.width, out.height, out.data.length]).toEqual([112, 112, 3 * 112 * 112]);
  });
});
