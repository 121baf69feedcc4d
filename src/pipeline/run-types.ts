/**
 * What DurianPipeline.run takes and gives: the prepared references, the frames' keypoint images and
 * attribute groups, the sampler's options, and the frames.
 */
import type { SchedulerName } from './schedulers';

/** A reference image already masked (complementary masking), with its mask; images [3, H, W] in [0, 1], mask [H, W]. */
export interface PreparedReference {
  image: Float32Array;
  mask: Float32Array;
}

export interface RunInputs {
  portrait: PreparedReference;
  attributes: PreparedReference[];
  /** Attribute indices of each group (composition: one group of all; interpolation: one each). */
  groups: number[][];
  /** Per-frame group weights [F, G], rows summing to 1. */
  weights: Float32Array;
  /**
   * Keypoint images, one [3, H, W] per frame: an array, or anything with a length and `at(i)`
   * that draws frame i when asked (a long guide is then never held rendered in memory whole).
   */
  poseImages: PoseImages;
}

/** What `at(i)` returns for 0 ≤ i < length: one keypoint image [3, H, W]. */
export interface PoseImages {
  readonly length: number;
  at(index: number): Float32Array | undefined;
}

export interface RunOptions {
  numInferenceSteps: number;
  /** Classifier-free guidance scale; default: the model's (manifest `defaults.guidance_scale`). */
  guidanceScale?: number;
  seed: number;
  scheduler: SchedulerName;
  /**
   * DDIM's η; default: the model's (manifest `defaults.eta`) with the ddim scheduler, 0 with any
   * other. 0 is deterministic. Above 0 each step adds noise drawn from the seed (a stream apart from
   * the initial latents'), so the same seed still gives the same frames.
   */
  eta?: number;
  /**
   * Correlation of the sampling noise between neighbouring frames in [0, 1) (random.ts
   * correlateFrames), for the initial latents and the per-step noise; default: the model's (manifest
   * `defaults.noise_correlation`). Not applied to injected `latents`.
   */
  noiseCorrelation?: number;
  window: number;
  overlap: number;
  /**
   * Run the conditional and unconditional branches as two UNet calls of batch 1 instead of one of
   * batch 2 — the same frames. Default: split on the CPU provider, where it measured 2.0× faster
   * UNet steps and 40 % less peak memory (docs/performance.md); one batch elsewhere.
   */
  splitBranches?: boolean;
  /**
   * Temporal windows per UNet call: a step's windows all read the same latents, so they can go in
   * one call of a larger batch (the same frames, fewer and larger calls). Default: 1 on the CPU
   * provider (a larger call only adds memory there); on the others as many as keep a call within
   * unet-calls.ts GPU_FRAMES_PER_CALL frames, since there a small call is mostly launch overhead while the
   * unfused attention's score tensors grow with the frames of a call.
   */
  windowsPerCall?: number;
  /** Initial latents [1, C, F, h, w] (before init-noise scaling); default: seeded Gaussian noise. */
  latents?: Float32Array;
  onStep?: (p: { step: number; total: number; timestep: number }) => void;
  onStage?: (stage: string) => void;
  /** Aborting stops the run before its next graph call: it rejects with InterruptedError. */
  signal?: AbortSignal;
  /**
   * Receives each decoded frame [3, H, W] in [0, 1], in order, as soon as it is decoded (awaited
   * before the next): an encoder can write the video while it is made, and the frames are then not
   * kept (RunResult.frames is empty), so memory does not grow with the video's length.
   */
  onFrame?: (frame: Float32Array, index: number) => Promise<void> | void;
}

export interface RunResult {
  /** Decoded frames [3, H, W] in [0, 1]; empty when RunOptions.onFrame took them. */
  frames: Float32Array[];
  timings: Record<string, number>;
}
