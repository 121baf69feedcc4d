/**
 * The model directory contract (DESIGN §4): `manifest.json` written by `tools/export`, read here.
 * This module reads and checks files; it never loads onnxruntime-node.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

import { ModelFileError } from '../errors';

/** Manifest format versions this build of durian understands. */
export const SUPPORTED_MANIFEST_VERSIONS = [1] as const;

/** One graph input or output: its name, element type and shape (strings are symbolic dims). */
export interface TensorSpec {
  name: string;
  dtype: string;
  shape: (number | string)[];
}

/** One ONNX graph of the model. */
export interface GraphEntry {
  file: string;
  sha256: string;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
}

/** `manifest.json`, as far as this module needs to know it; other keys are kept as they are. */
export interface Manifest {
  format_version: number;
  name: string;
  graphs: Record<string, GraphEntry>;
  [key: string]: unknown;
}

/** Verification result of one graph file. */
export interface GraphCheck {
  graph: string;
  file: string;
  status: 'ok' | 'missing' | 'mismatch';
  expected: string;
  actual?: string;
}

export const MANIFEST_FILE = 'manifest.json';

/**
 * `<dir>/manifest.json` parsed but not yet checked; throws `ModelFileError` when it is missing
 * (with `suggestion`) or not JSON. Shared by the model and face manifests.
 */
export function readManifestJson(dir: string, what: string, suggestion: string): { json: unknown; file: string } {
  const file = path.join(dir, MANIFEST_FILE);
  if (!existsSync(file)) throw new ModelFileError(`no ${MANIFEST_FILE} in ${what} ${dir}`, { suggestion });
  try {
    return { json: JSON.parse(readFileSync(file, 'utf8')), file };
  } catch (cause) {
    throw new ModelFileError(`${file} is not valid JSON`, { cause });
  }
}

/** Reads and validates `<dir>/manifest.json`; throws `ModelFileError` naming what is wrong. */
export function readManifest(dir: string): Manifest {
  const { json, file } = readManifestJson(dir, 'model directory', 'Point --model at a directory written by `python -m durian_export.export`.');
  return validateManifest(json, file);
}

/** Checks the shape of a parsed manifest; `where` names it in error messages. */
export function validateManifest(json: unknown, where: string): Manifest {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new ModelFileError(`${where}: manifest must be a JSON object`);
  }
  const m = json as Record<string, unknown>;
  const version = m.format_version;
  if (typeof version !== 'number') throw new ModelFileError(`${where}: missing numeric "format_version"`);
  if (!(SUPPORTED_MANIFEST_VERSIONS as readonly number[]).includes(version)) {
    throw new ModelFileError(
      `${where}: manifest format_version ${version} is not supported (this durian reads ${SUPPORTED_MANIFEST_VERSIONS.join(', ')})`,
      { suggestion: 'Re-export the model with a matching tools/export, or update durian.' },
    );
  }
  if (typeof m.name !== 'string') throw new ModelFileError(`${where}: missing string "name"`);
  const graphs = m.graphs;
  if (typeof graphs !== 'object' || graphs === null || Array.isArray(graphs)) {
    throw new ModelFileError(`${where}: missing object "graphs"`);
  }
  for (const [graph, entry] of Object.entries(graphs as Record<string, unknown>)) {
    validateGraphEntry(entry, `${where}: graphs.${graph}`);
  }
  return json as Manifest;
}

function validateGraphEntry(entry: unknown, where: string): void {
  if (typeof entry !== 'object' || entry === null) throw new ModelFileError(`${where} must be an object`);
  const e = entry as Record<string, unknown>;
  if (typeof e.file !== 'string' || e.file.includes('..') || path.isAbsolute(e.file)) {
    throw new ModelFileError(`${where}.file must be a file name inside the model directory`);
  }
  if (typeof e.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(e.sha256)) {
    throw new ModelFileError(`${where}.sha256 must be 64 lowercase hex digits`);
  }
  for (const key of ['inputs', 'outputs'] as const) {
    const specs = e[key];
    if (!Array.isArray(specs)) throw new ModelFileError(`${where}.${key} must be an array`);
    specs.forEach((s: unknown, i) => {
      const spec = s as Record<string, unknown> | null;
      if (typeof spec?.name !== 'string' || typeof spec.dtype !== 'string' || !Array.isArray(spec.shape)) {
        throw new ModelFileError(`${where}.${key}[${i}] needs name, dtype and shape`);
      }
    });
  }
}

/** sha256 of a file, streamed (graphs can be tens of MB). */
export function hashFile(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(file)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}

/** Checks every graph file of a manifest against its sha256. */
export async function verifyModelFiles(dir: string, manifest: { graphs: Record<string, { file: string; sha256: string }> }): Promise<GraphCheck[]> {
  const checks: GraphCheck[] = [];
  for (const [graph, entry] of Object.entries(manifest.graphs)) {
    const file = path.join(dir, entry.file);
    if (!existsSync(file)) {
      checks.push({ graph, file: entry.file, status: 'missing', expected: entry.sha256 });
      continue;
    }
    const actual = await hashFile(file);
    checks.push({ graph, file: entry.file, status: actual === entry.sha256 ? 'ok' : 'mismatch', expected: entry.sha256, actual });
  }
  return checks;
}
