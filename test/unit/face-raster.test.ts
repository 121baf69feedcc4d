import { dilateBox, pickPoints, rasterizePolygon } from '../../src/face/raster';

const sum = (m: Float32Array) => m.reduce((a, b) => a + b, 0);

describe('polygon rasterisation', () => {
  it('fills the pixels whose centres are inside', () => {
    const m = rasterizePolygon(10, 10, [2, 2, 6, 2, 6, 5, 2, 5]); // 4 × 3 pixels
    expect(sum(m)).toBe(12);
    expect(m[2 * 10 + 2]).toBe(1);
    expect(m[5 * 10 + 2]).toBe(0);
    expect(m[2 * 10 + 6]).toBe(0);
  });

  it('clips to the image and handles a triangle', () => {
    expect(sum(rasterizePolygon(4, 4, [-10, -10, 20, -10, 20, 20, -10, 20]))).toBe(16);
    const tri = rasterizePolygon(100, 100, [0, 0, 100, 0, 0, 100]);
    expect(Math.abs(sum(tri) - 5000)).toBeLessThan(100);
  });

  it('dilates by a square of radius r', () => {
    const m = new Float32Array(11 * 11);
    m[5 * 11 + 5] = 1;
    expect(sum(dilateBox(m, 11, 11, 2))).toBe(25);
    expect(sum(dilateBox(m, 11, 11, 0))).toBe(1);
    expect(sum(dilateBox(m, 11, 11, 20))).toBe(121);
  });

  it('picks x, y of mesh points', () => {
    expect(Array.from(pickPoints([0, 1, 2, 3, 4, 5, 6, 7, 8], [2, 0]))).toEqual([6, 7, 0, 1]);
  });
});
