/**
 * The three face graphs as named InferenceSessions, created after the sha256 check, run with
 * checked feeds and released together. Mirrors src/onnx/session-set.ts, which reads the durian
 * model manifest and so cannot take the face manifest (see face-manifest.ts).
 */
import path from 'node:path';

import { InferenceError } from '../errors';
import { createInferenceSession, type InferenceSession, type Tensor } from '../onnx/runtime';
import { fromOrtTensor, toOrtTensor, type FloatArray } from '../onnx/tensor';
import { FACE_GRAPH_KEYS, readFaceManifest, verifyFaceGraphs, type FaceGraphKey, type FaceManifest } from './face-manifest';

export interface FaceSessionOptions {
  executionProviders?: readonly string[];
  /** Skip the sha256 check (tests that just wrote the files). */
  skipVerify?: boolean;
  intraOpNumThreads?: number;
}

/** Detector, mesh and segmenter sessions of one face model directory. */
export class FaceSessions {
  private constructor(
    readonly dir: string,
    readonly manifest: FaceManifest,
    private readonly sessions: Map<FaceGraphKey, InferenceSession>,
  ) {}

  /** Reads the face manifest, verifies the graphs' sha256, creates the sessions (CPU by default). */
  static async create(dir: string, options: FaceSessionOptions = {}): Promise<FaceSessions> {
    const manifest = readFaceManifest(dir);
    if (!options.skipVerify) await verifyFaceGraphs(dir, manifest);
    const providers = options.executionProviders ?? ['cpu'];
    const extra = options.intraOpNumThreads ? { intraOpNumThreads: options.intraOpNumThreads } : {};
    const entries = await Promise.all(FACE_GRAPH_KEYS.map(async (key) =>
      [key, await createInferenceSession(path.join(dir, manifest.graphs[key].file), providers, extra)] as const));
    return new FaceSessions(dir, manifest, new Map(entries));
  }

  /** Runs one graph; feed names must be exactly the graph's inputs. */
  async run(graph: FaceGraphKey, feeds: Record<string, FloatArray>): Promise<Record<string, FloatArray>> {
    const session = this.sessions.get(graph);
    if (!session) throw new InferenceError(`face graph "${graph}" is not loaded (released?)`);
    const missing = session.inputNames.filter((n) => !(n in feeds));
    const extra = Object.keys(feeds).filter((n) => !session.inputNames.includes(n));
    if (missing.length || extra.length) {
      throw new InferenceError(`${graph}: feeds do not match the graph (missing: ${missing.join(', ') || '-'}; unexpected: ${extra.join(', ') || '-'})`);
    }
    const ortFeeds = Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, toOrtTensor(v)]));
    let out: InferenceSession.OnnxValueMapType;
    try {
      out = await session.run(ortFeeds);
    } catch (cause) {
      const described = Object.entries(feeds).map(([k, v]) => `${k}: float32[${v.dims.join(', ')}]`).join('; ');
      const reason = cause instanceof Error ? cause.message.split('\n')[0] : String(cause);
      throw new InferenceError(`face ${graph} failed: ${reason} (feeds ${described})`, { cause });
    }
    return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, fromOrtTensor(v as Tensor)]));
  }

  async release(): Promise<void> {
    await Promise.all([...this.sessions.values()].map((s) => s.release()));
    this.sessions.clear();
  }
}
