/**
 * How a denoising step's UNet work is laid out in calls. A step runs every temporal window on both
 * guidance branches. Each UNet call takes a group of windows; its batch entries are (window, branch)
 * pairs: both branches of each window in one call (cond, uncond, cond, uncond, ...), or the branches
 * as two calls ("split"). Batch entries are independent in the UNet, so the layout changes speed
 * and memory, not what each entry computes.
 */
import { UsageError } from '../errors';
import type { SessionSet } from '../onnx/session-set';
import type { FloatArray } from '../onnx/tensor';
import { concatBatch } from './latents';
import { maxWindowsPerCall } from './windows';

/**
 * Default frames (batch entries × window frames) of one UNet call on a GPU provider: 4 windows of
 * 16 frames with both guidance branches. The graph's attention scores at the 32×32 level take
 * ~50 MB a frame in float32 (4 heads × 1,024 queries × 3,072 keys), so 128 frames keep one call's
 * largest tensors near 6 GB.
 */
export const GPU_FRAMES_PER_CALL = 128;

export type Feeds = Record<string, FloatArray>;

/** The two guidance branches' feeds, conditional first. */
export type BranchFeeds = readonly [Feeds, Feeds];

/** Feeds of batch 1 each → one feed set of batch `parts.length` (the parts in order); one part is returned as it is. */
function stackBatch(parts: readonly Feeds[]): Feeds {
  if (parts.length === 1) return parts[0]!;
  const out: Feeds = {};
  for (const [name, first] of Object.entries(parts[0]!)) {
    out[name] = { data: concatBatch(parts.map((p) => p[name]!.data)), dims: [parts.length, ...first.dims.slice(1)] };
  }
  return out;
}

/** What decides the layout: the provider, the caller's wishes (RunOptions) and the graph's size. */
export interface CallLayoutInput {
  cpu: boolean;
  splitBranches?: boolean;
  windowsPerCall?: number;
  windows: number;
  window: number;
  /** maxWindowsPerCall's limits: attention heads, finest-level tokens, attributes, groups. */
  heads: number;
  tokens: number;
  attributes: number;
  groups: number;
}

/** How a step's windows go into UNet calls: branches split or not, windows per call, windows in all. */
export interface CallLayout {
  split: boolean;
  perCall: number;
  windows: number;
}

/**
 * Split branches: the CPU default (faster there, docs/performance.md). Windows per call: 1 on the
 * CPU, else as many as keep a call within GPU_FRAMES_PER_CALL frames, never more than the windows
 * or than maxWindowsPerCall allows.
 */
export function callLayout(l: CallLayoutInput): CallLayout {
  const split = l.splitBranches ?? l.cpu;
  const requested = l.windowsPerCall ?? (l.cpu ? 1 : Math.max(1, Math.floor(GPU_FRAMES_PER_CALL / (l.window * (split ? 1 : 2)))));
  if (!Number.isInteger(requested) || requested < 1) throw new UsageError(`windowsPerCall must be a whole number ≥ 1, got ${requested}`);
  const perCall = Math.min(requested, l.windows, maxWindowsPerCall({
    heads: l.heads, tokens: l.tokens, attributes: l.attributes, groups: l.groups, window: l.window, branches: split ? 1 : 2,
  }));
  return { split, perCall, windows: l.windows };
}

type Entry = readonly [window: number, branch: 0 | 1];
interface Call { entries: Entry[]; feeds?: Feeds }

/** The UNet calls of one step, grouped by windows, for one run's reference and window feeds. */
export class UnetCalls {
  /** Window indices of each group, in order; a group's windows go through its calls together. */
  readonly groups: number[][];
  private readonly calls: Call[][];
  private readonly split: boolean;

  /**
   * `refs`: the reference feeds of each branch (batch 1); `windowFeeds(wi)`: window wi's pose and
   * weight feeds of each branch; `latent`: one window's sample is [C, window, h, w].
   */
  constructor(private readonly sessions: SessionSet, private readonly refs: BranchFeeds, private readonly windowFeeds: (wi: number) => BranchFeeds,
    layout: CallLayout, private readonly latent: { C: number; window: number; h: number; w: number }) {
    this.split = layout.split;
    this.groups = [];
    for (let g = 0; g < layout.windows; g += layout.perCall) {
      this.groups.push(Array.from({ length: Math.min(layout.perCall, layout.windows - g) }, (_, k) => g + k));
    }
    const branchSets: readonly (readonly (0 | 1)[])[] = this.split ? [[0], [1]] : [[0, 1]];
    // with both branches in a call, its (static) feeds are stacked once here; split calls slice
    // their pose features per step instead, so that the CPU does not hold the video's pose
    // features a second time
    this.calls = this.groups.map((group) => branchSets.map((branches) => {
      const entries = group.flatMap((wi) => branches.map((b) => [wi, b] as const));
      return this.split ? { entries } : { entries, feeds: this.feedsOf(entries) };
    }));
  }

  private feedsOf(entries: readonly Entry[]): Feeds {
    return stackBatch(entries.map(([wi, b]) => ({ ...this.refs[b], ...this.windowFeeds(wi)[b] })));
  }

  private sampleDims(batch: number): number[] {
    const { C, window, h, w } = this.latent;
    return [batch, C, window, h, w];
  }

  /** Makes the fixed-shape UNet sessions of this layout (one per call size) before the loop. */
  async prepare(time: <T>(stage: string, fn: () => Promise<T>) => Promise<T>): Promise<void> {
    const sizes = new Map(this.calls.map((c) => [c[0]!.entries.length, c[0]!] as const));
    for (const [batch, call] of sizes) {
      await time('unet session', () => this.sessions.prepare('unet', { sample: { dims: this.sampleDims(batch) }, ...(call.feeds ?? this.feedsOf(call.entries)) }));
    }
  }

  /** Group gi's windows at timestep t, given each window's (scaled) latents → each window's [cond, uncond] prediction pair. */
  async run(gi: number, samples: ReadonlyMap<number, Float32Array>, t: number): Promise<Float32Array[]> {
    const outs: Float32Array[] = [];
    for (const call of this.calls[gi]!) {
      const batch = call.entries.length;
      const out = await this.sessions.run('unet', {
        ...(call.feeds ?? this.feedsOf(call.entries)),
        sample: { data: batch === 1 ? samples.get(call.entries[0]![0])! : concatBatch(call.entries.map(([wi]) => samples.get(wi)!)), dims: this.sampleDims(batch) },
        timestep: { data: new Float32Array(batch).fill(t), dims: [batch] },
      });
      outs.push(out.out_sample!.data);
    }
    const { C, window, h, w } = this.latent;
    const per = C * window * h * w;
    return this.groups[gi]!.map((_, j) => (this.split
      ? concatBatch([outs[0]!.subarray(j * per, (j + 1) * per), outs[1]!.subarray(j * per, (j + 1) * per)])
      : outs[0]!.subarray(2 * j * per, 2 * (j + 1) * per)));
  }
}
