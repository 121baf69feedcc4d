/**
 * The durian pipeline: references → reference features once → denoising loop (scheduler,
 * classifier-free guidance, overlapping windows, attribute groups and weights) → decode.
 * The algorithm of `sample_video` in tools/export/durian_export/sample.py, over the ONNX graphs.
 */
import path from 'node:path';

import { throwIfAborted, UsageError } from '../errors';
import { assertGraphFiles, readManifest, readSchedulerConfig, type Manifest } from '../onnx/manifest';
import { SessionCreateError, SessionSet } from '../onnx/session-set';
import type { FloatArray } from '../onnx/tensor';
import { addGuidedFrames } from './guidance';
import { areaDownsample, concatBatch, frameOf, sliceFrames, toSignedRange, toUnitRange } from './latents';
import { NoiseAhead } from './step-noise';
import type { PoseImages, PreparedReference, RunInputs, RunOptions, RunResult } from './run-types';
import { createScheduler } from './schedulers';
import { FrameFeatureWriter, type FrameFeatureStore } from './feature-store';
import { getSessionMemoryOptions, type MemoryMode, type SessionMemoryOptions } from './memory';
import { float32Fallback, prepareGraph, resolveDecoderPrecision, resolveUnetPrecision, type PreparedGraphs, type Precision,
  type UnetPrecision } from './precision';
import { callLayout, UnetCalls, type BranchFeeds } from './unet-calls';
import { getWindowStarts, getWindowWeights } from './windows';
import { checkGraphShapes } from './model-shapes';

export type { PoseImages, PreparedReference, RunInputs, RunOptions, RunResult } from './run-types';
export { GPU_FRAMES_PER_CALL } from './unet-calls';

interface RefFeatures {
  hidden: FloatArray[];
  embedding: FloatArray;
}

export class DurianPipeline {
  readonly height: number;
  readonly width: number;
  readonly latentChannels: number;
  readonly latentScale: number;
  /** Image pixels per latent pixel along each axis. */
  readonly vaeScaleFactor: number;
  readonly layers: number;
  /** The model's classifier-free guidance scale when the caller gives none. */
  readonly defaultGuidanceScale: number;
  /** The model's DDIM η when the caller gives none (ddim only). */
  readonly defaultEta: number;
  /** The model's frame-to-frame noise correlation when the caller gives none. */
  readonly defaultNoiseCorrelation: number;
  private readonly maskChannel: boolean;
  /** The UNet's spatial attention heads (the manifest's; 8 where it does not say) and the most tokens of a hidden state: they size a call's attention scores. */
  private readonly attentionHeads: number;
  private readonly finestTokens: number;

  private constructor(readonly sessions: SessionSet, private readonly schedulerConfig: Record<string, unknown>,
    /** What the UNet and the VAE decoder compute in, and why (precision.ts): reported by `durian animate --json`. */
    readonly precisions: { unet: UnetPrecision; vae_decoder: UnetPrecision },
    /** How the sessions hold memory (memory.ts): reported by `durian animate --json`. */
    readonly memoryMode: SessionMemoryOptions['mode'] = 'balanced',
    private readonly decodeChunk = 8, private readonly poseChunk = 16, private readonly spillBytes = Infinity) {
    const m = sessions.manifest;
    [this.height, this.width] = m.resolution;
    this.latentChannels = m.latent_channels;
    this.latentScale = m.latent_scale;
    this.vaeScaleFactor = m.vae_scale_factor;
    this.layers = m.reference_layers;
    this.defaultGuidanceScale = m.defaults.guidance_scale;
    this.defaultEta = m.defaults.eta;
    this.defaultNoiseCorrelation = m.defaults.noise_correlation;
    this.maskChannel = checkGraphShapes(m, `${sessions.dir}/manifest.json`);
    this.attentionHeads = m.attention_heads ?? 8;
    this.finestTokens = Math.max(0, ...m.graphs.prnet.outputs.filter((t) => t.name.startsWith('hidden_'))
      .map((t) => (typeof t.shape[1] === 'number' ? t.shape[1] : 0)));
  }

  /** What the UNet computes in, and why. */
  get unetPrecision(): UnetPrecision {
    return this.precisions.unet;
  }

