/**
 * The model's graphs as a named set of InferenceSessions, created from the manifest (after the
 * sha256 check), run with checked feeds, released as a unit.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

import { InferenceError, ModelFileError, ProviderError, type DurianErrorOptions } from '../errors';
import { chunkAttention, DEFAULT_CHUNK_ATTENTION, type ChunkAttentionOptions } from './chunk-attention';
import { BoundSession, type BoundSessionOptions } from './bound-session';
import { bindDims, fixInputDims, readInputDims } from './fix-dims';
import { fuseAttention, type FuseAttentionOptions } from './fuse-attention';
import { assertGraphFiles, compareGraphInputs, readManifest, type GraphEntry, type Manifest } from './manifest';
import { createInferenceSession, ort } from './runtime';
import { feedMismatch, fromOrtTensor, toOrtTensor, type FloatArray } from './tensor';

export interface SessionSetOptions {
  executionProviders: readonly string[];
  /** Only these graphs (default: every graph of the manifest). */
  graphs?: readonly string[];
  /** Skip the sha256 check (tests that just wrote the files, callers that made it already). */
  skipVerify?: boolean;
  /**
   * Model bytes a graph's sessions are made from instead of its file: a rewrite the caller made
   * (the UNet in float16, pipeline/precision.ts). The sha256 check still reads the file. The
   * rewrites below apply to these bytes.
   */
  graphBytes?: Readonly<Record<string, Uint8Array>>;
  intraOpNumThreads?: number;
  /**
   * Graphs whose sessions are made per set of input shapes, with the symbolic dimensions fixed to
   * the fed sizes (fix-dims.ts): ORT folds the shape arithmetic away. The first run of each new
   * shape pays a session creation; at most MAX_FIXED_SHAPES shapes per graph are kept.
   */
  fixedShapes?: readonly string[];
  /**
   * Graphs whose attention blocks run in pieces of query rows (chunk-attention.ts): the same
   * outputs without ever holding a whole score tensor. A graph whose rewritten bytes do not load
   * runs as exported (reported by `chunkedAttention()`).
   */
  chunkAttention?: readonly string[];
  /** How chunkAttention splits (default DEFAULT_CHUNK_ATTENTION). */
  chunkAttentionOptions?: ChunkAttentionOptions;
  /**
   * Graphs whose attention blocks become com.microsoft.MultiHeadAttention (fuse-attention.ts): the
   * same function in one kernel, not bit-identical. Applied before chunkAttention, which then takes
   * only the blocks left. A graph whose rewritten bytes do not load runs with chunkAttention alone,
   * else as exported (reported by `fusedAttention()`).
   */
  fuseAttention?: readonly string[];
  /** How fuseAttention rewrites (e.g. head sizes padded for CUDA's fused kernels). */
  fuseAttentionOptions?: FuseAttentionOptions;
  /** Session options of single graphs over the shared ones: ONNX Runtime's CPU memory arena and
   * memory pattern (docs/performance.md, "CPU memory"). */
  graphOptions?: Readonly<Record<string, GraphSessionOptions>>;
  /**
   * Fixed-shape graphs run through ONNX Runtime's C API with IOBinding (capi.ts) on the cpu or
   * cuda provider: each shape's inputs and outputs keep buffers of their own in the provider's
   * memory, and a feed that is the same array as the last run's is not copied again. The first run
   * of a shape goes through the plain session (it tells the output shapes). A graph or shape whose
   * bound session cannot be made runs on the plain one (reported by `boundGraphs()`). Feeds are
   * compared by identity: a caller must not change an array in place and feed it again.
   */
  ioBinding?: { graphs: readonly string[]; /** cuda: capture each shape's run as a CUDA graph */ cudaGraph?: boolean };
}

/** A provider that did not create the sessions of some graphs: which (the manifest's names), so a
 * caller can tell one graph the provider does not take from a provider that starts for none. */
export class SessionCreateError extends ProviderError {
  constructor(message: string, readonly graphs: readonly string[], options: DurianErrorOptions = {}) {
    super(message, options);
  }
}

/** The per-graph session options SessionSetOptions.graphOptions may set. */
export type GraphSessionOptions = Pick<ort.InferenceSession.SessionOptions, 'enableCpuMemArena' | 'enableMemPattern'>;

/** Sessions kept per fixed-shape graph (windows of one size, both guidance layouts, a spare). */
const MAX_FIXED_SHAPES = 3;

