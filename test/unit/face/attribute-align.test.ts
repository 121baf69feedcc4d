import { readFileSync } from 'node:fs';
import path from 'node:path';

import { alignAttribute, getControlPoints, isAlignedClass, type AlignedClass } from '../../../src/face/attribute-align';
import { applyAffine, estimateSimilarity, warpPlanar, type Affine } from '../../../src/face/align';
import { readMask } from '../../../src/media/image';
import { fitAttribute, type AlignedPortrait } from '../../../src/pipeline/analysis';

/** Written by `python -m durian_export.make_align_fixtures --out test/fixtures/align`. */
/** A 256² spline warp is a few hundred ms; the 2-core test machine runs it alongside other work. */
const WARP_TIMEOUT_MS = 30_000;
jest.setTimeout(WARP_TIMEOUT_MS);

const FIXTURE = path.join(__dirname, '..', '..', 'fixtures', 'align');

interface AlignCase {
  class: string;
  size: [number, number];
  donor_keypoints: number[];
  identity_keypoints: number[];
}

const cases = (JSON.parse(readFileSync(path.join(FIXTURE, 'cases.json'), 'utf8')) as { cases: AlignCase[] }).cases;
const mask = async (name: string) => (await readMask(path.join(FIXTURE, name))).data;

function iou(a: Float32Array, b: Float32Array): number {
  let inter = 0, union = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]! > 0.5, y = b[i]! > 0.5;
    if (x && y) inter++;
    if (x || y) union++;
  }
  return inter / Math.max(union, 1);
}

describe('attribute aligner', () => {
  it('has one fixture case per class', () => {
    expect(cases.map((c) => c.class).sort()).toEqual(['beard', 'glasses', 'hair', 'hat']);
  });

  it.each(cases.map((c) => [c.class, c] as const))('warps the %s mask as data/align.py does', async (_, c) => {
    const [w, h] = c.size;
    const cls = c.class as AlignedClass;
    const out = alignAttribute(new Float32Array(3 * w * h), await mask(`${cls}.donor-mask.png`), h, w, c.donor_keypoints, c.identity_keypoints, cls);
    const expected = await mask(`${cls}.aligned-mask.png`);
    let sum = 0, max = 0;
    for (let i = 0; i < expected.length; i++) {
      const d = Math.abs(out.mask[i]! - expected[i]!);
      sum += d;
      max = Math.max(max, d);
    }
    // the Python side's mask went through an 8-bit PNG: half a level of rounding, plus float32 grid
    expect(sum / expected.length).toBeLessThan(1 / 255);
    expect(max).toBeLessThan(0.05);
  });

  it.each(cases.map((c) => [c.class, c] as const))('fits the ground-truth %s region better than the similarity', async (_, c) => {
    const [w, h] = c.size;
    const cls = c.class as AlignedClass;
    const donor = await mask(`${cls}.donor-mask.png`);
    const truth = await mask(`${cls}.truth-mask.png`);
    const aligned = alignAttribute(new Float32Array(3 * w * h), donor, h, w, c.donor_keypoints, c.identity_keypoints, cls).mask;
    const similar = warpPlanar(donor, 1, h, w, estimateSimilarity(c.donor_keypoints, c.identity_keypoints), h, w);
    expect(iou(aligned, truth)).toBeGreaterThan(iou(similar, truth));
  });

  it('reproduces an affine map between the faces exactly', () => {
    const c = cases[0]!;
    const [w, h] = c.size;
    const m: Affine = [0.9 * Math.cos(0.2), -0.9 * Math.sin(0.2), 7, 0.9 * Math.sin(0.2), 0.9 * Math.cos(0.2), -5];
    const img = Float32Array.from({ length: 3 * w * h }, (_, i) => ((i * 7919) % 997) / 997);
    const msk = Float32Array.from({ length: w * h }, (_, i) => ((i * 104729) % 1009) / 1009);
    const dst = applyAffine(m, c.donor_keypoints);
    const out = alignAttribute(img, msk, h, w, c.donor_keypoints, dst, 'glasses');
    const ref = warpPlanar(msk, 1, h, w, m, h, w);
    let max = 0;
    for (let i = 0; i < ref.length; i++) max = Math.max(max, Math.abs(out.mask[i]! - ref[i]!));
    expect(max).toBeLessThan(2e-3);
  });

  it('gives each class its own control points and knows only its classes', () => {
    const kp = cases[0]!.donor_keypoints;
    expect(getControlPoints(kp, 'hair').length).toBe(getControlPoints(kp, 'hat').length);
    expect(getControlPoints(kp, 'beard').length).not.toBe(getControlPoints(kp, 'glasses').length);
    // anchors first: the glasses' first control point is keypoint 0
    expect(Array.from(getControlPoints(kp, 'glasses').slice(0, 2))).toEqual([kp[0], kp[1]]);
    expect(isAlignedClass('hair')).toBe(true);
    expect(isAlignedClass('scarf')).toBe(false);
  });
});

describe('fitAttribute (the CLI\'s use of the aligner)', () => {
  const portrait = (keypoints: number[], masks: Record<string, Float32Array>, w: number, h: number): AlignedPortrait => ({
    image: Float32Array.from({ length: 3 * w * h }, (_, i) => (i % 7) / 7), keypoints: Float32Array.from(keypoints), masks,
    transform: [1, 0, 0, 0, 1, 0], keypointSource: 'sidecar', maskSource: 'sidecar',
  });

  it('warps the attribute onto the identity by keypoints, and keeps the template alignment without usable ones', async () => {
    const c = cases.find((x) => x.class === 'hair')!;
    const [w, h] = c.size;
    const donor = await mask('hair.donor-mask.png');
    const attr = portrait(c.donor_keypoints, { hair: donor }, w, h);
    const fitted = fitAttribute(attr, portrait(c.identity_keypoints, {}, w, h), 'hair', w, h);
    expect(fitted.aligner).toBe('keypoints');
    expect(iou(fitted.mask, await mask('hair.aligned-mask.png'))).toBeGreaterThan(0.98);
    const broken = c.identity_keypoints.map((v, i) => (i === 5 ? Number.NaN : v));
    const kept = fitAttribute(attr, portrait(broken, {}, w, h), 'hair', w, h);
    expect(kept.aligner).toBe('similarity');
    expect(kept.mask).toBe(donor);
    expect(() => fitAttribute(attr, portrait(c.identity_keypoints, {}, w, h), 'hat', w, h)).toThrow(/no hat mask/);
  });
});
