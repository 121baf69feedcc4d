import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { DurianPipeline } from '../../../src/pipeline/durian-pipeline';
import { goldenInputs } from './golden-inputs';

const MODEL = path.resolve(__dirname, '..', '..', 'fixtures', 'onnx-tiny');
const TIMEOUT_MS = 120_000;

interface Golden {
  size: number;
  frames: number;
  steps: number;
  guidance_scale: number;
  window: number;
  overlap: number;
  portrait: number[];
  portrait_mask: number[];
  attr: number[];
  attr_mask: number[];
  keypoints: number[][];
  latents: number[];
  expected: number[][];
}

function psnr(a: Float32Array, b: ArrayLike<number>): number {
  let mse = 0;
  for (let i = 0; i < a.length; i++) mse += (a[i]! - b[i]!) ** 2;
  mse /= a.length;
  return mse === 0 ? Infinity : 10 * Math.log10(1 / mse);
}

describe('TypeScript pipeline vs the PyTorch reference sampler (tiny model)', () => {
  let pipeline: DurianPipeline;
  const golden = JSON.parse(readFileSync(path.join(MODEL, 'golden.json'), 'utf8')) as Golden;

  beforeAll(async () => {
    pipeline = await DurianPipeline.fromModelDir(MODEL, { executionProviders: ['cpu'] });
  }, TIMEOUT_MS);
  afterAll(async () => pipeline?.release());

  it('decodes the same frames from the same injected noise (≥ 40 dB)', async () => {
    const result = await pipeline.run(
      goldenInputs(pipeline, golden.frames),
      { numInferenceSteps: golden.steps, guidanceScale: golden.guidance_scale, seed: 0, scheduler: 'ddim',
        window: golden.window, overlap: golden.overlap, latents: Float32Array.from(golden.latents) },
    );
    expect(result.frames).toHaveLength(golden.frames);
    result.frames.forEach((f, i) => {
      expect(f).toHaveLength(3 * golden.size * golden.size);
      expect(psnr(f, golden.expected[i]!)).toBeGreaterThanOrEqual(40);
    });
  }, TIMEOUT_MS);

  /** Two frames bit for bit the same. */
  const same = (x: Float32Array, y: Float32Array) => Buffer.from(x.buffer).equals(Buffer.from(y.buffer));

  /** Runs `use` on the tiny model loaded again with its manifest's sampling defaults replaced. */
  const withDefaults = async (defaults: Record<string, number>, use: (p: DurianPipeline) => Promise<void>) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'durian-defaults-'));
    try {
      cpSync(MODEL, dir, { recursive: true });
      const manifest = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as Record<string, unknown>;
      writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify({ ...manifest, defaults }));
      const other = await DurianPipeline.fromModelDir(dir, { executionProviders: ['cpu'] });
      try {
        await use(other);
      } finally {
        await other.release();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };

  it('is bit-identical for the same seed and differs for another', async () => {
    const inputs = goldenInputs(pipeline, 2);
    const opts = { numInferenceSteps: 2, guidanceScale: 2, seed: 7, scheduler: 'ddim' as const, window: 16, overlap: 4 };
    const a = await pipeline.run(inputs, opts);
    const b = await pipeline.run(inputs, opts);
    const c = await pipeline.run(inputs, { ...opts, seed: 8 });
    expect(same(a.frames[0]!, b.frames[0]!)).toBe(true);
    expect(same(a.frames[0]!, c.frames[0]!)).toBe(false);
  }, TIMEOUT_MS);

  it('with DDIM eta > 0: fresh noise every step, the same frames for the same seed, eta 0 unchanged', async () => {
    const inputs = goldenInputs(pipeline, 2);
    const opts = { numInferenceSteps: 3, guidanceScale: 2, seed: 7, scheduler: 'ddim' as const, window: 16, overlap: 4 };
    const plain = await pipeline.run(inputs, opts);
    const zero = await pipeline.run(inputs, { ...opts, eta: 0 });
    const a = await pipeline.run(inputs, { ...opts, eta: 1 });
    const b = await pipeline.run(inputs, { ...opts, eta: 1 });
    expect(same(plain.frames[0]!, zero.frames[0]!)).toBe(true);
    expect(same(a.frames[0]!, b.frames[0]!)).toBe(true);
    expect(same(a.frames[0]!, plain.frames[0]!)).toBe(false);
  }, TIMEOUT_MS);

  it('with frame-correlated noise: other frames for the same seed, 0 unchanged, the model\'s default when none given', async () => {
    const inputs = goldenInputs(pipeline, 2);
    const opts = { numInferenceSteps: 3, guidanceScale: 2, seed: 7, scheduler: 'ddim' as const, window: 16, overlap: 4, eta: 1 };
    const plain = await pipeline.run(inputs, opts);
    expect(pipeline.defaultNoiseCorrelation).toBe(0);
    expect(same(plain.frames[1]!, (await pipeline.run(inputs, { ...opts, noiseCorrelation: 0 })).frames[1]!)).toBe(true);
    const a = await pipeline.run(inputs, { ...opts, noiseCorrelation: 0.7 });
    // frame 0's noise is its own draw, frame 1's is mixed with it
    expect(same(a.frames[1]!, plain.frames[1]!)).toBe(false);
    expect(same(a.frames[1]!, (await pipeline.run(inputs, { ...opts, noiseCorrelation: 0.7 })).frames[1]!)).toBe(true);
    await withDefaults({ noise_correlation: 0.7 }, async (chained) => {
      expect(chained.defaultNoiseCorrelation).toBe(0.7);
      expect(same((await chained.run(inputs, opts)).frames[1]!, a.frames[1]!)).toBe(true);
    });
  }, TIMEOUT_MS);

  it('takes the model\'s eta (manifest defaults.eta) when the caller gives none, with ddim only', async () => {
    // the tiny model again, its manifest saying eta 1
    await withDefaults({ eta: 1 }, async (noisy) => {
      expect(pipeline.defaultEta).toBe(0);
      expect(noisy.defaultEta).toBe(1);
      const inputs = goldenInputs(pipeline, 2);
      const opts = { numInferenceSteps: 3, guidanceScale: 2, seed: 7, scheduler: 'ddim' as const, window: 16, overlap: 4 };
        const byDefault = await noisy.run(inputs, opts);
      expect(same(byDefault.frames[0]!, (await pipeline.run(inputs, { ...opts, eta: 1 })).frames[0]!)).toBe(true);
      expect(same((await noisy.run(inputs, { ...opts, eta: 0 })).frames[0]!, (await pipeline.run(inputs, opts)).frames[0]!)).toBe(true);
      // another scheduler ignores the model's eta (it has no noise term), rather than failing
      const euler = { ...opts, scheduler: 'euler' as const };
      expect(same((await noisy.run(inputs, euler)).frames[0]!, (await pipeline.run(inputs, euler)).frames[0]!)).toBe(true);
    });
  }, TIMEOUT_MS);

  it('gives the same pose features whatever the pose guider\'s chunk size', async () => {
    const images = goldenInputs(pipeline, 3).poseImages;
    const whole = await pipeline.forwardPoseGuider(images, 100);
    const chunked = await pipeline.forwardPoseGuider(images, 2);
    expect(chunked.channels).toBe(whole.channels);
    expect(chunked.data).toHaveLength(whole.data.length);
    let maxDiff = 0;
    whole.data.forEach((v, i) => (maxDiff = Math.max(maxDiff, Math.abs(v - chunked.data[i]!))));
    expect(maxDiff).toBeLessThan(1e-5);
  }, TIMEOUT_MS);

  it('gives the same frames with the guidance branches in one batch or in two calls', async () => {
    const inputs = goldenInputs(pipeline, 3);
    const opts = { numInferenceSteps: 2, guidanceScale: 2.5, seed: 3, scheduler: 'ddim' as const, window: 2, overlap: 1 };
    const batched = await pipeline.run(inputs, { ...opts, splitBranches: false });
    const split = await pipeline.run(inputs, { ...opts, splitBranches: true });
    batched.frames.forEach((f, i) => f.forEach((v, k) => expect(Math.abs(v - split.frames[i]![k]!)).toBeLessThan(1e-5)));
  }, TIMEOUT_MS);

  it('gives the same frames with a step\'s windows in one UNet call, in groups or one by one, in either branch layout', async () => {
    // 5 frames, windows of 2 overlapping by 1: 4 windows; groups of 3 leave a remainder group of 1
    const three = goldenInputs(pipeline, 3);
    const inputs = { ...three, weights: new Float32Array(5).fill(1), poseImages: [0, 1, 2, 1, 0].map((f) => three.poseImages[f]!) };
    const opts = { numInferenceSteps: 2, guidanceScale: 2.5, seed: 3, scheduler: 'ddim' as const, window: 2, overlap: 1 };
    const reference = await pipeline.run(inputs, { ...opts, splitBranches: true, windowsPerCall: 1 });
    let worst = 0;
    for (const splitBranches of [false, true]) {
      for (const windowsPerCall of [3, 4, 99]) {
        const r = await pipeline.run(inputs, { ...opts, splitBranches, windowsPerCall });
        expect(r.frames).toHaveLength(5);
        r.frames.forEach((f, i) => f.forEach((v, k) => (worst = Math.max(worst, Math.abs(v - reference.frames[i]![k]!)))));
      }
    }
    expect(worst).toBeLessThan(1e-5);
    await expect(pipeline.run(inputs, { ...opts, windowsPerCall: 0 })).rejects.toThrow(/windowsPerCall/);
  }, TIMEOUT_MS);
});
