import { readFileSync } from 'node:fs';
import path from 'node:path';

import { fitHeadPose, fitRotation3d, getEulerAngles, multiply, rotate, TEMPLATE_68, transpose, type Rotation } from '../../../src/face/head-pose';
import { retargetByDisplacement, retargetKeypoints } from '../../../src/face/retarget';

/** Written by `python -m durian_export.make_retarget_fixtures --out test/fixtures/retarget`. */
const FIXTURE = path.join(__dirname, '..', '..', 'fixtures', 'retarget', 'cases.json');

interface RetargetDoc {
  poses: { yaw: number; pitch: number; roll: number; tx: number; ty: number; scale: number }[];
  cases: { identity_index: number; driver_index: number; identity: number[]; driver: number[][]; truth: number[][] }[];
}
const doc = JSON.parse(readFileSync(FIXTURE, 'utf8')) as RetargetDoc;

/** SynthPortrait's rotation R = Rz(roll) · Rx(pitch) · Ry(yaw). */
function euler(yaw: number, pitch: number, roll: number): Rotation {
  const [cy, sy, cp, sp, cr, sr] = [Math.cos(yaw), Math.sin(yaw), Math.cos(pitch), Math.sin(pitch), Math.cos(roll), Math.sin(roll)];
  const ry = [cy, 0, sy, 0, 1, 0, -sy, 0, cy];
  const rx = [1, 0, 0, 0, cp, sp, 0, -sp, cp];
  const rz = [cr, -sr, 0, sr, cr, 0, 0, 0, 1];
  return multiply(rz, multiply(rx, ry));
}

/** Inter-ocular distance (eye centres) over eye-line-to-chin distance. */
export function getProportion(kp: ArrayLike<number>): number {
  const centre = (a: number) => [0, 1].map((d) => Array.from({ length: 6 }, (_, i) => kp[2 * (a + i) + d]!).reduce((s, v) => s + v, 0) / 6);
  const [rx, ry] = centre(36), [lx, ly] = centre(42);
  const mx = (rx! + lx!) / 2, my = (ry! + ly!) / 2;
  return Math.hypot(lx! - rx!, ly! - ry!) / Math.hypot(kp[16]! - mx, kp[17]! - my);
}

describe('head pose', () => {
  it('recovers a known scaled-orthographic pose of the template', () => {
    const R = euler(0.4, -0.2, 0.15);
    const kp = new Float64Array(136);
    for (let i = 0; i < 68; i++) {
      const [x, y] = rotate(R, TEMPLATE_68[3 * i]!, TEMPLATE_68[3 * i + 1]!, TEMPLATE_68[3 * i + 2]!);
      kp[2 * i] = 60 * x + 128;
      kp[2 * i + 1] = 60 * y + 120;
    }
    const pose = fitHeadPose(kp, TEMPLATE_68, TEMPLATE_68); // a rigid template: exact
    expect(pose.scale).toBeCloseTo(60, 3);
    expect(pose.translation[0]).toBeCloseTo(128, 3);
    const a = getEulerAngles(pose.rotation);
    expect(a.yaw).toBeCloseTo(0.4, 4);
    expect(a.pitch).toBeCloseTo(-0.2, 4);
    expect(a.roll).toBeCloseTo(0.15, 4);
  });

  it('recovers a known rotation and scale between 3-D point sets', () => {
    const R = euler(-0.3, 0.25, 0.1);
    const b = new Float64Array(TEMPLATE_68.length);
    for (let i = 0; i < 68; i++) b.set(rotate(R, TEMPLATE_68[3 * i]!, TEMPLATE_68[3 * i + 1]!, TEMPLATE_68[3 * i + 2]!).map((v) => 2 * v + 5), 3 * i);
    const fit = fitRotation3d(TEMPLATE_68, b);
    expect(fit.scale).toBeCloseTo(2, 6);
    fit.rotation.forEach((v, i) => expect(v).toBeCloseTo(R[i]!, 6));
  });

  it('reads the rotations of SynthPortrait drivers from their 2-D keypoints', () => {
    for (const c of doc.cases) {
      const p0 = fitHeadPose(c.driver[0]!);
      doc.poses.forEach((want, f) => {
        const rel = getEulerAngles(multiply(fitHeadPose(c.driver[f]!).rotation, transpose(p0.rotation)));
        expect(Math.abs(rel.yaw - want.yaw)).toBeLessThan(0.1);
        expect(Math.abs(rel.pitch - want.pitch)).toBeLessThan(0.1);
        expect(Math.abs(rel.roll - want.roll)).toBeLessThan(0.05);
      });
    }
  });
});

describe('retargeting', () => {
  it('gives the identity as it is on the first frame', () => {
    const c = doc.cases[0]!;
    const out = retargetKeypoints(c.identity, c.driver);
    out[0]!.forEach((v, i) => expect(v).toBeCloseTo(c.identity[i]!, 2));
    expect(retargetKeypoints(c.identity, [])).toEqual([]);
  });

  it('keeps the identity\'s proportions under the driver\'s head rotation (issue 17: within 5 %)', () => {
    const rows: string[] = [];
    let worst = 0, worstOld = 0, sum = 0, sumOld = 0, count = 0;
    for (const c of doc.cases) {
      const moved = retargetKeypoints(c.identity, c.driver);
      const old = retargetByDisplacement(c.identity, c.driver);
      doc.poses.forEach((pose, f) => {
        const truth = getProportion(c.truth[f]!);
        const err = Math.abs(getProportion(moved[f]!) / truth - 1);
        const errOld = Math.abs(getProportion(old[f]!) / truth - 1);
        worst = Math.max(worst, err);
        worstOld = Math.max(worstOld, errOld);
        sum += err;
        sumOld += errOld;
        count++;
        rows.push(`${c.identity_index}<-${c.driver_index} ${JSON.stringify(pose)} rigid ${(100 * err).toFixed(2)} % displacement ${(100 * errOld).toFixed(2)} %`);
      });
    }
    if (process.env.DURIAN_REPORT) {
      console.log(rows.join('\n') + `\nworst: rigid ${(100 * worst).toFixed(2)} %, displacement ${(100 * worstOld).toFixed(2)} %`
        + `\nmean: rigid ${(100 * sum / count).toFixed(2)} %, displacement ${(100 * sumOld / count).toFixed(2)} %`);
    }
    expect(worst).toBeLessThan(0.05);
    expect(sum).toBeLessThan(sumOld); // and closer on average than the 2-D displacement it replaces
  });

  it('takes the rotation from the face mesh\'s 3-D points when the driver has them', () => {
    // a driver made of the template itself, rolled in 3-D; the identity is its first frame
    const R = euler(0, 0, 0.3);
    const frames3d = [euler(0, 0, 0), R].map((rot) => {
      const p = new Float64Array(204);
      for (let i = 0; i < 68; i++) p.set(rotate(rot, TEMPLATE_68[3 * i]!, TEMPLATE_68[3 * i + 1]!, TEMPLATE_68[3 * i + 2]!).map((v) => 50 * v + 100), 3 * i);
      return p;
    });
    const frames2d = frames3d.map((p) => Float64Array.from({ length: 136 }, (_, j) => p[3 * Math.floor(j / 2) + (j % 2)]!));
    const out = retargetKeypoints(frames2d[0]!, frames2d, { driving3d: frames3d });
    out[1]!.forEach((v, j) => expect(v).toBeCloseTo(frames2d[1]![j]!, 2));
  });
});
