import {
  createAnchors, decodeDetections, DETECTOR_NUM_COORDS, getLetterbox, mapDetectionToImage, normalizeDetections,
} from '../../src/face/detector';
import { getIou, suppressPlain, suppressWeighted, type Detection } from '../../src/face/nms';

const box = (x: number, y: number, width: number, height: number) => ({ x, y, width, height });
const det = (b: ReturnType<typeof box>, score: number, kp = 0): Detection => ({ box: b, score, keypoints: new Float32Array(12).fill(kp) });

describe('BlazeFace anchors', () => {
  const anchors = createAnchors();

  it('has 896 anchors: 16×16×2 then 8×8×6, centres at (x + ½) / grid', () => {
    expect(anchors.length / 2).toBe(896);
    expect([anchors[0], anchors[1], anchors[2], anchors[3]]).toEqual([0.5 / 16, 0.5 / 16, 0.5 / 16, 0.5 / 16]); // 2 anchors, cell (0, 0)
    expect([anchors[4], anchors[5]]).toEqual([1.5 / 16, 0.5 / 16]); // next cell along x
    expect([anchors[2 * 511], anchors[2 * 511 + 1]]).toEqual([15.5 / 16, 15.5 / 16]); // last of the 16×16 layer
    expect([anchors[2 * 512], anchors[2 * 512 + 1]]).toEqual([0.5 / 8, 0.5 / 8]); // first of the 8×8 layer
    expect([anchors[2 * 518], anchors[2 * 518 + 1]]).toEqual([1.5 / 8, 0.5 / 8]); // 6 per cell
    expect([anchors[2 * 895], anchors[2 * 895 + 1]]).toEqual([7.5 / 8, 7.5 / 8]);
  });
});

describe('decoding', () => {
  const anchors = createAnchors();
  const n = anchors.length / 2;

  it('adds offsets / 128 to the anchor, takes sizes / 128, sigmoid scores, drops low scores', () => {
    const reg = new Float32Array(n * DETECTOR_NUM_COORDS);
    const logits = new Float32Array(n).fill(-10);
    const i = 600; // an 8×8-layer anchor
    logits[i] = 2;
    reg.set([6.4, -12.8, 32, 64, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], i * DETECTOR_NUM_COORDS);
    const [d, ...rest] = decodeDetections(reg, logits, anchors);
    expect(rest).toHaveLength(0);
    const ax = anchors[2 * i]!, ay = anchors[2 * i + 1]!;
    expect(d!.score).toBeCloseTo(1 / (1 + Math.exp(-2)), 6);
    expect(d!.box.x + d!.box.width / 2).toBeCloseTo(ax + 0.05, 6);
    expect(d!.box.y + d!.box.height / 2).toBeCloseTo(ay - 0.1, 6);
    expect(d!.box.width).toBeCloseTo(0.25, 6);
    expect(d!.box.height).toBeCloseTo(0.5, 6);
    expect(d!.keypoints[0]).toBeCloseTo(ax + 1 / 128, 6);
    expect(d!.keypoints[11]).toBeCloseTo(ay + 12 / 128, 6);
  });

  it('rejects outputs that do not match the anchors', () => {
    expect(() => decodeDetections(new Float32Array(16), new Float32Array(1), anchors)).toThrow(/896 anchors/);
  });

  it('maps input-square detections back through the letterbox', () => {
    const m = getLetterbox(400, 200, 128); // scale 0.32, padded 32 px above and below
    expect(m).toEqual([0.32, 0, 0, 0, 0.32, 32]);
    const d = mapDetectionToImage(det(box(0.25, 0.5, 0.5, 0.25), 0.9, 0.5), m);
    expect(d.box.x).toBeCloseTo(100, 4);
    expect(d.box.y).toBeCloseTo((64 - 32) / 0.32, 4);
    expect(d.box.width).toBeCloseTo(200, 4);
    expect(d.box.height).toBeCloseTo(100, 4);
    expect(d.keypoints[0]).toBeCloseTo(200, 4);
    expect(d.keypoints[1]).toBeCloseTo(100, 4);
  });

  it('decodes, suppresses and maps in one call (two overlapping anchors → one face)', () => {
    const reg = new Float32Array(n * DETECTOR_NUM_COORDS);
    const logits = new Float32Array(n).fill(-10);
    for (const i of [512 + 6 * 27, 512 + 6 * 27 + 1]) {
      logits[i] = 3;
      reg.set([0, 0, 40, 40], i * DETECTOR_NUM_COORDS);
    }
    const faces = normalizeDetections(reg, logits, anchors, getLetterbox(128, 128, 128));
    expect(faces).toHaveLength(1);
    expect(faces[0]!.box.width).toBeCloseTo(40, 4);
  });
});

describe('non-maximum suppression', () => {
  it('computes IoU', () => {
    expect(getIou(box(0, 0, 2, 2), box(1, 1, 2, 2))).toBeCloseTo(1 / 7, 6);
    expect(getIou(box(0, 0, 1, 1), box(2, 2, 1, 1))).toBe(0);
    expect(getIou(box(0, 0, 1, 1), box(0, 0, 1, 1))).toBe(1);
  });

  it('weighted: merges overlapping boxes by score, keeps the best score, leaves separate faces alone', () => {
    const out = suppressWeighted([det(box(0, 0, 10, 10), 0.6, 2), det(box(1, 0, 10, 10), 0.9, 1), det(box(50, 50, 10, 10), 0.7, 5)], 0.3);
    expect(out).toHaveLength(2);
    expect(out[0]!.score).toBe(0.9);
    expect(out[0]!.box.x).toBeCloseTo((0.9 * 1 + 0.6 * 0) / 1.5, 6);
    expect(out[0]!.keypoints[3]).toBeCloseTo((0.9 * 1 + 0.6 * 2) / 1.5, 6);
    expect(out[1]!.box.x).toBe(50);
  });

  it('plain: keeps the best of overlapping boxes unchanged', () => {
    const out = suppressPlain([det(box(0, 0, 10, 10), 0.6), det(box(1, 0, 10, 10), 0.9), det(box(50, 50, 10, 10), 0.7)], 0.3);
    expect(out.map((d) => d.score)).toEqual([0.9, 0.7]);
    expect(out[0]!.box.x).toBe(1);
  });
});
