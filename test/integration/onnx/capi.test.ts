import { readFileSync } from 'node:fs';
import path from 'node:path';

import { BoundSession } from '../../../src/onnx/bound-session';
import { OrtCApi } from '../../../src/onnx/capi';
import { fixInputDims, readInputDims } from '../../../src/onnx/fix-dims';
import { SessionSet } from '../../../src/onnx/session-set';
import { DurianPipeline, type RunOptions } from '../../../src/pipeline/durian-pipeline';
import { goldenInputs } from '../pipeline/golden-inputs';
import { unetFeeds } from './unet-feeds';

const MODEL = path.resolve(__dirname, '..', '..', 'fixtures', 'onnx-tiny');
const TIMEOUT_MS = 180_000;

const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

describe('ONNX Runtime C API with IOBinding (capi.ts)', () => {
  const bytes = new Uint8Array(readFileSync(path.join(MODEL, 'unet.onnx')));
  const declared = readInputDims(bytes);
  const sizes = { batch: 2, frames: 3, groups: 1, attributes: 1 };

  it('reaches the runtime onnxruntime-node ships', () => {
    const a = OrtCApi.availability();
    expect(a).toEqual({ available: true, version: '1.30.0' });
  });

  it('gives the plain binding\'s outputs, copies only new feeds, and checks what it is fed', async () => {
    const plain = await SessionSet.create(MODEL, { executionProviders: ['cpu'], graphs: ['unet'] });
    const bound = BoundSession.create(fixInputDims(bytes, sizes), { provider: 'cpu' });
    try {
      expect(bound.inputNames).toEqual(Object.keys(declared));
      expect(bound.outputNames).toEqual(['out_sample']);
      const feeds = unetFeeds(declared, sizes, 3);
      const want = (await plain.run('unet', feeds)).out_sample!;
      const got = (await bound.run(feeds, { out_sample: want.dims })).out_sample!;
      expect(got.dims).toEqual(want.dims);
      expect(maxDiff(got.data, want.data)).toBeLessThan(1e-5);
      // a new sample array is copied in: the outputs follow it
      const sample = { data: feeds.sample!.data.map((v) => v * 0.5), dims: feeds.sample!.dims };
      const want2 = (await plain.run('unet', { ...feeds, sample })).out_sample!;
      const got2 = (await bound.run({ ...feeds, sample }, { out_sample: want.dims })).out_sample!;
      expect(maxDiff(got2.data, want2.data)).toBeLessThan(1e-5);
      expect(maxDiff(got2.data, got.data)).toBeGreaterThan(1e-3);
      // the same array object is taken to be unchanged (documented): not copied again
      sample.data.fill(0);
      const stale = (await bound.run({ ...feeds, sample }, { out_sample: want.dims })).out_sample!;
      expect(maxDiff(stale.data, got2.data)).toBe(0);
      expect(bound.runCount).toBe(3);
      await expect(bound.run({ sample: feeds.sample! }, { out_sample: want.dims })).rejects.toThrow(/feeds do not match the graph \(missing: timestep/);
      await expect(bound.run(feeds, {})).rejects.toThrow(/no shape given for output "out_sample"/);
      await expect(bound.run({ ...feeds, timestep: { data: new Float32Array(3), dims: [2] } }, { out_sample: want.dims }))
        .rejects.toThrow(/feed "timestep" has 3 values/);
    } finally {
      bound.release();
      await plain.release();
    }
    await expect(bound.run({}, {})).rejects.toThrow(/released/);
  }, TIMEOUT_MS);

  it('reports a model it cannot load as a provider error', () => {
    expect(() => BoundSession.create(Uint8Array.from([1, 2, 3]), { provider: 'cpu' })).toThrow(/could not create a bound session on cpu/);
  });

  it('runs the whole pipeline\'s UNet bound, to the same frames', async () => {
    const frames = 5;
    const options: RunOptions = { numInferenceSteps: 3, guidanceScale: 2.5, seed: 9, scheduler: 'ddim', window: 3, overlap: 1 };
    const run = async (ioBinding: boolean) => {
      const p = await DurianPipeline.fromModelDir(MODEL, { executionProviders: ['cpu'], ioBinding });
      try {
        const out = await p.run(goldenInputs(p, frames), options);
        return { frames: out.frames, bound: p.sessions.boundGraphs() };
      } finally {
        await p.release();
      }
    };
    const plain = await run(false);
    const bound = await run(true);
    expect(plain.bound).toEqual({});
    expect(bound.bound.unet!.made.length).toBeGreaterThan(0);
    expect(bound.bound.unet!.failed).toEqual({});
    expect(bound.frames.length).toBe(plain.frames.length);
    for (let i = 0; i < plain.frames.length; i++) expect(maxDiff(bound.frames[i]!, plain.frames[i]!)).toBeLessThan(1e-4);
  }, TIMEOUT_MS);
});