interface FixedShapeGraph {
  /** The model bytes fixed-shape sessions are made from (rewritten when its attention is chunked). */
  bytes: Uint8Array;
  /** Options of this graph's sessions. */
  options: Omit<ort.InferenceSession.SessionOptions, 'executionProviders'>;
  declared: Record<string, (number | string)[]>;
  sessions: Map<string, Promise<ort.InferenceSession>>;
  /** Shapes whose fixed session could not be made (they run on the dynamic session), with why. */
  fallbacks: Map<string, string>;
  /** With ioBinding: each shape's bound session (once its output shapes are known), or why it has none. */
  bound?: Map<string, BoundShape>;
}

interface BoundShape {
  session?: BoundSession;
  outputDims?: Record<string, number[]>;
  failed?: string;
}

export class SessionSet {
  private constructor(
    readonly dir: string,
    readonly manifest: Manifest,
    private readonly sessions: Map<string, ort.InferenceSession>,
    readonly executionProviders: readonly string[],
    private readonly fixed: Map<string, FixedShapeGraph>,
    private readonly chunked: ReadonlyMap<string, number>,
    private readonly fused: ReadonlyMap<string, number>,
    /** How bound graphs' sessions are made (undefined: no IOBinding). */
    private readonly boundOptions: BoundSessionOptions | undefined,
  ) {}

