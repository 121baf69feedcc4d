import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { DEFAULT_KEYPOINT_SPEC, renderKeypoints, type KeypointSpec } from '../../../src/media/keypoint-render';

interface Fixture {
  keypoint_image: KeypointSpec;
  cases: { height: number; width: number; points: number[]; image: number[] }[];
}

// written by: tools/export/.venv/bin/python -m durian_export.make_media_fixtures --out test/fixtures/media
const fixture = JSON.parse(readFileSync(join(__dirname, '../../fixtures/media/keypoints-64.json'), 'utf8')) as Fixture;

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs((a[i] as number) - (b[i] as number)));
  return max;
}

describe('renderKeypoints', () => {
  it('uses the same spec as keypoint_image.py', () => {
    expect(JSON.parse(JSON.stringify(DEFAULT_KEYPOINT_SPEC))).toEqual(fixture.keypoint_image);
  });

  it.each(fixture.cases.map((c) => [`${c.height}×${c.width}`, c] as const))('matches the Python rendering at %s', (_size, c) => {
    const image = renderKeypoints(Float32Array.from(c.points), c.height, c.width, DEFAULT_KEYPOINT_SPEC);
    expect(image).toHaveLength(3 * c.height * c.width);
    expect(c.image).toHaveLength(image.length);
    expect(maxAbsDiff(image, c.image)).toBeLessThan(1e-5);
  });

  it('peaks at a point centred on a pixel, in its group colour', () => {
    const points = new Float32Array(136).fill(-1000);
    points[2 * 50] = 10.5; // mouth_outer: red
    points[2 * 50 + 1] = 20.5;
    const image = renderKeypoints(points, 32, 16, DEFAULT_KEYPOINT_SPEC);
    const at = (c: number, y: number, x: number): number => image[c * 32 * 16 + y * 16 + x] as number;
    expect(at(0, 20, 10)).toBeCloseTo(1, 6);
    expect(at(1, 20, 10)).toBe(0);
    expect(at(2, 20, 10)).toBe(0);
    expect(at(0, 20, 11)).toBeLessThan(1);
    expect(at(0, 0, 0)).toBe(0);
  });

  it('rejects too few points for the groups', () => {
    expect(() => renderKeypoints(new Float32Array(10), 8, 8, DEFAULT_KEYPOINT_SPEC)).toThrow(/needs 17 points, got 5/);
  });
});
