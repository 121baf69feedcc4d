/**
 * `models/face/manifest.json` as tools/export/durian_export/face/assets.py writes it (format
 * "durian-face"): per graph its file, sha256, I/O names and shapes, and the pre/post-processing
 * facts (normalisation, anchors, thresholds) that the TypeScript side reads instead of hard-coding.
 * NOTE: this is not the durian model manifest of src/onnx/manifest.ts (no "name"; inputs and
 * outputs are name → shape maps), so it has its own reader; the sha256 check is shared.
 */
import path from 'node:path';

import { ModelFileError } from '../errors';
import { readManifestJson, verifyModelFiles } from '../onnx/manifest';

export const FACE_MANIFEST_FORMAT = 'durian-face';
export const SUPPORTED_FACE_MANIFEST_VERSIONS = [1] as const;
/** The graphs the front end needs, by manifest key. */
export const FACE_GRAPH_KEYS = ['detector', 'mesh', 'segmenter'] as const;
export type FaceGraphKey = (typeof FACE_GRAPH_KEYS)[number];

/** One graph entry; the facts beyond file, hash and I/O differ per graph and are read where used. */
export interface FaceGraphEntry {
  file: string;
  sha256: string;
  /** Input name → shape. */
  inputs: Record<string, number[]>;
  /** Output name → shape. */
  outputs: Record<string, number[]>;
  normalization: { scale: number; offset: number };
  [fact: string]: unknown;
}

export interface FaceManifest {
  format: string;
  format_version: number;
  graphs: Record<FaceGraphKey, FaceGraphEntry>;
  [key: string]: unknown;
}

/** Reads and checks `<dir>/manifest.json`; throws ModelFileError naming what is wrong. */
export function readFaceManifest(dir: string): FaceManifest {
  const { json, file } = readManifestJson(dir, 'face model directory',
    'Convert the MediaPipe graphs with `python -m durian_export.face.convert` (tools/export).');
  return validateFaceManifest(json, file);
}

/** Checks a parsed face manifest; `where` names it in error messages. */
export function validateFaceManifest(json: unknown, where: string): FaceManifest {
  const m = (typeof json === 'object' && json !== null && !Array.isArray(json) ? json : undefined) as Record<string, unknown> | undefined;
  if (m?.format !== FACE_MANIFEST_FORMAT) throw new ModelFileError(`${where}: "format" must be "${FACE_MANIFEST_FORMAT}"`);
  if (!(SUPPORTED_FACE_MANIFEST_VERSIONS as readonly unknown[]).includes(m.format_version)) {
    throw new ModelFileError(`${where}: face manifest format_version ${String(m.format_version)} is not supported (this durian reads ${SUPPORTED_FACE_MANIFEST_VERSIONS.join(', ')})`);
  }
  const graphs = (m.graphs ?? {}) as Record<string, Record<string, unknown> | undefined>;
  for (const key of FACE_GRAPH_KEYS) {
    const e = graphs[key];
    const at = `${where}: graphs.${key}`;
    if (typeof e !== 'object' || e === null) throw new ModelFileError(`${at} is missing`);
    if (typeof e.file !== 'string' || e.file.includes('..') || path.isAbsolute(e.file)) throw new ModelFileError(`${at}.file must be a file name inside the directory`);
    if (typeof e.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(e.sha256)) throw new ModelFileError(`${at}.sha256 must be 64 lowercase hex digits`);
    for (const io of ['inputs', 'outputs'] as const) {
      const specs = e[io] as Record<string, unknown> | undefined;
      const ok = typeof specs === 'object' && specs !== null && Object.values(specs).every((s) => Array.isArray(s) && s.every(Number.isInteger));
      if (!ok || Object.keys(specs).length === 0) throw new ModelFileError(`${at}.${io} must map names to integer shapes`);
    }
    const norm = e.normalization as Record<string, unknown> | undefined;
    if (typeof norm?.scale !== 'number' || typeof norm.offset !== 'number') throw new ModelFileError(`${at}.normalization needs numeric scale and offset`);
  }
  return json as FaceManifest;
}

/** Verifies every graph file of the face manifest against its sha256; throws ModelFileError on the first bad one. */
export async function verifyFaceGraphs(dir: string, manifest: FaceManifest): Promise<void> {
  const bad = (await verifyModelFiles(dir, manifest)).find((g) => g.status !== 'ok');
  if (bad) {
    const status = bad.status === 'missing' ? 'graph file missing' : 'sha256 does not match the manifest';
    throw new ModelFileError(`${path.join(dir, bad.file)}: ${status}`, { suggestion: 'Re-run the face model conversion (tools/export) or restore models/face from git.' });
  }
}

/** The single input of a graph: its name and NHWC side (square inputs only). */
export function getSquareInput(entry: FaceGraphEntry, where: string): { name: string; side: number } {
  const inputs = Object.entries(entry.inputs);
  const [name, shape] = inputs[0] ?? [];
  if (inputs.length !== 1 || !name || !shape || shape.length !== 4 || shape[1] !== shape[2] || shape[3] !== 3) {
    throw new ModelFileError(`${where}: expected one NHWC RGB square input, got ${JSON.stringify(entry.inputs)}`);
  }
  return { name, side: shape[1]! };
}

/** Checks that a graph declares an output; returns the name for feeds/reads. */
export function getOutputName(entry: FaceGraphEntry, name: string, where: string): string {
  if (!(name in entry.outputs)) throw new ModelFileError(`${where}: no output "${name}" (outputs: ${Object.keys(entry.outputs).join(', ')})`);
  return name;
}

/** A numeric fact of a graph entry (e.g. `min_score`, or `crop.scale` as a path). */
export function getNumberFact(entry: FaceGraphEntry, keyPath: string, where: string): number {
  let v: unknown = entry;
  for (const k of keyPath.split('.')) v = (v as Record<string, unknown> | undefined)?.[k];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ModelFileError(`${where}: missing numeric "${keyPath}"`);
  return v;
}