  /**
   * Loads a model directory written by `python -m durian_export.export`. `memory` picks how the
   * CPU provider's sessions hold memory (memory.ts; default 'balanced'); `precision` what the UNet
   * and VAE decoder compute in (precision.ts; default 'auto': the UNet in float16 on a GPU provider).
   */
  static async fromModelDir(dir: string, opts: { executionProviders: readonly string[]; skipVerify?: boolean; fixedShapes?: boolean;
    memory?: MemoryMode | SessionMemoryOptions; precision?: Precision;
    /** The UNet through ONNX Runtime's C API with IOBinding (onnx/capi.ts); 'cuda-graph' also captures
     * each shape's run as a CUDA graph on the cuda provider. Needs fixed shapes. Default: 'cuda-graph'
     * on cuda (the fastest there, same frames: docs/performance.md), off elsewhere. */
    ioBinding?: boolean | 'cuda-graph' }): Promise<DurianPipeline> {
    // The graphs run many times per job as one session per input shape (fixed-shape sessions):
    // ORT folds their shape arithmetic, and on CUDA a session fed alternating shapes (the pose
    // guider's 16-frame chunks and its 1-frame blank) re-plans its convolutions at every switch,
    // 37–80 ms each (docs/performance.md).
    const fixedShapes = opts.fixedShapes ?? true;
    const ioBinding = opts.ioBinding ?? (opts.executionProviders[0] === 'cuda' ? 'cuda-graph' : false);
    // the files as the manifest says, then the UNet in its precision (a float16 graph made from the
    // checked file), then the sessions, held as that precision wants (memory.ts)
    const manifest = readManifest(dir);
    if (!opts.skipVerify) await assertGraphFiles(dir, manifest.graphs);
    const requested = opts.precision ?? 'auto';
    let graphs: PreparedGraphs = {
      unet: prepareGraph(path.join(dir, manifest.graphs.unet.file),
        resolveUnetPrecision(requested, opts.executionProviders, manifest.graphs.unet.compute_dtype ?? 'float32')),
      vae_decoder: prepareGraph(path.join(dir, manifest.graphs.vae_decoder.file),
        resolveDecoderPrecision(requested, opts.executionProviders, manifest.graphs.vae_decoder.compute_dtype ?? 'float32')),
    };
    const create = async (g: PreparedGraphs) => {
      const memory = getSessionMemoryOptions(opts.executionProviders, opts.memory ?? 'balanced', g.unet.precision.precision);
      const graphBytes = Object.fromEntries(Object.entries(g).flatMap(([name, x]) => (x.model ? [[name, x.model]] : [])));
      const sessions = await SessionSet.create(dir, { executionProviders: opts.executionProviders, skipVerify: true,
        fixedShapes: fixedShapes ? ['unet', 'pose_guider', 'vae_decoder'] : [], ...memory.sessions, graphBytes,
        ...(ioBinding && fixedShapes ? { ioBinding: { graphs: ['unet'], cudaGraph: ioBinding === 'cuda-graph' } } : {}) });
      return { memory, sessions };
    };
    let made: Awaited<ReturnType<typeof create>>;
    try {
      made = await create(graphs);
    } catch (error) {
      // float16 graphs the provider does not take, the others loading: those in float32 (precision.ts)
      const back = error instanceof SessionCreateError ? float32Fallback(graphs, error.graphs, error.message) : null;
      if (!back) throw error;
      graphs = back;
      made = await create(graphs);
    }
    const { memory, sessions } = made;
    try {
      return new DurianPipeline(sessions, readSchedulerConfig(dir), { unet: graphs.unet.precision, vae_decoder: graphs.vae_decoder.precision },
        memory.mode, memory.decodeChunk, memory.poseChunk, memory.spillBytes);
    } catch (error) {
      await sessions.release();
      throw error;
    }
  }

  get manifest(): Manifest {
    return this.sessions.manifest;
  }

  /**
   * How the UNet ran: 'plain' (onnxruntime-node), 'iobinding' or 'cuda-graph' (the C API,
   * onnx/capi.ts), with the reason for any shape that fell back to the plain session.
   */
  unetBinding(): { mode: 'plain' | 'iobinding' | 'cuda-graph'; fallbacks: Record<string, string> } {
    const bound = this.sessions.boundGraphs().unet;
    if (!bound || !bound.made.length) return { mode: 'plain', fallbacks: bound?.failed ?? {} };
    return { mode: this.sessions.cudaGraphs ? 'cuda-graph' : 'iobinding', fallbacks: bound.failed };
  }

  async release(): Promise<void> {
    await this.sessions.release();
  }

  /** Latent height and width. */
  get latentSize(): { h: number; w: number } {
    return { h: this.height / this.vaeScaleFactor, w: this.width / this.vaeScaleFactor };
  }

  private get hw(): number {
    const { h, w } = this.latentSize;
    return h * w;
  }

