/**
 * Finding and checking model directories (`models/<name>/manifest.json`).
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';

import { DurianError, ModelFileError } from '../errors';
import { FACE_MANIFEST_FORMAT, validateFaceManifest } from '../face/face-manifest';
import { MANIFEST_FILE, readManifestJson, readSchedulerConfig, validateManifest, verifyModelFiles, type GraphCheck } from '../onnx/manifest';

/** The `models/` directory shipped beside the built CLI (`dist/` → package root). */
export const DEFAULT_MODELS_DIR = path.resolve(__dirname, '..', '..', 'models');

/** The default model, models/durian-synth. */
export const DEFAULT_MODEL_DIR = path.join(DEFAULT_MODELS_DIR, 'durian-synth');

/** One model directory and the state of its files. */
export interface ModelStatus {
  name: string;
  dir: string;
  /** `generator`: a durian model (docs/architecture.md); `face`: the real-face front end's graphs (models/face). */
  kind: 'generator' | 'face';
  formatVersion?: number;
  /** `ok`: every graph present with the manifest's sha256; `invalid`: the manifest itself failed. */
  status: 'ok' | 'missing' | 'mismatch' | 'invalid';
  graphs: GraphCheck[];
  error?: string;
}

/** Directories under `root` that hold a `manifest.json`, sorted by name. */
export function findModelDirs(root: string): string[] {
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .map((name) => path.join(root, name))
    .filter((dir) => statSync(dir).isDirectory() && existsSync(path.join(dir, MANIFEST_FILE)))
    .sort();
}

/** Reads one model directory's manifest and hashes its graphs. Never throws for a bad model. */
export async function inspectModelDir(dir: string, verify = true): Promise<ModelStatus> {
  const name = path.basename(dir);
  let kind: ModelStatus['kind'] = 'generator';
  try {
    const { json, file } = readManifestJson(dir, 'model directory', 'Point --model at a directory written by `python -m durian_export.export`.');
    kind = (json as { format?: unknown } | null)?.format === FACE_MANIFEST_FORMAT ? 'face' : 'generator';
    const manifest = kind === 'face' ? { ...validateFaceManifest(json, file), name } : validateManifest(json, file);
    if (kind === 'generator') readSchedulerConfig(dir);
    const graphs = verify ? await verifyModelFiles(dir, manifest) : [];
    const status = graphs.some((g) => g.status === 'missing')
      ? 'missing'
      : graphs.some((g) => g.status === 'mismatch')
        ? 'mismatch'
        : 'ok';
    return { name: manifest.name || name, dir, kind, formatVersion: manifest.format_version, status, graphs };
  } catch (error) {
    if (!(error instanceof DurianError)) throw error;
    return { name, dir, kind, status: 'invalid', graphs: [], error: error.message };
  }
}

/** Inspects every model under `root`. */
export async function inspectModels(root: string, verify = true): Promise<ModelStatus[]> {
  return Promise.all(findModelDirs(root).map((dir) => inspectModelDir(dir, verify)));
}

/** Throws a `ModelFileError` describing the first problem of a model that is not `ok`. */
export function assertModelOk(model: ModelStatus): void {
  if (model.status === 'ok') return;
  const bad = model.graphs.find((g) => g.status !== 'ok');
  const detail =
    model.status === 'invalid'
      ? model.error
      : `${bad?.file}: ${bad?.status === 'missing' ? 'file missing' : 'sha256 does not match the manifest'}`;
  throw new ModelFileError(`model ${model.name} (${model.dir}) failed verification: ${detail}`, {
    suggestion: 'Re-export or re-copy the model directory; `durian models verify` lists every file.',
  });
}
