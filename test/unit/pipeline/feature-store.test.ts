import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { FrameFeatureWriter } from '../../../src/pipeline/feature-store';
import { sliceFrames } from '../../../src/pipeline/latents';

const C = 3, F = 7, HW = 5;

/** Frame-major [F][C·hw] values, and the same as [1, C, F, hw]. */
function features(): { frameMajor: Float32Array; channelMajor: Float32Array } {
  const frameMajor = new Float32Array(F * C * HW).map((_, i) => Math.sin(i) * 1e3);
  const channelMajor = new Float32Array(C * F * HW);
  for (let f = 0; f < F; f++) for (let c = 0; c < C; c++) channelMajor.set(frameMajor.subarray((f * C + c) * HW, (f * C + c + 1) * HW), (c * F + f) * HW);
  return { frameMajor, channelMajor };
}

describe('FrameFeatureWriter', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(path.join(tmpdir(), 'durian-features-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it.each([['memory', Infinity], ['file', 0]] as const)('%s: every window is the slice of the whole, added in uneven pieces', (where, spill) => {
    const { frameMajor, channelMajor } = features();
    const writer = new FrameFeatureWriter(C, F, HW, spill, dir);
    for (const [a, b] of [[0, 3], [3, 4], [4, 7]] as const) writer.add(frameMajor.slice(a * C * HW, b * C * HW));
    const store = writer.finish();
    expect(store).toMatchObject({ where, channels: C, frames: F });
    // an unlinked file: nothing to see in the directory, even before close
    expect(readdirSync(dir)).toEqual([]);
    for (const [f0, n] of [[0, F], [2, 3], [6, 1], [4, 0]] as const) expect(store.window(f0, n)).toEqual(sliceFrames(channelMajor, C, F, HW, f0, n));
    expect(() => store.window(5, 3)).toThrow(RangeError);
    store.close();
  });

  it('keeps the features in memory when no file can be made there, and refuses pieces that are not whole frames', () => {
    const writer = new FrameFeatureWriter(C, F, HW, 0, path.join(dir, 'missing'));
    expect(() => writer.add(new Float32Array(C * HW + 1))).toThrow(RangeError);
    writer.add(features().frameMajor);
    expect(writer.finish().where).toBe('memory');
    const short = new FrameFeatureWriter(C, F, HW, 0, dir);
    short.add(features().frameMajor.slice(0, C * HW));
    expect(() => short.finish()).toThrow(/1 of 7 frames/);
    short.close();
  });
});