  /** Reads the manifest, verifies every graph's sha256, creates the sessions in parallel. */
  static async create(dir: string, options: SessionSetOptions): Promise<SessionSet> {
    const manifest = readManifest(dir);
    const graphs = new Map<string, GraphEntry>();
    for (const name of options.graphs ?? Object.keys(manifest.graphs)) {
      const entry = manifest.graphs[name];
      if (!entry) throw new ModelFileError(`model ${dir} has no graph "${name}" in its manifest`);
      graphs.set(name, entry);
    }
    const names = [...graphs.keys()];
    const fileOf = (n: string) => path.join(dir, graphs.get(n)?.file ?? '');
    if (!options.skipVerify) await assertGraphFiles(dir, Object.fromEntries(graphs));
    const extra = options.intraOpNumThreads ? { intraOpNumThreads: options.intraOpNumThreads } : {};
    const optionsOf = (n: string) => ({ ...extra, ...options.graphOptions?.[n] });
    const fixed = new Map<string, FixedShapeGraph>();
    // IOBinding through the C API: only where a provider it knows runs first
    const first = options.executionProviders[0];
    const boundOptions: BoundSessionOptions | undefined = options.ioBinding && (first === 'cpu' || first === 'cuda')
      ? { provider: first, cudaGraph: options.ioBinding.cudaGraph ?? false, intraOpNumThreads: options.intraOpNumThreads }
      : undefined;
    const chunked = new Map<string, number>();
    const fused = new Map<string, number>();
    // a graph with rewritten attention loads from the first of its rewrites that loads (fused, then
    // chunked alone), or as exported if none does
    const sessionOf = async (n: string): Promise<ort.InferenceSession> => {
      const isFixed = options.fixedShapes?.includes(n) ?? false;
      const fuse = options.fuseAttention?.includes(n) ?? false;
      const chunk = options.chunkAttention?.includes(n) ?? false;
      const given = options.graphBytes?.[n];
      if (!isFixed && !fuse && !chunk) return createInferenceSession(given ?? fileOf(n), options.executionProviders, optionsOf(n));
      const original = given ?? new Uint8Array(readFileSync(fileOf(n)));
      const chunkOf = (bytes: Uint8Array) => (chunk ? chunkAttention(bytes, options.chunkAttentionOptions ?? DEFAULT_CHUNK_ATTENTION) : { model: bytes, blocks: 0 });
      // made one at a time, only when the one before does not load
      type Rewrite = { bytes: Uint8Array; fused: number; chunked: number } | undefined;
      const rewrites: (() => Rewrite)[] = [];
      if (fuse) {
        rewrites.push(() => {
          const f = fuseAttention(original, options.fuseAttentionOptions);
          const c = chunkOf(f.model);
          return f.blocks > 0 ? { bytes: c.model, fused: f.blocks, chunked: c.blocks } : undefined;
        });
      }
      rewrites.push(() => {
        const c = chunkOf(original);
        return c.blocks > 0 ? { bytes: c.model, fused: 0, chunked: c.blocks } : undefined;
      });
      const finish = (bytes: Uint8Array) => {
        const bound = boundOptions && options.ioBinding?.graphs.includes(n) ? new Map<string, BoundShape>() : undefined;
        if (isFixed) fixed.set(n, { bytes, options: optionsOf(n), declared: readInputDims(bytes), sessions: new Map(), fallbacks: new Map(), bound });
      };
      for (const rewrite of rewrites) {
        const r = rewrite();
        if (!r) continue;
        try {
          const session = await createInferenceSession(r.bytes, options.executionProviders, optionsOf(n));
          if (r.fused) fused.set(n, r.fused);
          if (r.chunked) chunked.set(n, r.chunked);
          finish(r.bytes);
          return session;
        } catch {
          // the next rewrite, or as exported below
        }
      }
      finish(original);
      return createInferenceSession(original, options.executionProviders, optionsOf(n));
    };
    // a fixed-shape graph also gets its dynamic session: the input names, and any shape ORT
    // cannot fold (or a model it cannot load from bytes) falls back to it
    const settled = await Promise.allSettled(names.map(sessionOf));
    const failed = names.filter((_, i) => settled[i]!.status === 'rejected');
    if (failed.length) {
      await Promise.all(settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value.release()] : [])));
      const first: unknown = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected')!.reason;
      if (!(first instanceof ProviderError)) throw first;
      throw new SessionCreateError(first.message, failed, { cause: first.cause, suggestion: first.suggestion });
    }
    const entries = names.map((n, i) => [n, (settled[i] as PromiseFulfilledResult<ort.InferenceSession>).value] as const);
    // a graph whose inputs are not the manifest's would fail only at its first run (the UNet's after
    // the references and the pose guider have run): compare names and ranks now
    for (const [n, session] of entries) {
      const declared = Object.fromEntries(session.inputMetadata.map((m) => [m.name, m.isTensor ? m.shape : []]));
      const entry = graphs.get(n);
      const problem = entry && compareGraphInputs(entry, declared);
      if (problem) {
        await Promise.all(entries.map(([, s]) => s.release()));
        throw new ModelFileError(`${fileOf(n)}: ${problem}`,
          { suggestion: 'Re-export the model so that the manifest describes its graphs.' });
      }
    }
    return new SessionSet(dir, manifest, new Map(entries), options.executionProviders, fixed, chunked, fused, boundOptions);
  }

  has(graph: string): boolean {
    return this.sessions.has(graph);
  }

  /** Graphs whose attention runs in pieces, with the number of attention blocks rewritten. */
  chunkedAttention(): Record<string, number> {
    return Object.fromEntries(this.chunked);
  }

  /** Graphs whose attention runs as MultiHeadAttention, with the number of attention blocks fused. */
  fusedAttention(): Record<string, number> {
    return Object.fromEntries(this.fused);
  }

  /** Graphs run as fixed-shape sessions. */
  get fixedShapeGraphs(): string[] {
    return [...this.fixed.keys()];
  }

  /** The shapes (`batch=1,frames=16,...`) of a graph's fixed-shape sessions made so far, and
   * those that fell back to the dynamic session with the reason. */
  async fixedShapes(graph: string): Promise<{ made: string[]; fallbacks: Record<string, string> }> {
    const fixed = this.fixed.get(graph);
    if (!fixed) return { made: [], fallbacks: {} };
    await Promise.all(fixed.sessions.values());
    return { made: [...fixed.sessions.keys()].filter((k) => !fixed.fallbacks.has(k)), fallbacks: Object.fromEntries(fixed.fallbacks) };
  }

  /** Runs one graph; feeds are checked against the graph's input names (missing throws, extra throws). */
  async run(graph: string, feeds: Record<string, FloatArray>): Promise<Record<string, FloatArray>> {
    const session = this.sessions.get(graph);
    if (!session) throw new InferenceError(`graph "${graph}" is not loaded`);
    const fixed = this.fixed.get(graph);
    const binding = fixed ? bindDims(fixed.declared, feeds) : null;
    if (!fixed || !binding || !Object.keys(binding).length) return runSession(session, graph, feeds);
    const plain = await this.fixedSession(fixed, binding, session);
    if (!fixed.bound) return runSession(plain, graph, feeds);
    const key = shapeKey(binding);
    const shape = fixed.bound.get(key);
    if (shape?.session && shape.outputDims) {
      try {
        return await shape.session.run(feeds, shape.outputDims);
      } catch (cause) {
        const reason = cause instanceof Error ? cause.message.split('\n')[0] : String(cause);
        throw new InferenceError(`${graph} failed (bound session): ${reason}`, { cause });
      }
    }
    const out = await runSession(plain, graph, feeds);
    if (!shape) {
      const made: BoundShape = { outputDims: Object.fromEntries(Object.entries(out).map(([k, v]) => [k, [...v.dims]])) };
      if (plain === session) {
        made.failed = 'no fixed-shape session for this shape';
      } else {
        try {
          made.session = BoundSession.create(fixInputDims(fixed.bytes, binding), this.boundOptions!);
        } catch (error) {
          made.failed = error instanceof Error ? error.message : String(error);
        }
      }
      fixed.bound.set(key, made);
    }
    return out;
  }

  /** Whether bound graphs are captured as CUDA graphs. */
  get cudaGraphs(): boolean {
    return this.boundOptions?.provider === 'cuda' && this.boundOptions.cudaGraph === true;
  }

  /** Graphs run through IOBinding: per graph, the shapes with a bound session and those without, with why. */
  boundGraphs(): Record<string, { made: string[]; failed: Record<string, string> }> {
    const report: Record<string, { made: string[]; failed: Record<string, string> }> = {};
    for (const [graph, fixed] of this.fixed) {
      if (!fixed.bound) continue;
      const entries = [...fixed.bound.entries()];
      report[graph] = {
        made: entries.filter(([, b]) => b.session).map(([k]) => k),
        failed: Object.fromEntries(entries.filter(([, b]) => b.failed).map(([k, b]) => [k, b.failed!])),
      };
    }
    return report;
  }

  /** The session of `graph` for the input shapes `feeds` would have (made now if new), so that a
   * timed loop does not pay for it; a no-op for graphs without fixed shapes. */
  async prepare(graph: string, dims: Record<string, { dims: readonly number[] }>): Promise<void> {
    const fixed = this.fixed.get(graph);
    const session = this.sessions.get(graph);
    const binding = fixed ? bindDims(fixed.declared, dims) : null;
    if (fixed && session && binding && Object.keys(binding).length) await this.fixedSession(fixed, binding, session);
  }

  private fixedSession(fixed: FixedShapeGraph, binding: Record<string, number>, dynamic: ort.InferenceSession): Promise<ort.InferenceSession> {
    const key = shapeKey(binding);
    let made = fixed.sessions.get(key);
    if (!made) {
      if (fixed.sessions.size >= MAX_FIXED_SHAPES) {
        const [oldest, old] = fixed.sessions.entries().next().value as [string, Promise<ort.InferenceSession>];
        fixed.sessions.delete(oldest);
        void old.then((s) => (s === dynamic ? undefined : s.release()));
        fixed.bound?.get(oldest)?.session?.release();
        fixed.bound?.delete(oldest);
      }
      made = createInferenceSession(fixInputDims(fixed.bytes, binding), this.executionProviders, fixed.options)
        .catch((error: unknown) => {
          fixed.fallbacks.set(key, error instanceof Error ? error.message : String(error));
          return dynamic;
        });
      fixed.sessions.set(key, made);
    }
    return made;
  }

  async release(): Promise<void> {
    for (const f of this.fixed.values()) for (const b of f.bound?.values() ?? []) b.session?.release();
    const fixed = (await Promise.all([...this.fixed.values()].flatMap((f) => [...f.sessions.values()])))
      .filter((s) => ![...this.sessions.values()].includes(s));
    await Promise.all([...this.sessions.values(), ...fixed].map((s) => s.release()));
    this.sessions.clear();
    this.fixed.clear();
  }
}

/** A fixed shape's key: its symbolic dimensions, sorted by name (`batch=1,frames=16,...`). */
function shapeKey(binding: Record<string, number>): string {
  return Object.entries(binding).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}=${v}`).join(',');
}

/**
 * Runs one session with feeds checked against its input names (a missing or unexpected feed throws)
 * and float32 outputs; errors name the graph, a run failure as `label` (default: the graph's name).
 */
export async function runSession(session: ort.InferenceSession, graph: string, feeds: Record<string, FloatArray>,
  label = graph): Promise<Record<string, FloatArray>> {
  const mismatch = feedMismatch(session.inputNames, feeds);
  if (mismatch) throw new InferenceError(`${graph}: ${mismatch}`);
  const ortFeeds = Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, toOrtTensor(v)]));
  let out: ort.InferenceSession.OnnxValueMapType;
  try {
    out = await session.run(ortFeeds);
  } catch (cause) {
    const described = Object.entries(feeds).map(([k, v]) => `${k}: float32[${v.dims.join(', ')}]`).join('; ');
    const reason = cause instanceof Error ? cause.message.split('\n')[0] : String(cause);
    throw new InferenceError(`${label} failed: ${reason} (feeds ${described})`, { cause });
  }
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, fromOrtTensor(v)]));
}
