import { readFileSync } from 'node:fs';
import path from 'node:path';

import { TENSOR_FLOAT16 } from '../../../src/onnx/attention-graph';
import { float16Bits, float16Value } from '../../../src/onnx/float16';
import { readInputDims } from '../../../src/onnx/fix-dims';
import { fuseAttention } from '../../../src/onnx/fuse-attention';
import { createFloat16Tensor, createInferenceSession } from '../../../src/onnx/runtime';
import { SessionSet } from '../../../src/onnx/session-set';
import type { FloatArray } from '../../../src/onnx/tensor';
import { attentionFeeds, attentionModel, ATTENTION_SHAPES, type AttentionModelShapes } from './attention-model';
import { unetFeeds } from './unet-feeds';

const MODEL = path.resolve(__dirname, '..', '..', 'fixtures', 'onnx-tiny');
const TIMEOUT_MS = 120_000;

// The fused kernel computes the same function with its sums in another order (the softmax in tiles
// with a running maximum, the bias inside the dot product), so outputs match the exported graph to
// float32 rounding, not bit for bit. A reordered float32 sum of n terms moves by a few n·2⁻²⁴ of
// its terms' magnitude at worst; the shipped UNet (3,072 keys, 14 blocks) moved by 2.5e-6 of an
// output range of 2. 1e-4 of the output's range leaves room for that and is still 40× below one
// step of an 8-bit pixel (1/255).
const TOLERANCE = 1e-4;

function maxDiff(a: FloatArray, b: FloatArray): { diff: number; range: number } {
  let diff = 0, range = 0;
  a.data.forEach((v, i) => {
    diff = Math.max(diff, Math.abs(v - b.data[i]!));
    range = Math.max(range, Math.abs(b.data[i]!));
  });
  return { diff, range };
}

describe('fused attention (tiny model)', () => {
  const unet = new Uint8Array(readFileSync(path.join(MODEL, 'unet.onnx')));
  const declared = readInputDims(unet);

  it('fuses every attention block of the exported UNet and finds none in a graph without attention', () => {
    const { model, blocks } = fuseAttention(unet);
    expect(blocks).toBe(10);
    expect(readInputDims(model)).toEqual(declared);
    const pose = new Uint8Array(readFileSync(path.join(MODEL, 'pose_guider.onnx')));
    expect(fuseAttention(pose)).toEqual({ model: pose, blocks: 0 });
    expect(() => fuseAttention(Uint8Array.from([0x3a, 0xff]))).toThrow(/not a readable ONNX model/);
  });

  it.each([
    ['fixed shapes, one group of one attribute', true, { batch: 1, frames: 4, groups: 1, attributes: 1 }, 'ones'],
    ['fixed shapes, batch 2, a member left out (bias −1e4 on its keys)', true, { batch: 2, frames: 3, groups: 1, attributes: 2 }, 'one out'],
    ['dynamic shapes, two groups blended (interpolation)', false, { batch: 1, frames: 5, groups: 2, attributes: 2 }, 'groups'],
  ] as const)('matches the exported UNet to float32 rounding: %s', async (_, fixed, sizes, members) => {
    const fixedShapes = fixed ? ['unet'] : [];
    const plain = await SessionSet.create(MODEL, { executionProviders: ['cpu'], graphs: ['unet'], fixedShapes });
    const fused = await SessionSet.create(MODEL, { executionProviders: ['cpu'], graphs: ['unet'], fixedShapes,
      fuseAttention: ['unet'], chunkAttention: ['unet'] });
    try {
      expect(fused.fusedAttention()).toEqual({ unet: 10 });
      // every block fused: none left for the pieces
      expect(fused.chunkedAttention()).toEqual({});
      const feeds = unetFeeds(declared, sizes, 17);
      const m = feeds.members!.data, w = feeds.weights!.data;
      // members [batch, groups, attributes], weights [batch, frames, groups]
      if (members === 'one out') m.forEach((_, i) => (m[i] = i % 2));
      if (members === 'groups') {
        m.set([1, 0, 0, 1]);
        w.forEach((_, i) => (w[i] = i % 2 ? 0.3 : 0.7));
      }
      const a = (await plain.run('unet', feeds)).out_sample!;
      const b = (await fused.run('unet', feeds)).out_sample!;
      expect(b.dims).toEqual(a.dims);
      const { diff, range } = maxDiff(b, a);
      expect(range).toBeGreaterThan(0.1);
      expect(diff).toBeLessThan(TOLERANCE * range);
      if (fixed) expect((await fused.fixedShapes('unet')).fallbacks).toEqual({});
    } finally {
      await plain.release();
      await fused.release();
    }
  }, TIMEOUT_MS);
});

