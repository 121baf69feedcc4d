import path from 'node:path';

import { DurianPipeline, type RunOptions } from '../../../src/pipeline/durian-pipeline';
import { ORT_DEFAULT_MEMORY, type SessionMemoryOptions } from '../../../src/pipeline/memory';
import { goldenInputs } from './golden-inputs';

const MODEL = path.resolve(__dirname, '..', '..', 'fixtures', 'onnx-tiny');
const TIMEOUT_MS = 180_000;

// several overlapping windows, so that frames are final at different times
const OPTIONS: RunOptions = { numInferenceSteps: 2, guidanceScale: 2.5, seed: 5, scheduler: 'ddim', window: 3, overlap: 1 };
const FRAMES = 7;

const bits = (f: Float32Array) => Buffer.from(f.buffer, f.byteOffset, f.byteLength);

// fused attention reorders float32 sums (test/integration/onnx/fuse-attention.test.ts): frames in
// [0, 1] within 1e-4, 40× below one step of an 8-bit pixel
const FUSED_TOLERANCE = 1e-4;
const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

async function framesOf(memory: Parameters<typeof DurianPipeline.fromModelDir>[1]['memory']): Promise<Float32Array[]> {
  const p = await DurianPipeline.fromModelDir(MODEL, { executionProviders: ['cpu'], memory });
  try {
    return (await p.run(goldenInputs(p, FRAMES), OPTIONS)).frames;
  } finally {
    await p.release();
  }
}

describe('pipeline memory: the same frames however they are held (tiny model, CPU)', () => {
  let reference: Float32Array[];
  let balanced: Float32Array[];

  beforeAll(async () => {
    // how every run went before: ORT's defaults, attention as exported, 8 frames per decoder call
    reference = await framesOf(ORT_DEFAULT_MEMORY);
    balanced = await framesOf('balanced');
  }, TIMEOUT_MS);

  it('the CPU default (fused attention) is within float32 rounding of ORT\'s defaults', () => {
    expect(balanced).toHaveLength(FRAMES);
    balanced.forEach((f, i) => expect(maxDiff(f, reference[i]!)).toBeLessThan(FUSED_TOLERANCE));
  });

  it('streams each frame as it is decoded: the frames a returning run gives, in order, none kept', async () => {
    const p = await DurianPipeline.fromModelDir(MODEL, { executionProviders: ['cpu'] });
    try {
      expect(p.memoryMode).toBe('balanced');
      expect(p.sessions.fusedAttention()).toEqual({ unet: 10 });
      expect(p.sessions.chunkedAttention()).toEqual({});
      const streamed: Float32Array[] = [];
      const order: number[] = [];
      const result = await p.run(goldenInputs(p, FRAMES), {
        ...OPTIONS,
        onFrame: async (frame, i) => {
          order.push(i);
          await new Promise((resolve) => setImmediate(resolve));
          streamed.push(frame);
        },
      });
      expect(result.frames).toEqual([]);
      expect(order).toEqual([...Array(FRAMES).keys()]);
      expect(streamed).toHaveLength(FRAMES);
      streamed.forEach((f, i) => expect(bits(f).equals(bits(balanced[i]!))).toBe(true));
    } finally {
      await p.release();
    }
  }, TIMEOUT_MS);

  it('low (--low-memory): bit-identical frames to the CPU default', async () => {
    const frames = await framesOf('low');
    expect(frames).toHaveLength(FRAMES);
    frames.forEach((f, i) => expect(bits(f).equals(bits(balanced[i]!))).toBe(true));
  }, TIMEOUT_MS);

  it('attention in pieces of 16 rows, 2 frames per decoder call, pose features in a file: bit-identical frames to ORT\'s defaults', async () => {
    const frames = await framesOf({
      mode: 'custom', sessions: { chunkAttention: ['unet'], chunkAttentionOptions: { pieces: 4, minRows: 16 } }, decodeChunk: 2, poseChunk: 3,
      spillBytes: 1024,
    } satisfies SessionMemoryOptions);
    expect(frames).toHaveLength(FRAMES);
    frames.forEach((f, i) => expect(bits(f).equals(bits(reference[i]!))).toBe(true));
  }, TIMEOUT_MS);
});
