import { applyAffine } from '../../src/face/align';
import { MESH_NUM_POINTS, normalizeMeshOutput, prepareMeshInput } from '../../src/face/mesh';
import { getRoiFromDetection, getRoiFromLandmarks, getRoiTransform, mapCropPointsToImage } from '../../src/face/roi';

describe('face ROI', () => {
  it('from a detection: box centre, 1.5× the longer side, rotation of the eye line', () => {
    const keypoints = Float32Array.from([40, 50, 60, 60, 0, 0, 0, 0, 0, 0, 0, 0]);
    const roi = getRoiFromDetection({ box: { x: 20, y: 30, width: 60, height: 40 }, keypoints, score: 1 });
    expect(roi).toEqual({ cx: 50, cy: 50, size: 90, angle: Math.atan2(10, 20) });
  });

  it('from landmarks: recovers centre, rotation and size of a rotated point set', () => {
    const angle = 0.4, cx = 120, cy = 80;
    const pts = new Float32Array(3 * MESH_NUM_POINTS);
    // a 40×60 (u × v) rectangle of points rotated by `angle`; 33 and 263 on the u axis
    for (let i = 0; i < MESH_NUM_POINTS; i++) {
      const u = ((i % 9) / 8 - 0.5) * 40, v = (Math.floor(i / 9) / 51 - 0.5) * 60;
      pts[3 * i] = cx + Math.cos(angle) * u - Math.sin(angle) * v;
      pts[3 * i + 1] = cy + Math.sin(angle) * u + Math.cos(angle) * v;
    }
    for (const [i, u] of [[33, -15], [263, 15]] as const) {
      pts[3 * i] = cx + Math.cos(angle) * u;
      pts[3 * i + 1] = cy + Math.sin(angle) * u;
    }
    const roi = getRoiFromLandmarks(pts);
    expect(roi.angle).toBeCloseTo(angle, 6);
    expect(roi.cx).toBeCloseTo(cx, 4);
    expect(roi.cy).toBeCloseTo(cy, 4);
    expect(roi.size).toBeCloseTo(60 * 1.5, 4);
  });

  it('crop transform: centre → crop centre, eye line → horizontal, round trip through the inverse', () => {
    const roi = { cx: 100, cy: 60, size: 96, angle: -0.3 };
    const m = getRoiTransform(roi, 192);
    const c = applyAffine(m, [100, 60]);
    expect(c[0]).toBeCloseTo(96, 5);
    expect(c[1]).toBeCloseTo(96, 5);
    const e = applyAffine(m, [100 + Math.cos(-0.3) * 10, 60 + Math.sin(-0.3) * 10]);
    expect(e[0]).toBeCloseTo(96 + 20, 4); // 10 px along the eye line → 20 crop px to the right
    expect(e[1]).toBeCloseTo(96, 4);
    const image = Float32Array.from([10, 20, 0, 150, 90, 3, 77, 31, -2]);
    const crop = new Float32Array(9);
    for (let i = 0; i < 9; i += 3) {
      const p = applyAffine(m, [image[i]!, image[i + 1]!]);
      crop.set([p[0]!, p[1]!, image[i + 2]! * 2], i);
    }
    const back = mapCropPointsToImage(crop, roi, 192);
    back.forEach((v, i) => expect(v).toBeCloseTo(image[i]!, 3)); // z back at image scale too
  });

  it('mesh I/O: the crop shows the ROI; crop-centre landmarks land on the ROI centre', () => {
    const width = 64, height = 48;
    const data = new Float32Array(3 * width * height);
    data[20 * width + 30] = 1; // red dot at pixel (30, 20)
    const roi = { cx: 30.5, cy: 20.5, size: 24, angle: 0 };
    const input = prepareMeshInput({ data, width, height }, roi);
    expect(input).toHaveLength(192 * 192 * 3);
    let best = 0, at = -1;
    for (let i = 0; i < 192 * 192; i++) if (input[3 * i]! > best) { best = input[3 * i]!; at = i; }
    expect(Math.abs((at % 192) - 96)).toBeLessThanOrEqual(4);
    expect(Math.abs(Math.floor(at / 192) - 96)).toBeLessThanOrEqual(4);
    const landmarks = new Float32Array(3 * MESH_NUM_POINTS).fill(96);
    const out = normalizeMeshOutput(landmarks, 0, roi);
    expect(out.score).toBeCloseTo(0.5, 6);
    expect(out.points[0]).toBeCloseTo(30.5, 4);
    expect(out.points[1]).toBeCloseTo(20.5, 4);
    expect(() => normalizeMeshOutput(new Float32Array(10), 0, roi)).toThrow(/1404/);
  });
});
