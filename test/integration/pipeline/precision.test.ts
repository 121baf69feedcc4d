import { appendFileSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { ModelFileError } from '../../../src/errors';
import { hasProviderLibrary } from '../../../src/onnx/runtime';
import { SessionCreateError, SessionSet } from '../../../src/onnx/session-set';
import { parseGraph, writeGraph } from '../../../src/onnx/attention-graph';
import { encodeNode } from '../../../src/onnx/onnx-build';
import { DurianPipeline, type RunOptions } from '../../../src/pipeline/durian-pipeline';
import type { Precision } from '../../../src/pipeline/precision';
import { goldenInputs, TINY_MODEL } from './golden-inputs';

const TIMEOUT_MS = 180_000;
const OPTIONS: RunOptions = { numInferenceSteps: 2, guidanceScale: 2.5, seed: 5, scheduler: 'ddim', window: 3, overlap: 1 };
const FRAMES = 5;

// Frames in [0, 1] from a float16 UNet and VAE decoder against the float32 ones, two DDIM steps on
// the tiny model: each graph's float16 rounding (about 2e-3 of its output's range,
// test/integration/onnx/half.test.ts) carried through the sampler and the decoder. Measured 2.5e-3
// largest difference (mean 1.7e-4) with the UNet alone in float16, 3.3e-3 with the decoder too;
// 1e-2 is 2.5 steps of an 8-bit pixel.
const FRAME_TOLERANCE = 1e-2;

async function framesOf(dir: string, precision: Precision, skipVerify = false) {
  const p = await DurianPipeline.fromModelDir(dir, { executionProviders: ['cpu'], precision, skipVerify });
  try {
    return { precision: p.unetPrecision, decoder: p.precisions.vae_decoder, fused: p.sessions.fusedAttention(),
      frames: (await p.run(goldenInputs(p, FRAMES), OPTIONS)).frames };
  } finally {
    await p.release();
  }
}

describe('the UNet\'s precision (tiny model, CPU provider)', () => {
  const work = mkdtempSync(path.join(os.tmpdir(), 'durian-precision-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  let float32: Awaited<ReturnType<typeof framesOf>>;
  beforeAll(async () => {
    float32 = await framesOf(TINY_MODEL, 'auto');
  }, TIMEOUT_MS);

  it('auto keeps float32 on the CPU provider', () => {
    expect(float32.precision).toEqual({ precision: 'float32', reason: 'auto: cpu provider' });
    expect(float32.decoder).toEqual({ precision: 'float32', reason: 'auto: cpu provider' });
    expect(float32.fused).toEqual({ unet: 10 });
  });

  it('float16 (UNet and VAE decoder made at load time, then the UNet\'s attention fused) gives frames within float16 rounding of float32', async () => {
    const half = await framesOf(TINY_MODEL, 'float16');
    expect(half.precision).toMatchObject({ precision: 'float16', reason: 'requested' });
    expect(half.decoder).toMatchObject({ precision: 'float16', reason: 'requested' });
    expect(half.decoder.conversion).toMatch(/^\d+ nodes in float16, \d+ in float32 \(.*\), \d+ casts inserted, \d+ initializers converted$/);
    expect(half.precision.conversion).toMatch(/^\d+ nodes in float16, 2 in float32 \(Constant 1, Resize 1\), 19 casts inserted, 152 initializers converted$/);
    expect(half.fused).toEqual({ unet: 10 });
    expect(half.frames).toHaveLength(FRAMES);
    let max = 0;
    half.frames.forEach((f, i) => f.forEach((v, k) => (max = Math.max(max, Math.abs(v - float32.frames[i]![k]!)))));
    expect(max).toBeGreaterThan(0);
    expect(max).toBeLessThan(FRAME_TOLERANCE);
  }, TIMEOUT_MS);

  it('a UNet the conversion cannot take runs in float32, with the reason', async () => {
    // the tiny model with one Identity of its UNet as Dropout (the same in inference; an operator
    // the conversion does not know)
    const dir = path.join(work, 'dropout');
    cpSync(TINY_MODEL, dir, { recursive: true });
    const bytes = new Uint8Array(readFileSync(path.join(dir, 'unet.onnx')));
    const graph = parseGraph(bytes)!;
    const id = graph.nodes.find((n) => n.opType === 'Identity')!;
    writeFileSync(path.join(dir, 'unet.onnx'), writeGraph(bytes, graph, [], new Map([[id, [encodeNode('Dropout', id.inputs, id.outputs, id.name)]]]), new Set()));
    const p = await DurianPipeline.fromModelDir(dir, { executionProviders: ['cpu'], precision: 'float16', skipVerify: true });
    try {
      expect(p.unetPrecision.precision).toBe('float32');
      expect(p.unetPrecision.reason).toMatch(/^requested, but not converted: cannot compute this graph in float16: node ".*" \(Dropout\): an operator the conversion does not know$/);
    } finally {
      await p.release();
    }
  }, TIMEOUT_MS);

  it('checks the UNet file on disk against the manifest before converting it', async () => {
    const dir = path.join(work, 'changed');
    cpSync(TINY_MODEL, dir, { recursive: true });
    appendFileSync(path.join(dir, 'unet.onnx'), Uint8Array.of(0));
    const load = DurianPipeline.fromModelDir(dir, { executionProviders: ['cpu'], precision: 'float16' });
    await expect(load).rejects.toThrow(ModelFileError);
    await expect(load).rejects.toThrow(/unet\.onnx: sha256 does not match the manifest/);
  });

  // the CUDA provider with its library absent (CI, this machine): it starts for no graph
  const noCuda = hasProviderLibrary('cuda') ? it.skip : it;
  noCuda('auto on a provider that starts for no graph fails once: no float32 retry of the UNet', async () => {
    const create = jest.spyOn(SessionSet, 'create');
    try {
      const load = DurianPipeline.fromModelDir(TINY_MODEL, { executionProviders: ['cuda'], precision: 'auto' });
      const error = await load.then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(SessionCreateError);
      // every graph failed, not the float16 UNet alone, so nothing was tried again
      expect((error as SessionCreateError).graphs).toEqual(expect.arrayContaining(['unet', 'vae_decoder', 'pose_guider']));
      expect(create).toHaveBeenCalledTimes(1);
    } finally {
      create.mockRestore();
    }
  }, TIMEOUT_MS);
});