describe('fused attention with head sizes padded to 8 (the CUDA layout), tiny UNet', () => {
  it('matches the exported UNet to float32 rounding', async () => {
    const declared = readInputDims(new Uint8Array(readFileSync(path.join(MODEL, 'unet.onnx'))));
    const plain = await SessionSet.create(MODEL, { executionProviders: ['cpu'], graphs: ['unet'] });
    const fused = await SessionSet.create(MODEL, { executionProviders: ['cpu'], graphs: ['unet'],
      fuseAttention: ['unet'], fuseAttentionOptions: { padHeadTo: 8 } });
    try {
      expect(fused.fusedAttention()).toEqual({ unet: 10 });
      const feeds = unetFeeds(declared, { batch: 2, frames: 3, groups: 1, attributes: 2 }, 17);
      const m = feeds.members!.data;
      m.forEach((_, i) => (m[i] = i % 2));
      const a = (await plain.run('unet', feeds)).out_sample!;
      const b = (await fused.run('unet', feeds)).out_sample!;
      const { diff, range } = maxDiff(b, a);
      expect(range).toBeGreaterThan(0.1);
      expect(diff).toBeLessThan(TOLERANCE * range);
    } finally {
      await plain.release();
      await fused.release();
    }
  }, TIMEOUT_MS);
});

