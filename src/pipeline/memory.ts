/**
 * How the pipeline's sessions hold memory, per provider and mode (docs/performance.md, "CPU
 * memory", issue 19). Every choice here changes memory and speed; the frames only where the
 * attention is fused (within float32 rounding, never bit for bit), nowhere else.
 */
import type { SessionSetOptions } from '../onnx/session-set';

export const MEMORY_MODES = ['balanced', 'low'] as const;
export type MemoryMode = (typeof MEMORY_MODES)[number];

export interface SessionMemoryOptions {
  /** 'custom': set by hand (tests, benches), not by a mode. */
  mode: MemoryMode | 'custom';
  sessions: Pick<SessionSetOptions, 'fuseAttention' | 'fuseAttentionOptions' | 'chunkAttention' | 'chunkAttentionOptions' | 'graphOptions'>;
  /** Frames per VAE decoder call. */
  decodeChunk: number;
  /** Keypoint images per pose guider call. */
  poseChunk: number;
  /** Pose features larger than this (bytes) wait in a temporary file between steps instead of in
   * memory (feature-store.ts); Infinity: always in memory. */
  spillBytes: number;
}

/** Pose features kept in memory up to this size: 128 frames of the shipped model (256 kB a frame). */
const SPILL_BYTES = 32 * 2 ** 20;

const GRAPHS = ['prnet', 'arnet', 'unet', 'pose_guider', 'vae_encoder', 'vae_decoder', 'parser'] as const;

/**
 * On the CPU provider:
 * - the UNet's attention runs as com.microsoft.MultiHeadAttention (onnx/fuse-attention.ts), ONNX
 *   Runtime's flash attention on the CPU: the reference attention's 768 MB score tensors are never
 *   written, and the README job's UNet took 27 s instead of 42 s in pieces (docs/performance.md;
 *   the frames differ within float32 rounding); a block the fusion does not take, or a runtime without the
 *   operator, runs in pieces of query rows (onnx/chunk-attention.ts, bit-identical to the export);
 * - no memory pattern: with it ORT plans one block per input shape on top of the arena's chunks
 *   from the first run, which doubled the UNet's memory (2.1 → 4.1 GB alone);
 * - the VAE decoder one frame per call and the pose guider 4 (their activations are
 *   full-resolution; the same pixels and features, about the same time per frame);
 * - the pose features of a video longer than SPILL_BYTES worth (128 frames here) wait in an
 *   unlinked temporary file between steps, read back one window per UNet call (4 MB, against a
 *   second of UNet): memory then no longer grows with the video but by its latents (~64 kB a frame).
 * (onnxruntime-node 1.30 has no option for the arena's extend strategy or for shrinking it after a
 * run; those levers are out of reach from here.)
 * 'low' also turns the CPU memory arena off for every graph (each buffer is allocated when needed
 * and returned after, which costs time, measured in docs/performance.md) and always puts the pose
 * features in the file.
 * Other providers keep ORT's defaults (their big buffers are the device's, flat in video length,
 * measured separately); there 'low' only puts the pose features in the file.
 */
export function getSessionMemoryOptions(executionProviders: readonly string[], mode: MemoryMode | SessionMemoryOptions,
  unetDtype: 'float32' | 'float16' = 'float32'): SessionMemoryOptions {
  if (typeof mode === 'object') return mode;
  // on a GPU the host still holds the pose features: 'low' moves them to the file there too.
  // A float16 UNet gets its attention fused there (head sizes padded to 8 for CUDA's fused kernels):
  // on one H200, 6.9 ms a batched 16-frame call against 9.6 as exported; a float32 UNet keeps the
  // exported attention, which was the faster there (11.2 against 13.6 ms; docs/performance.md)
  if (executionProviders[0] !== 'cpu') {
    const sessions = unetDtype === 'float16' ? { fuseAttention: ['unet'], fuseAttentionOptions: { padHeadTo: 8 } } : {};
    return { mode, sessions, decodeChunk: 8, poseChunk: 16, spillBytes: mode === 'low' ? 0 : Infinity };
  }
  const graphOptions = Object.fromEntries(GRAPHS.map((g) => [g, { enableMemPattern: false, ...(mode === 'low' ? { enableCpuMemArena: false } : {}) }]));
  return { mode, sessions: { fuseAttention: ['unet'], chunkAttention: ['unet'], graphOptions }, decodeChunk: 1, poseChunk: 4, spillBytes: mode === 'low' ? 0 : SPILL_BYTES };
}

/** ONNX Runtime's defaults (arena and memory pattern on, attention as exported, decoding 8 frames a
 * call): how every provider ran before issue 19, kept for comparisons. */
export const ORT_DEFAULT_MEMORY: Readonly<SessionMemoryOptions> = Object.freeze({ mode: 'custom', sessions: {}, decodeChunk: 8, poseChunk: 16, spillBytes: Infinity });
