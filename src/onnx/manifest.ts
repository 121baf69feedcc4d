/**
 * The model directory contract: `manifest.json` written by tools/export (durian_export/manifest.py),
 * read here. Its one definition is the JSON Schema tools/export/durian_export/manifest.schema.json:
 * Python validates with it (jsonschema), this module with ajv, and the types in manifest-types.ts are
 * generated from it. docs/architecture.md describes the contract. This module reads and checks
 * files; it never loads onnxruntime-node.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

import Ajv2020, { type ErrorObject } from 'ajv/dist/2020';

import { ModelFileError } from '../errors';
import type { DurianManifest, Graph, Tensor } from './manifest-types';

/** The schema file, beside the Python exporter (the same path from src/onnx and dist/onnx). */
export const MANIFEST_SCHEMA_FILE = path.resolve(__dirname, '..', '..', 'tools', 'export', 'durian_export', 'manifest.schema.json');

/** One graph input or output: its name, element type and shape (strings are symbolic dims). */
export type TensorSpec = Tensor;

/** One ONNX graph of the model. */
export type GraphEntry = Graph;

/** `manifest.json` after validation: the schema's type, with the schema's defaults filled in. */
export type Manifest = DurianManifest & { defaults: Required<NonNullable<DurianManifest['defaults']>> };

/** Verification result of one file of a model directory. */
export interface GraphCheck {
  graph: string;
  file: string;
  status: 'ok' | 'missing' | 'mismatch';
  expected: string;
  actual?: string;
}

export const MANIFEST_FILE = 'manifest.json';
/** The scheduler settings beside the graphs (diffusers spelling), read by src/pipeline/schedulers. */
export const SCHEDULER_CONFIG_FILE = 'scheduler_config.json';

let compiled: ReturnType<typeof compileSchema> | undefined;

function compileSchema() {
  const schema: unknown = JSON.parse(readFileSync(MANIFEST_SCHEMA_FILE, 'utf8'));
  if (typeof schema !== 'object' || schema === null) throw new Error(`${MANIFEST_SCHEMA_FILE} is not a JSON Schema`);
  // useDefaults: a missing `defaults` (or one of its fields) takes the schema's `default`, which
  // is what the `Manifest` type promises; strict: a keyword ajv does not know is an error.
  const ajv = new Ajv2020({ useDefaults: true, strict: true, allErrors: false });
  return ajv.compile<Manifest>(schema);
}

/** The compiled validator of manifest.schema.json (compiled once). */
function getValidator(): ReturnType<typeof compileSchema> {
  compiled ??= compileSchema();
  return compiled;
}

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

/** `/graphs/unet/file` → `graphs.unet.file` (the manifest's own spelling of a field). */
function fieldOf(pointer: string): string {
  if (pointer === '') return 'manifest';
  return pointer.slice(1).split('/').map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~')).join('.');
}

/** One line for an ajv error: the field and what is wrong with it. */
export function describeSchemaError(error: ErrorObject): string {
  const field = fieldOf(error.instancePath);
  const p: Record<string, unknown> = error.params;
  switch (error.keyword) {
    case 'required':
      return `${field === 'manifest' ? '' : `${field}.`}${String(p.missingProperty)} is missing`;
    case 'additionalProperties':
      return `${field} has an unknown field "${String(p.additionalProperty)}"`;
    case 'const':
      return `${field} must be ${JSON.stringify(p.allowedValue)}`;
    case 'enum':
      return `${field} must be one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    default:
      return `${field} ${error.message ?? 'is invalid'}`;
  }
}

/**
 * Checks a parsed manifest against manifest.schema.json; `where` names it in error messages. The
 * schema's defaults are filled into `json` (it is the returned object).
 */
export function validateManifest(json: unknown, where: string): Manifest {
  const validate = getValidator();
  if (validate(json)) return json;
  const error = validate.errors?.[0];
  if (error?.instancePath === '/format_version' && error.keyword === 'const') {
    const version = JSON.stringify((json as { format_version: unknown }).format_version);
    throw new ModelFileError(
      `${where}: manifest format_version ${version} is not supported (this durian reads ${JSON.stringify(error.params.allowedValue)})`,
      { suggestion: 'Re-export the model with a matching tools/export, or update durian.' },
    );
  }
  throw new ModelFileError(`${where}: ${error ? describeSchemaError(error) : 'does not match the manifest schema'}`, {
    suggestion: 'Re-export the model with `python -m durian_export.export`.',
  });
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

/** Checks every graph file of a manifest against its sha256; a path that is not a file is `missing`. */
export async function verifyModelFiles(dir: string, manifest: { graphs: Record<string, { file: string; sha256: string }> }): Promise<GraphCheck[]> {
  const checks: GraphCheck[] = [];
  for (const [graph, entry] of Object.entries(manifest.graphs)) {
    const file = path.join(dir, entry.file);
    if (!existsSync(file) || !statSync(file).isFile()) {
      checks.push({ graph, file: entry.file, status: 'missing', expected: entry.sha256 });
      continue;
    }
    const actual = await hashFile(file);
    checks.push({ graph, file: entry.file, status: actual === entry.sha256 ? 'ok' : 'mismatch', expected: entry.sha256, actual });
  }
  return checks;
}

/**
 * Throws ModelFileError for the first graph of `graphs` whose file is missing or does not match the
 * manifest's sha256 (suggesting `durian models verify`). Runs before anything is made from the
 * files, rewrites of their bytes included.
 */
export async function assertGraphFiles(dir: string, graphs: Record<string, { file: string; sha256: string }>): Promise<void> {
  const bad = (await verifyModelFiles(dir, { graphs })).find((c) => c.status !== 'ok');
  if (bad) {
    throw new ModelFileError(
      `${path.join(dir, bad.file)}: ${bad.status === 'missing' ? 'graph file missing' : 'sha256 does not match the manifest'}`,
      { suggestion: 'Run `durian models verify` and re-export or re-copy the model.' },
    );
  }
}

/** `<dir>/scheduler_config.json` parsed; throws `ModelFileError` naming the file when it is missing or not a JSON object. */
export function readSchedulerConfig(dir: string): Record<string, unknown> {
  const file = path.join(dir, SCHEDULER_CONFIG_FILE);
  if (!existsSync(file)) {
    throw new ModelFileError(`${file} is missing`, { suggestion: 'Re-export the model: `python -m durian_export.export` writes it beside the graphs.' });
  }
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (cause) {
    throw new ModelFileError(`${file} is not valid JSON`, { cause });
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new ModelFileError(`${file} must hold a JSON object`);
  return Object.fromEntries(Object.entries(json));
}

/**
 * What the manifest says a graph's inputs are vs what its file declares (`declared`: input name →
 * shape, as onnxruntime or fix-dims.ts reads it): the first difference of names or ranks as one
 * line, or undefined when they agree.
 */
export function compareGraphInputs(entry: Graph, declared: Record<string, readonly (number | string)[]>): string | undefined {
  const listed = entry.inputs.map((t) => t.name);
  const missing = listed.filter((n) => !(n in declared));
  const extra = Object.keys(declared).filter((n) => !listed.includes(n));
  if (missing.length || extra.length) {
    return `inputs do not match the manifest (in the manifest only: ${missing.join(', ') || '-'}; in the graph only: ${extra.join(', ') || '-'})`;
  }
  for (const t of entry.inputs) {
    const rank = declared[t.name]?.length;
    if (rank !== t.shape.length) return `input "${t.name}" has rank ${rank} in the graph but ${t.shape.length} in the manifest`;
  }
  return undefined;
}