  /** VAE-encodes a [3, H, W] image in [0, 1] → scaled latent [C, h, w]. */
  async encodeImage(image: Float32Array): Promise<Float32Array> {
    const out = await this.sessions.run('vae_encoder', { sample: { data: toSignedRange(image), dims: [1, 3, this.height, this.width] } });
    const z = out.latent_mean!.data;
    const scaled = new Float32Array(z.length);
    for (let i = 0; i < z.length; i++) scaled[i] = z[i]! * this.latentScale;
    return scaled;
  }

  /** ReferenceNet input: latent of the masked image ⊕ mask at latent size. */
  async referenceInput(ref: PreparedReference): Promise<FloatArray> {
    const z = await this.encodeImage(ref.image);
    const { h, w } = this.latentSize;
    if (!this.maskChannel) return { data: z, dims: [1, this.latentChannels, h, w] };
    const m = areaDownsample(ref.mask, this.height, this.width, this.vaeScaleFactor);
    return { data: concatBatch([z, m]), dims: [1, this.latentChannels + 1, h, w] };
  }

  async forwardReferenceNet(graph: 'prnet' | 'arnet', ref: PreparedReference): Promise<RefFeatures> {
    const out = await this.sessions.run(graph, { reference: await this.referenceInput(ref) });
    const hidden = Array.from({ length: this.layers }, (_, l) => out[`hidden_${l}`]!);
    return { hidden, embedding: out.embedding! };
  }

  /**
   * Pose-guider features of keypoint images → [1, C0, F, h, w] data and C0, `chunk` images per call:
   * its activations are full-resolution, so one call over a long video's frames would grow memory
   * with the video (300 frames in one batch peaked at 9.2 GB RSS, docs/performance.md).
   */
  async forwardPoseGuider(images: PoseImages, chunk = this.poseChunk): Promise<{ data: Float32Array; channels: number }> {
    const store = await this.poseFeatures(images, chunk, Infinity);
    return { data: store.window(0, store.frames), channels: store.channels };
  }

  /**
   * The pose guider's features of every frame, `chunk` images per call, into a store that keeps
   * them in memory or, past `spillBytes`, in a temporary file (feature-store.ts): a generation reads
   * them back one window at a time at every step.
   */
  async poseFeatures(images: PoseImages, chunk = this.poseChunk, spillBytes = this.spillBytes): Promise<FrameFeatureStore> {
    const n = images.length;
    let writer: FrameFeatureWriter | undefined;
    try {
      for (let f0 = 0; f0 < n; f0 += chunk) {
        const part = Array.from({ length: Math.min(chunk, n - f0) }, (_, k) => {
          const image = images.at(f0 + k);
          if (!image) throw new UsageError(`no keypoint image for frame ${f0 + k}`);
          return image;
        });
        const out = await this.sessions.run('pose_guider', { pose_image: { data: concatBatch(part), dims: [part.length, 3, this.height, this.width] } });
        const pf = out.pose_features!;
        // [f, C0, h, w]: whole frames, in order
        writer ??= new FrameFeatureWriter(pf.dims[1]!, n, this.hw, spillBytes);
        writer.add(pf.data);
      }
      return writer!.finish();
    } catch (error) {
      writer?.close();
      throw error;
    }
  }

  /**
   * Decodes [1, C, F, h, w] latents to frames [3, H, W] in [0, 1], `chunk` frames per call (each
   * frame is decoded alone inside the graph, so the chunk changes memory and speed, not pixels).
   * With `onFrame` every frame goes there as soon as it is decoded and none is returned.
   */
  async decodeLatents(x: Float32Array, frames: number, chunk = this.decodeChunk,
    onFrame?: (frame: Float32Array, index: number) => Promise<void> | void): Promise<Float32Array[]> {
    const C = this.latentChannels;
    const hw = this.hw;
    const out: Float32Array[] = [];
    for (let f0 = 0; f0 < frames; f0 += chunk) {
      const n = Math.min(chunk, frames - f0);
      const z = concatBatch(Array.from({ length: n }, (_, k) => frameOf(x, C, frames, hw, f0 + k)));
      for (let i = 0; i < z.length; i++) z[i] = z[i]! / this.latentScale;
      const { h, w } = this.latentSize;
      const dec = await this.sessions.run('vae_decoder', { latent: { data: z, dims: [n, C, h, w] } });
      const img = toUnitRange(dec.sample_out!.data);
      const per = 3 * this.height * this.width;
      for (let k = 0; k < n; k++) {
        const frame = img.slice(k * per, (k + 1) * per);
        if (onFrame) await onFrame(frame, f0 + k);
        else out.push(frame);
      }
    }
    return out;
  }

