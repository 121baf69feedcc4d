import { applyAffine, estimateSimilarity, invertAffine, warpPlanar } from '../../../src/face/align';
import { getFaceSize, retargetByDisplacement } from '../../../src/face/retarget';

describe('alignment', () => {
  it('recovers a known similarity from points', () => {
    const src = Float32Array.from([10, 10, 50, 12, 30, 40, 25, 60, 44, 33]);
    const angle = 0.3, s = 1.7;
    const m = [s * Math.cos(angle), -s * Math.sin(angle), 5, s * Math.sin(angle), s * Math.cos(angle), -3] as const;
    const dst = applyAffine([...m], src);
    const est = estimateSimilarity(src, dst);
    est.forEach((v, i) => expect(v).toBeCloseTo(m[i]!, 4));
    const back = applyAffine(invertAffine(est), dst);
    back.forEach((v, i) => expect(v).toBeCloseTo(src[i]!, 3));
  });

  it('warps a pixel to where the transform sends it', () => {
    const img = new Float32Array(16 * 16);
    img[5 * 16 + 3] = 1; // pixel (x=3, y=5)
    const out = warpPlanar(img, 1, 16, 16, [1, 0, 4, 0, 1, 2], 16, 16);
    expect(out[7 * 16 + 7]).toBeCloseTo(1, 5);
    expect(out.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
  });
});

describe('displacement retargeting (the baseline)', () => {
  const face = (dx: number, scale: number) => Float32Array.from({ length: 136 }, (_, i) => (i % 2 === 0 ? ((i / 2) % 9) * 4 * scale + dx : Math.floor(i / 18) * 5 * scale));

  it('moves the identity by the driver displacement, scaled by face size', () => {
    const identity = face(0, 1);
    const driver = [face(100, 2), face(110, 2)];
    const out = retargetByDisplacement(identity, driver);
    expect(Array.from(out[0]!)).toEqual(Array.from(identity)); // first frame: the identity as it is
    expect(getFaceSize(driver[0]!) / getFaceSize(identity)).toBeCloseTo(2, 5);
    expect(out[1]![0]! - identity[0]!).toBeCloseTo(5, 4); // 10 px of a twice-as-large face → 5 px
    expect(out[1]![1]! - identity[1]!).toBeCloseTo(0, 5);
  });
});
