import { readFileSync } from 'node:fs';
import path from 'node:path';

import { bindDims, fixInputDims, readInputDims } from '../../../src/onnx/fix-dims';
import { SessionSet } from '../../../src/onnx/session-set';
import { unetFeeds } from './unet-feeds';

const MODEL = path.resolve(__dirname, '..', '..', 'fixtures', 'onnx-tiny');
const TIMEOUT_MS = 120_000;

describe('fixed input dimensions', () => {
  const bytes = new Uint8Array(readFileSync(path.join(MODEL, 'unet.onnx')));
  const declared = readInputDims(bytes);

  it('reads the symbolic dimensions the exporter wrote and fixes only the named ones', () => {
    expect(declared.sample).toEqual(['batch', 4, 'frames', expect.any(Number), expect.any(Number)]);
    const fixed = readInputDims(fixInputDims(bytes, { batch: 2, frames: 3, unknown: 7 }));
    expect(fixed.sample).toEqual([2, 4, 3, declared.sample![3], declared.sample![4]]);
    expect(fixed.members).toEqual([2, 'groups', 'attributes']);
    expect(Object.keys(fixed)).toEqual(Object.keys(declared));
    expect(() => fixInputDims(bytes, { batch: 0 })).toThrow(/positive integer/);
    expect(() => readInputDims(Uint8Array.from([0x0a, 0xff]))).toThrow(/not a readable ONNX model/);
  });

  it('binds the symbolic names from the feeds, or gives up when they disagree', () => {
    const feeds = unetFeeds(declared, { batch: 1, frames: 2, groups: 1, attributes: 1 }, 1);
    expect(bindDims(declared, feeds)).toEqual({ batch: 1, frames: 2, groups: 1, attributes: 1 });
    const clash = { ...feeds, weights: { data: new Float32Array(3), dims: [1, 3, 1] } };
    expect(bindDims(declared, clash)).toBeNull();
  });

  it('gives the dynamic graph\'s outputs, for each new shape its own session', async () => {
    const dynamic = await SessionSet.create(MODEL, { executionProviders: ['cpu'], graphs: ['unet'] });
    const fixed = await SessionSet.create(MODEL, { executionProviders: ['cpu'], graphs: ['unet'], fixedShapes: ['unet'] });
    try {
      expect(fixed.fixedShapeGraphs).toEqual(['unet']);
      for (const [k, sizes] of [{ batch: 1, frames: 2 }, { batch: 2, frames: 3 }, { batch: 1, frames: 2 }].entries()) {
        const feeds = unetFeeds(declared, { ...sizes, groups: 1, attributes: 1 }, 7 + k);
        const a = (await dynamic.run('unet', feeds)).out_sample!;
        const b = (await fixed.run('unet', feeds)).out_sample!;
        expect(b.dims).toEqual(a.dims);
        let max = 0;
        for (let i = 0; i < a.data.length; i++) max = Math.max(max, Math.abs(a.data[i]! - b.data[i]!));
        expect(max).toBeLessThan(1e-4);
      }
      expect(await fixed.fixedShapes('unet')).toEqual({
        made: ['attributes=1,batch=1,frames=2,groups=1', 'attributes=1,batch=2,frames=3,groups=1'], fallbacks: {},
      });
      await expect(fixed.run('unet', { sample: { data: new Float32Array(1), dims: [1] } })).rejects.toThrow(/feeds do not match/);
    } finally {
      await dynamic.release();
      await fixed.release();
    }
  }, TIMEOUT_MS);
});