  /** Steps 2–5 of run(): the final latents [1, C, F, h, w]. */
  private async denoise(inputs: RunInputs, options: RunOptions,
    time: <T>(stage: string, fn: () => Promise<T>) => Promise<T>): Promise<Float32Array> {
    const A = inputs.attributes.length;
    const G = inputs.groups.length;

    // 2. Reference features, once: conditional, and the unconditional branch from black references
    const { portrait, attrs, uncond } = await time('references', async () => {
      const blank: PreparedReference = { image: new Float32Array(3 * this.height * this.width), mask: new Float32Array(this.height * this.width) };
      const p = await this.forwardReferenceNet('prnet', inputs.portrait);
      const a: RefFeatures[] = [];
      for (const ref of inputs.attributes) a.push(await this.forwardReferenceNet('arnet', ref));
      const u = { portrait: await this.forwardReferenceNet('prnet', blank), attr: await this.forwardReferenceNet('arnet', blank) };
      return { portrait: p, attrs: a, uncond: u };
    });
    const members = new Float32Array(G * A);
    inputs.groups.forEach((g, gi) => g.forEach((ai) => (members[gi * A + ai] = 1)));
    // the UNet's reference feeds of one branch (batch 1): conditional, then unconditional
    const referenceFeeds = (p: RefFeatures, a: RefFeatures[]): Record<string, FloatArray> => {
      const feeds: Record<string, FloatArray> = {
        members: { data: members, dims: [1, G, A] },
        portrait_embedding: p.embedding,
        attr_embedding: { data: concatBatch(a.map((r) => r.embedding.data)), dims: [1, A, p.embedding.dims[1]!] },
      };
      for (let l = 0; l < this.layers; l++) {
        const dims = p.hidden[l]!.dims;
        feeds[`portrait_hidden_${l}`] = p.hidden[l]!;
        feeds[`attr_hidden_${l}`] = { data: concatBatch(a.map((r) => r.hidden[l]!.data)), dims: [1, A, dims[1]!, dims[2]!] };
      }
      return feeds;
    };
    const refBranches = [referenceFeeds(portrait, attrs), referenceFeeds(uncond.portrait, attrs.map(() => uncond.attr))] as const;

    // 3. Pose features, once: the frames' keypoint images (held in memory, or for a long video in a
    // temporary file) and a blank one for the unconditional branch
    const pose = await time('pose', () => this.poseFeatures(inputs.poseImages));
    try {
      return await this.denoiseWith(refBranches, pose, inputs, options, time);
    } finally {
      pose.close();
    }
  }

