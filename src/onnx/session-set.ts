/**
 * The model's graphs as a named set of InferenceSessions, created from the manifest (after the
 * sha256 check), run with checked feeds, released as a unit.
 */
import path from 'node:path';

import { InferenceError, ModelFileError } from '../errors';
import { readManifest, verifyModelFiles, type Manifest } from './manifest';
import { createInferenceSession, ort } from './runtime';
import { fromOrtTensor, toOrtTensor, type FloatArray } from './tensor';

export interface SessionSetOptions {
  executionProviders: readonly string[];
  /** Only these graphs (default: every graph of the manifest). */
  graphs?: readonly string[];
  /** Skip the sha256 check (tests that just wrote the files). */
  skipVerify?: boolean;
  intraOpNumThreads?: number;
}

export class SessionSet {
  private constructor(
    readonly dir: string,
    readonly manifest: Manifest,
    private readonly sessions: Map<string, ort.InferenceSession>,
    readonly executionProviders: readonly string[],
  ) {}

  /** Reads the manifest, verifies every graph's sha256, creates the sessions in parallel. */
  static async create(dir: string, options: SessionSetOptions): Promise<SessionSet> {
    const manifest = readManifest(dir);
    const names = options.graphs ?? Object.keys(manifest.graphs);
    for (const name of names) {
      if (!manifest.graphs[name]) throw new ModelFileError(`model ${dir} has no graph "${name}" in its manifest`);
    }
    if (!options.skipVerify) {
      const checks = await verifyModelFiles(dir, { ...manifest, graphs: Object.fromEntries(names.map((n) => [n, manifest.graphs[n]!])) });
      const bad = checks.find((c) => c.status !== 'ok');
      if (bad) {
        throw new ModelFileError(
          `${path.join(dir, bad.file)}: ${bad.status === 'missing' ? 'graph file missing' : 'sha256 does not match the manifest'}`,
          { suggestion: 'Run `durian models verify` and re-export or re-copy the model.' },
        );
      }
    }
    const extra = options.intraOpNumThreads ? { intraOpNumThreads: options.intraOpNumThreads } : {};
    const entries = await Promise.all(
      names.map(async (n) => [n, await createInferenceSession(path.join(dir, manifest.graphs[n]!.file), options.executionProviders, extra)] as const),
    );
    return new SessionSet(dir, manifest, new Map(entries), options.executionProviders);
  }

  has(graph: string): boolean {
    return this.sessions.has(graph);
  }

  /** Runs one graph; feeds are checked against the graph's input names (missing throws, extra throws). */
  async run(graph: string, feeds: Record<string, FloatArray>): Promise<Record<string, FloatArray>> {
    const session = this.sessions.get(graph);
    if (!session) throw new InferenceError(`graph "${graph}" is not loaded`);
    return runSession(session, graph, feeds);
  }

  async release(): Promise<void> {
    await Promise.all([...this.sessions.values()].map((s) => s.release()));
    this.sessions.clear();
  }
}

/**
 * Runs one session with feeds checked against its input names (a missing or unexpected feed throws)
 * and float32 outputs; errors name the graph, a run failure as `label` (default: the graph's name).
 */
export async function runSession(session: ort.InferenceSession, graph: string, feeds: Record<string, FloatArray>,
  label = graph): Promise<Record<string, FloatArray>> {
  const missing = session.inputNames.filter((n) => !(n in feeds));
  const extra = Object.keys(feeds).filter((n) => !session.inputNames.includes(n));
  if (missing.length || extra.length) {
    throw new InferenceError(`${graph}: feeds do not match the graph (missing: ${missing.join(', ') || '-'}; unexpected: ${extra.join(', ') || '-'})`);
  }
  const ortFeeds = Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, toOrtTensor(v)]));
  let out: ort.InferenceSession.OnnxValueMapType;
  try {
    out = await session.run(ortFeeds);
  } catch (cause) {
    const described = Object.entries(feeds).map(([k, v]) => `${k}: float32[${v.dims.join(', ')}]`).join('; ');
    const reason = cause instanceof Error ? cause.message.split('\n')[0] : String(cause);
    throw new InferenceError(`${label} failed: ${reason} (feeds ${described})`, { cause });
  }
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, fromOrtTensor(v as ort.Tensor)]));
}