describe('fused attention: only where it is certain to compute the same function', () => {
  const run = async (model: Uint8Array, biasName: string, biasDims: number[], shapes: AttentionModelShapes = ATTENTION_SHAPES) => {
    const session = await createInferenceSession(model, ['cpu']);
    try {
      // a bias of ±8: far from a mask, so that it shows in every output
      const out = await session.run(attentionFeeds(biasName, biasDims, shapes, 4));
      return { data: out.out!.data as Float32Array, dims: [...out.out!.dims] };
    } finally {
      await session.release();
    }
  };

  it.each([
    ['a per-key bias reshaped to [2, 1, 6]', { reshapeTo: [2, 1, 6] }, 'bias_flat', [2, 6]],
    ['a bias fed as a graph input of declared shape [2, 1, 6]', { input: [2, 1, 6] }, 'bias', [2, 1, 6]],
    ['a bias of one batch entry, [1, 1, 6], broadcast over the batch', { input: [1, 1, 6] }, 'bias', [1, 1, 6]],
  ])('fuses %s, same outputs to float32 rounding', async (_, bias, name, dims) => {
    const model = attentionModel(bias);
    const { model: fused, blocks } = fuseAttention(model);
    expect(blocks).toBe(1);
    const [a, b] = [await run(model, name, dims), await run(fused, name, dims)];
    expect(b.dims).toEqual(a.dims);
    const { diff, range } = maxDiff(b, a);
    expect(diff).toBeLessThan(TOLERANCE * range);
  });

  it.each([
    ['Q/K of head size 4 with the bias column (5 → 8), V of 3 (→ 8)', 8, ATTENTION_SHAPES],
    ['Q/K of head size 8 with the bias column (9 → 16), V of 5 (→ 8)', 8, { q: [2, 8, 8], kt: [2, 8, 6], v: [2, 6, 5] }],
    ['padHeadTo 1: nothing padded', 1, ATTENTION_SHAPES],
  ] as [string, number, AttentionModelShapes][])('pads head sizes for CUDA\'s kernels without changing outputs: %s', async (_, padHeadTo, shapes) => {
    const model = attentionModel({ input: [2, 1, 6] }, shapes);
    const { model: fused, blocks } = fuseAttention(model, { padHeadTo });
    expect(blocks).toBe(1);
    const text = Buffer.from(fused).toString('latin1');
    expect(text.includes('q_pad')).toBe(padHeadTo > 1);
    expect(text.includes('v_pad')).toBe(padHeadTo > 1);
    const [a, b] = [await run(model, 'bias', [2, 1, 6], shapes), await run(fused, 'bias', [2, 1, 6], shapes)];
    expect(b.dims).toEqual(a.dims);
    expect(maxDiff(b, a).diff).toBeLessThan(TOLERANCE * maxDiff(b, a).range);
  });

  it.each([
    ['a bias of ±8', 4, 1],
    ['a mask of −4e4, out of float16\'s range once divided by the scale (0.5)', 'mask', 8],
  ] as const)('fuses a float16 graph (a converted export\'s constants are float16 too): %s', async (_, bias, padHeadTo) => {
    const model = attentionModel({ input: [2, 1, 6] }, ATTENTION_SHAPES, TENSOR_FLOAT16);
    const { model: fused, blocks } = fuseAttention(model, { padHeadTo });
    expect(blocks).toBe(1);
    const outputs = async (m: Uint8Array) => {
      const session = await createInferenceSession(m, ['cpu']);
      try {
        const feeds = attentionFeeds('bias', [2, 1, 6], ATTENTION_SHAPES, bias === 'mask' ? 1 : bias, TENSOR_FLOAT16);
        if (bias === 'mask') {
          // batch entry 0: keys whose smooth value is negative get −4e4, the others 0; entry 1: every
          // key −4e4 (uniform weights in the exported graph; NaN if the column ran to −Infinity)
          const smooth = attentionFeeds('bias', [2, 1, 6]).bias!.data as Float32Array;
          feeds.bias = createFloat16Tensor(Uint16Array.from(smooth, (x, i) => float16Bits(x < 0 || i >= 6 ? -4e4 : 0)), [2, 1, 6]);
        }
        const out = (await session.run(feeds)).out!;
        expect(out.type).toBe('float16');
        return { data: Float32Array.from(out.data as Uint16Array, float16Value), dims: [...out.dims] };
      } finally {
        await session.release();
      }
    };
    const [a, b] = [await outputs(model), await outputs(fused)];
    expect(b.dims).toEqual(a.dims);
    expect(b.data.every(Number.isFinite)).toBe(true);
    // float16 keeps 11 significant bits: outputs of range ~2 may differ by a few of its steps (2⁻¹⁰)
    const { diff, range } = maxDiff(b, a);
    expect(range).toBeGreaterThan(0.5);
    expect(diff).toBeLessThan(4 * 2 ** -10 * range);
  });

  it('float16Bits rounds to the nearest half, ties to even, and float16Value reads it back', () => {
    expect([1, -2, 0.5, 65504, 1e5, -1e5, 2 ** -24, 0].map(float16Bits)).toEqual([0x3c00, 0xc000, 0x3800, 0x7bff, 0x7c00, 0xfc00, 0x0001, 0]);
    expect(float16Bits(1 + 2 ** -11)).toBe(0x3c00); // a tie: to the even mantissa
    expect(float16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    for (const x of [0.1, -3.14159, 1234.5, 6e-5, 1e-7]) expect(Math.abs(float16Value(float16Bits(x)) - x)).toBeLessThanOrEqual(Math.abs(x) * 2 ** -11 + 2 ** -25);
    expect(float16Value(0x7e00)).toBeNaN();
  });

  it('refuses a padHeadTo that is not a whole number ≥ 1', () => {
    expect(() => fuseAttention(attentionModel({ input: [2, 1, 6] }), { padHeadTo: 0 })).toThrow(/padHeadTo/);
  });

  it('fuses 4-D attention whose leading dimensions agree', async () => {
    const shapes = { q: [2, 3, 8, 4], kt: [2, 3, 4, 6], v: [2, 3, 6, 5] };
    const model = attentionModel({ input: [2, 1, 1, 6] }, shapes);
    const { model: fused, blocks } = fuseAttention(model);
    expect(blocks).toBe(1);
    const [a, b] = [await run(model, 'bias', [2, 1, 1, 6], shapes), await run(fused, 'bias', [2, 1, 1, 6], shapes)];
    expect(b.dims).toEqual([2, 3, 8, 5]);
    expect(maxDiff(b, a).diff).toBeLessThan(TOLERANCE * maxDiff(b, a).range);
  });

  it.each([
    ['a bias that varies along the queries, [2, 8, 6]', { input: [2, 8, 6] }, ATTENTION_SHAPES],
    ['Q of unknown rank (declared without a shape)', { reshapeTo: [2, 1, 6] }, { ...ATTENTION_SHAPES, q: null }],
    ['a bias of another rank than the scores, [1, 6]', { input: [1, 6] }, ATTENTION_SHAPES],
    ['Kᵀ broadcast over the batch, [1, 4, 6]', { input: [2, 1, 6] }, { ...ATTENTION_SHAPES, kt: [1, 4, 6] }],
    ['V broadcast over the batch, [1, 6, 3]', { input: [2, 1, 6] }, { ...ATTENTION_SHAPES, v: [1, 6, 3] }],
  ])('leaves %s as exported', (_, bias, shapes) => {
    const model = attentionModel(bias, shapes);
    expect(fuseAttention(model)).toEqual({ model, blocks: 0 });
  });
});
