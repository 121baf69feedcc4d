import { assertRgbImage, fromRgb24, fromRgb48, toRgb24, toRgb48 } from '../../../src/media/pixels';

// a 2×1 image: pixel 0 = (0, 0.5, 1), pixel 1 = (1, -0.2, 1.3) (the last two clamp)
const img = { data: Float32Array.from([0, 1, 0.5, -0.2, 1, 1.3]), width: 2, height: 1 };

describe('pixel conversions', () => {
  it('planar floats → interleaved rgb24, rounded and clamped', () => {
    expect([...toRgb24(img)]).toEqual([0, 128, 255, 255, 0, 255]);
  });

  it('interleaved rgb24 (or rgba) → planar floats', () => {
    expect([...fromRgb24(Uint8Array.from([0, 51, 255, 255, 0, 102]), 2, 1).data]).toEqual([0, 1, 0.2, 0, 1, 0.4].map(Math.fround));
    expect([...fromRgb24(Uint8Array.from([0, 51, 255, 9, 255, 0, 102, 9]), 2, 1, 4).data]).toEqual(
      [0, 1, 0.2, 0, 1, 0.4].map(Math.fround),
    );
  });

  it('round-trips through 16 bits within 1/65535', () => {
    const inRange = { ...img, data: Float32Array.from([0, 1, 0.5, 0.123456, 0.999, 0.3]) };
    const back = fromRgb48(toRgb48(inRange), 2, 1).data;
    back.forEach((v, i) => expect(Math.abs(v - (inRange.data[i] as number))).toBeLessThanOrEqual(0.5 / 65535 + 1e-7));
  });

  it('rejects data of the wrong length', () => {
    expect(() => assertRgbImage({ data: new Float32Array(5), width: 2, height: 1 }, 'frame 3')).toThrow(
      'frame 3 holds 5 values; 2×1 RGB needs 6',
    );
  });
});
