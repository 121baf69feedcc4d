/**
 * The three face graphs as named InferenceSessions, created after the sha256 check, run with
 * checked feeds (runSession, shared with src/onnx/session-set.ts, which reads the durian model
 * manifest and so cannot take the face manifest) and released together.
 */
import path from 'node:path';

import { InferenceError } from '../errors';
import { createInferenceSession, type InferenceSession } from '../onnx/runtime';
import { runSession } from '../onnx/session-set';
import type { FloatArray } from '../onnx/tensor';
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
    // no memory pattern on the CPU: with it ORT plans a second block per input shape beside the
    // arena's chunks of the first run (docs/performance.md, "CPU memory"); the same outputs
    const extra = { ...(options.intraOpNumThreads ? { intraOpNumThreads: options.intraOpNumThreads } : {}),
      ...(providers[0] === 'cpu' ? { enableMemPattern: false } : {}) };
    const entries = await Promise.all(FACE_GRAPH_KEYS.map(async (key) =>
      [key, await createInferenceSession(path.join(dir, manifest.graphs[key].file), providers, extra)] as const));
    return new FaceSessions(dir, manifest, new Map(entries));
  }

  /** Runs one graph; feed names must be exactly the graph's inputs. */
  async run(graph: FaceGraphKey, feeds: Record<string, FloatArray>): Promise<Record<string, FloatArray>> {
    const session = this.sessions.get(graph);
    if (!session) throw new InferenceError(`face graph "${graph}" is not loaded (released?)`);
    return runSession(session, graph, feeds, `face ${graph}`);
  }

  async release(): Promise<void> {
    await Promise.all([...this.sessions.values()].map((s) => s.release()));
    this.sessions.clear();
  }
}
