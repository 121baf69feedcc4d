import { MESH_TO_IBUG68 } from '../../src/face/ibug68';
import type { MeshResult } from '../../src/face/mesh';
import type { Detection } from '../../src/face/nms';
import { getRoiFromDetection, getRoiFromLandmarks, type FaceRoi } from '../../src/face/roi';
import { FaceTracker, trackFrames, type FaceModels } from '../../src/face/tracker';
import type { RgbImage } from '../../src/media/pixels';

/** A face at (x, y) with inter-ocular distance 40: mesh points on a small grid around it. */
function meshAt(x: number, y: number, score: number, roi: FaceRoi): MeshResult {
  const points = new Float32Array(468 * 3);
  for (let i = 0; i < 468; i++) {
    points[3 * i] = x + ((i % 20) - 10) * 4;
    points[3 * i + 1] = y + (Math.floor(i / 20) - 12) * 4;
  }
  points.set([x - 20, y, 0], 33 * 3); // outer eye corners, also iBUG 36 / 45
  points.set([x + 20, y, 0], 263 * 3);
  return { points, score, roi };
}

/** Frame i carries its scripted face in `width`: position x, face score, whether the detector sees it. */
type Script = { x: number; score: number; detectable: boolean }[];

function createFakeModels(script: Script) {
  const calls = { detect: [] as number[], mesh: [] as number[] };
  const models: FaceModels = {
    detectFaces(img: RgbImage): Promise<Detection[]> {
      const s = script[img.width]!;
      calls.detect.push(img.width);
      if (!s.detectable) return Promise.resolve([]);
      const keypoints = Float32Array.from([s.x - 20, 100, s.x + 20, 100, 0, 0, 0, 0, 0, 0, 0, 0]);
      return Promise.resolve([{ box: { x: s.x - 50, y: 50, width: 100, height: 100 }, keypoints, score: 0.9 }]);
    },
    detectLandmarks(img: RgbImage, roi: FaceRoi): Promise<MeshResult> {
      calls.mesh.push(img.width);
      const s = script[img.width]!;
      return Promise.resolve(meshAt(s.x, 100, s.score, roi));
    },
    roiFromDetection: (d) => getRoiFromDetection(d),
    roiFromLandmarks: (p) => getRoiFromLandmarks(p),
  };
  return { models, calls };
}

/** A fake frame: its width is its index (the fake models read the script by it). */
const frame = (i: number): RgbImage => ({ data: new Float32Array(0), width: i, height: 1 });

describe('face tracker', () => {
  it('detects on the first frame only while the face score holds', async () => {
    const script: Script = Array.from({ length: 5 }, (_, i) => ({ x: 200 + i, score: 0.99, detectable: true }));
    const { models, calls } = createFakeModels(script);
    const tracker = new FaceTracker(models);
    const out = [];
    for (let i = 0; i < 5; i++) out.push(await tracker.track(frame(i)));
    expect(out.map((f) => f.tracked)).toEqual([true, true, true, true, true]);
    expect(out.map((f) => f.detected)).toEqual([true, false, false, false, false]);
    expect(calls.detect).toEqual([0]);
    expect(calls.mesh).toEqual([0, 1, 2, 3, 4]);
    expect(out[4]!.mesh!.roi.cx).toBeCloseTo(203 - 2, 0); // ROI from frame 3's landmarks (grid centre is x − 2)
  });

  it('re-detects when the face score drops below 0.5, and reports frames without a face as lost', async () => {
    const script: Script = [
      { x: 200, score: 0.99, detectable: true },
      { x: 200, score: 0.2, detectable: false }, // mesh loses it, detector finds nothing: lost
      { x: 300, score: 0.99, detectable: true }, // no ROI: detect, then track again
      { x: 300, score: 0.4, detectable: true }, // mesh doubts, re-detection, mesh still doubts: lost
      { x: 300, score: 0.95, detectable: true },
    ];
    const { models, calls } = createFakeModels(script);
    const tracker = new FaceTracker(models);
    const out = [];
    for (let i = 0; i < script.length; i++) out.push(await tracker.track(frame(i)));
    expect(out.map((f) => f.tracked)).toEqual([true, false, true, false, true]);
    expect(out.map((f) => f.detected)).toEqual([true, true, true, true, true]);
    expect(calls.detect).toEqual([0, 1, 2, 3, 4]);
    expect(calls.mesh).toEqual([0, 1, 2, 3, 3, 4]);
  });

  it('trackFrames: 68 keypoints per tracked frame, smoothed, null when lost; smoothing restarts after a loss', async () => {
    const script: Script = [
      ...Array.from({ length: 6 }, (_, i) => ({ x: 200 + (i % 2) * 0.4, score: 0.99, detectable: true })), // jittering ±0.2 px
      { x: 0, score: 0.1, detectable: false },
      { x: 400, score: 0.99, detectable: true },
    ];
    const { models } = createFakeModels(script);
    const frames = await trackFrames(models, script.map((_, i) => frame(i)), { fps: 24 });
    expect(frames.map((f) => f.tracked)).toEqual([true, true, true, true, true, true, false, true]);
    expect(frames[6]!.keypoints68).toBeNull();
    const x36 = (f: (typeof frames)[number], raw = false) => (raw ? f.rawKeypoints68 : f.keypoints68)![72]!;
    expect(x36(frames[0]!)).toBe(x36(frames[0]!, true)); // first sample passes through
    const rawSwing = Math.abs(x36(frames[5]!, true) - x36(frames[4]!, true));
    const smoothSwing = Math.abs(x36(frames[5]!) - x36(frames[4]!));
    expect(smoothSwing).toBeLessThan(0.5 * rawSwing);
    expect(x36(frames[7]!)).toBe(x36(frames[7]!, true)); // after the loss: a fresh filter
    expect(frames[7]!.keypoints68![72]).toBeCloseTo(400 - 20, 5);
    const raw = await trackFrames(models, script.map((_, i) => frame(i)), { fps: 24, smoothing: false });
    expect(raw[5]!.keypoints68).toEqual(raw[5]!.rawKeypoints68);
    expect(MESH_TO_IBUG68[36]).toBe(33);
  });
});
