import { drawPreview } from '../../../src/media/preview';

const W = 4, H = 3;
/** A [3, H, W] tile of one value everywhere. */
const tile = (v: number) => new Float32Array(3 * H * W).fill(v);
const mask = (v: number) => new Float32Array(H * W).fill(v);
/** The value at channel `ch` of tile (row, col) in a sheet `cols` tiles wide and three rows high. */
const at = (data: Float32Array, cols: number, row: number, col: number, ch: number, y = 0, x = 0) =>
  data[ch * 3 * H * cols * W + (row * H + y) * cols * W + col * W + x];

describe('drawPreview', () => {
  it('lays out references, guidance and frames in three rows, white where a row ends early', () => {
    const frames = Array.from({ length: 8 }, (_, i) => tile(i / 10));
    const poses = { length: 8, at: (i: number) => tile(0.5 + i / 100) };
    const sheet = drawPreview({
      identity: tile(0.1), portrait: { image: tile(0.2), mask: mask(0.3) },
      attributes: [{ image: tile(0.4), mask: mask(0.6) }], poses, frames, width: W, height: H,
    });
    // top row: identity, portrait, its mask, one attribute and its mask → 5 tiles; 5 frames sampled
    expect(sheet).toMatchObject({ width: 5 * W, height: 3 * H });
    expect(sheet.data).toHaveLength(3 * 5 * W * 3 * H);
    const top = [0.1, 0.2, 0.3, 0.4, 0.6];
    top.forEach((v, c) => [0, 1, 2].forEach((ch) => expect(at(sheet.data, 5, 0, c, ch, H - 1, W - 1)).toBeCloseTo(v)));
    // frames 0, 1, 3, 4, 6 of 8 (floor(i · 8 / 5)), and the keypoint image of the same frame above each
    [0, 1, 3, 4, 6].forEach((f, c) => {
      expect(at(sheet.data, 5, 2, c, 1)).toBeCloseTo(f / 10);
      expect(at(sheet.data, 5, 1, c, 1)).toBeCloseTo(0.5 + f / 100);
    });
  });

  it('shows at least four frames, and leaves the rest of a short top row white', () => {
    const frames = Array.from({ length: 4 }, (_, i) => tile(i / 10));
    const sheet = drawPreview({
      identity: tile(0), portrait: { image: tile(0), mask: mask(0) }, attributes: [], poses: { length: 4, at: () => tile(0) },
      frames, width: W, height: H,
    });
    expect(sheet.width).toBe(4 * W);
    expect(at(sheet.data, 4, 0, 3, 0)).toBe(1);
    expect(at(sheet.data, 4, 2, 3, 0)).toBeCloseTo(0.3);
  });
});