  /** Steps 3 (the blank pose) to 5 of run(), given the reference feeds and the pose features. */
  private async denoiseWith(refBranches: BranchFeeds, pose: FrameFeatureStore,
    inputs: RunInputs, options: RunOptions,
    time: <T>(stage: string, fn: () => Promise<T>) => Promise<T>): Promise<Float32Array> {
    const F = inputs.poseImages.length;
    const G = inputs.groups.length;
    const guidanceScale = options.guidanceScale ?? this.defaultGuidanceScale;
    const C = this.latentChannels;
    const hw = this.hw;
    const { h, w } = this.latentSize;
    const blankPose = await time('pose', () => this.forwardPoseGuider([new Float32Array(3 * this.height * this.width)]));

    // 4. Initial latents
    const scheduler = createScheduler(options.scheduler, this.schedulerConfig);
    scheduler.setTimesteps(options.numInferenceSteps);
    const n = C * F * hw;
    if (options.latents && options.latents.length !== n) throw new UsageError(`injected latents have ${options.latents.length} values, expected ${n}`);
    const rho = options.noiseCorrelation ?? this.defaultNoiseCorrelation;
    const timesteps = scheduler.timesteps;
    const eta = options.eta ?? (options.scheduler === 'ddim' ? this.defaultEta : 0);
    // draw 0: the initial latents (seed); draw i + 1: step i's noise, its own seeded stream. Each
    // step's is made on worker threads while the UNet runs the step before (step-noise.ts).
    const noise = new NoiseAhead(C, F, hw, rho, (k) => (k === 0 ? options.seed : (options.seed + 0x9e3779b9 * k) >>> 0));
    if (eta > 0) noise.request(1);
    const init = options.latents ?? await noise.take(0);
    let x = new Float32Array(n);
    for (let i = 0; i < n; i++) x[i] = init[i]! * scheduler.initNoiseSigma;

    // 5. Denoising loop: every window, both guidance branches, blended each step
    const window = Math.min(options.window, F);
    const starts = getWindowStarts(F, window, options.overlap);
    const ww = getWindowWeights(window, options.overlap);
    const norm = new Float32Array(F);
    for (const s of starts) for (let k = 0; k < window; k++) norm[s + k] = norm[s + k]! + ww[k]!;
    const unitNorm = norm.every((v) => v === 1);  // one window, or none overlapping: x / 1 is x
    // the feeds that do not change from step to step, once per window: pose features of both
    // branches (the unconditional one repeats the blank pose per frame) and the group weights
    const poseUncond = new Float32Array(pose.channels * window * hw);
    for (let c = 0; c < pose.channels; c++) {
      for (let k = 0; k < window; k++) poseUncond.set(blankPose.data.subarray(c * hw, (c + 1) * hw), (c * window + k) * hw);
    }
    // (the conditional pose features are sliced per call: a copy per window would hold the
    // video's pose features twice)
    const windowBranches = (wi: number) => {
      const s = starts[wi]!;
      const weights = { data: inputs.weights.slice(s * G, (s + window) * G), dims: [1, window, G] };
      return [
        { pose_features: { data: pose.window(s, window), dims: [1, pose.channels, window, h, w] }, weights },
        { pose_features: { data: poseUncond, dims: [1, pose.channels, window, h, w] }, weights },
      ] as const;
    };
    // the UNet calls of a step (unet-calls.ts), and their fixed-shape sessions made before the loop
    const cpu = this.sessions.executionProviders[0] === 'cpu';
    const layout = callLayout({ cpu, splitBranches: options.splitBranches, windowsPerCall: options.windowsPerCall, windows: starts.length, window,
      heads: this.attentionHeads, tokens: this.finestTokens, attributes: inputs.attributes.length, groups: G });
    const unet = new UnetCalls(this.sessions, refBranches, windowBranches, layout, { C, window, h, w });
    await unet.prepare(time);
    for (let i = 0; i < timesteps.length; i++) {
      const t = timesteps[i]!;
      if (eta > 0 && i + 1 < timesteps.length) noise.request(i + 2);  // the next step's, during this one's UNet calls
      const xin = scheduler.scaleModelInput(x, t);
      const acc = new Float32Array(n);
      for (const [gi, group] of unet.groups.entries()) {
        // a window that is the whole video is the latents themselves: no copy
        const samples = new Map(group.map((wi) => [wi, window === F ? xin : sliceFrames(xin, C, F, hw, starts[wi]!, window)] as const));
        const pairs = await time('unet', () => unet.run(gi, samples, t));
        group.forEach((wi, j) => addGuidedFrames(acc, pairs[j]!, guidanceScale, C, F, hw, starts[wi]!, window, ww));
      }
      if (!unitNorm) {
        for (let c = 0; c < C; c++) {
          for (let f = 0; f < F; f++) {
            const o = (c * F + f) * hw;
            for (let p = 0; p < hw; p++) acc[o + p] = acc[o + p]! / norm[f]!;
          }
        }
      }
      x = scheduler.step(acc, t, x, eta > 0 ? { eta, noise: await noise.take(i + 1) } : {}).prevSample;
      options.onStep?.({ step: i + 1, total: timesteps.length, timestep: t });
    }
    return x;
  }

  /** Runs one generation. */
  async run(inputs: RunInputs, options: RunOptions): Promise<RunResult> {
    const timings: Record<string, number> = {};
    const time = async <T>(stage: string, fn: () => Promise<T>): Promise<T> => {
      throwIfAborted(options.signal, 'generation');
      options.onStage?.(stage);
      const t0 = performance.now();
      const r = await fn();
      timings[stage] = (timings[stage] ?? 0) + performance.now() - t0;
      return r;
    };
    // 1. Check inputs
    const F = inputs.poseImages.length;
    const A = inputs.attributes.length;
    const G = inputs.groups.length;
    if (F === 0) throw new UsageError('no frames to generate');
    if (A === 0) throw new UsageError('at least one attribute reference is needed');
    if (inputs.weights.length !== F * G) throw new UsageError(`weights must be [frames=${F}, groups=${G}]`);
    if (options.numInferenceSteps <= 0) throw new UsageError(`--steps must be > 0, got ${options.numInferenceSteps}`);

    // 2.–5. References, pose features, latents and the denoising loop; what they hold (the
    // video's pose features, the windows' feeds) is unreachable once the latents are final
    const x = await this.denoise(inputs, options, time);

    // 6. Decode (each frame handed to onFrame as soon as it is decoded, when given)
    const frames = await time('decode', () => this.decodeLatents(x, F, this.decodeChunk, options.onFrame));
    return { frames, timings };
  }
}
