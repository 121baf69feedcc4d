import { readFileSync } from 'node:fs';
import path from 'node:path';

import { chunkAttention, DEFAULT_CHUNK_ATTENTION } from '../../../src/onnx/chunk-attention';
import { readInputDims } from '../../../src/onnx/fix-dims';
import { createInferenceSession } from '../../../src/onnx/runtime';
import { SessionSet } from '../../../src/onnx/session-set';
import type { FloatArray } from '../../../src/onnx/tensor';
import { attentionFeeds, attentionModel } from './attention-model';
import { unetFeeds } from './unet-feeds';

const MODEL = path.resolve(__dirname, '..', '..', 'fixtures', 'onnx-tiny');
const TIMEOUT_MS = 120_000;

const bitsOf = (a: FloatArray) => Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength);

describe('attention in pieces of query rows (tiny model)', () => {
  const unet = new Uint8Array(readFileSync(path.join(MODEL, 'unet.onnx')));
  const declared = readInputDims(unet);

  it('finds every attention block of the exported UNet and none in a graph without attention', () => {
    // the tiny UNet: a spatial (reference) and a temporal attention per level
    const { model, blocks } = chunkAttention(unet, { pieces: 4, minRows: 2 });
    expect(blocks).toBe(10);
    expect(model.length).toBeGreaterThan(unet.length);
    expect(readInputDims(model)).toEqual(declared);
    const pose = new Uint8Array(readFileSync(path.join(MODEL, 'pose_guider.onnx')));
    expect(chunkAttention(pose)).toEqual({ model: pose, blocks: 0 });
    expect(chunkAttention(unet, { pieces: 1, minRows: 1 })).toEqual({ model: unet, blocks: 0 });
    expect(() => chunkAttention(unet, { pieces: 0, minRows: 1 })).toThrow(RangeError);
  });

  it.each([
    ['pieces of 16 rows', { pieces: 4, minRows: 16 }],
    ['the default (one piece, empty pieces after it, at this size)', DEFAULT_CHUNK_ATTENTION],
    ['uneven pieces', { pieces: 3, minRows: 5 }],
  ])('gives bit-identical UNet outputs: %s', async (_, options) => {
    const plain = await SessionSet.create(MODEL, { executionProviders: ['cpu'], graphs: ['unet'], fixedShapes: ['unet'] });
    const chunked = await SessionSet.create(MODEL, { executionProviders: ['cpu'], graphs: ['unet'], fixedShapes: ['unet'],
      chunkAttention: ['unet'], chunkAttentionOptions: options });
    try {
      expect(plain.chunkedAttention()).toEqual({});
      expect(chunked.chunkedAttention()).toEqual({ unet: 10 });
      for (const [k, sizes] of [{ batch: 1, frames: 4 }, { batch: 2, frames: 3 }].entries()) {
        const feeds = unetFeeds(declared, { ...sizes, groups: 1, attributes: 2 }, 11 + k);
        const a = (await plain.run('unet', feeds)).out_sample!;
        const b = (await chunked.run('unet', feeds)).out_sample!;
        expect(b.dims).toEqual(a.dims);
        expect(bitsOf(b).equals(bitsOf(a))).toBe(true);
      }
      expect((await chunked.fixedShapes('unet')).fallbacks).toEqual({});
    } finally {
      await plain.release();
      await chunked.release();
    }
  }, TIMEOUT_MS);

  it('is bit-identical on a dynamic-shape session too', async () => {
    const plain = await SessionSet.create(MODEL, { executionProviders: ['cpu'], graphs: ['unet'] });
    const chunked = await SessionSet.create(MODEL, { executionProviders: ['cpu'], graphs: ['unet'], chunkAttention: ['unet'],
      chunkAttentionOptions: { pieces: 4, minRows: 8 } });
    try {
      const feeds = unetFeeds(declared, { batch: 1, frames: 5, groups: 1, attributes: 1 }, 5);
      expect(bitsOf((await chunked.run('unet', feeds)).out_sample!).equals(bitsOf((await plain.run('unet', feeds)).out_sample!))).toBe(true);
    } finally {
      await plain.release();
      await chunked.release();
    }
  }, TIMEOUT_MS);
});

describe('attention in pieces: only where the bias certainly broadcasts over the queries', () => {
  const run = async (model: Uint8Array, biasName: string, biasDims: number[]) => {
    const session = await createInferenceSession(model, ['cpu']);
    try {
      const out = await session.run(attentionFeeds(biasName, biasDims));
      return Buffer.from((out.out!.data as Float32Array).buffer);
    } finally {
      await session.release();
    }
  };

  it('rewrites a per-key bias reshaped to [2, 1, 6], with bit-identical outputs', async () => {
    const model = attentionModel({ reshapeTo: [2, 1, 6] });
    const { model: chunked, blocks } = chunkAttention(model, { pieces: 3, minRows: 1 });
    expect(blocks).toBe(1);
    expect((await run(chunked, 'bias_flat', [2, 6])).equals(await run(model, 'bias_flat', [2, 6]))).toBe(true);
  }, TIMEOUT_MS);

  it('rewrites a bias fed as a graph input of declared shape [2, 1, 6], with bit-identical outputs', async () => {
    const model = attentionModel({ input: [2, 1, 6] });
    const { model: chunked, blocks } = chunkAttention(model, { pieces: 3, minRows: 1 });
    expect(blocks).toBe(1);
    expect((await run(chunked, 'bias', [2, 1, 6])).equals(await run(model, 'bias', [2, 1, 6]))).toBe(true);
  }, TIMEOUT_MS);

  it.each([
    ['a bias fed as a graph input of [2, 8, 6]', { input: [2, 8, 6] }],
    ['a bias reshaped to a full [2, 8, 6]', { reshapeTo: [2, 8, 6] }],
  ])('leaves %s as exported', (_, bias) => {
    const model = attentionModel(bias);
    expect(chunkAttention(model, { pieces: 3, minRows: 1 })).toEqual({ model, blocks: 0 });
  });
});
