/**
 * The only module that imports onnxruntime-node. Everything else reaches ONNX Runtime through the
 * functions and types re-exported here.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';

import * as ort from 'onnxruntime-node';

import { ProviderError } from '../errors';
import { summarizeOrtMessage } from './ort-message';

export type { InferenceSession, Tensor } from 'onnxruntime-node';
export { ort };

/** A backend as onnxruntime-node reports it: `bundled` means its library ships in the package. */
export interface OrtBackendInfo {
  name: string;
  bundled: boolean;
}

/** onnxruntime-node's version string (e.g. `1.30.0`). */
export function getOrtVersion(): string {
  return ort.env.versions.node ?? ort.env.versions.common;
}

/** The execution providers this onnxruntime-node build knows, bundled or loadable on demand. */
export function listOrtBackends(): OrtBackendInfo[] {
  return ort.listSupportedBackends().map((b) => ({ name: b.name, bundled: b.bundled }));
}

/** Where onnxruntime-node keeps its runtime library and the provider libraries it loads beside it. */
export function ortLibraryDir(): string {
  return path.join(path.dirname(require.resolve('onnxruntime-node')), '..', 'bin', 'napi-v6', process.platform, process.arch);
}

/**
 * Whether a provider that onnxruntime-node loads from a separate library (CUDA, TensorRT) has
 * that library installed beside the binding; bundled providers always count as present.
 * NOTE: trying a missing one makes ORT print several lines of errors to stderr before failing.
 */
export function hasProviderLibrary(provider: string): boolean {
  const backend = listOrtBackends().find((b) => b.name === provider);
  if (!backend) return false;
  if (backend.bundled) return true;
  return existsSync(path.join(ortLibraryDir(), `libonnxruntime_providers_${provider}.so`));
}

/** Creates a session from a file path or serialized model bytes on the given providers. */
export async function createInferenceSession(
  model: string | Uint8Array,
  executionProviders: readonly string[],
  extra: Omit<ort.InferenceSession.SessionOptions, 'executionProviders'> = {},
): Promise<ort.InferenceSession> {
  // Errors only: ORT's warnings (e.g. which shape ops it placed on the CPU) would flood a terminal per graph.
  const options: ort.InferenceSession.SessionOptions = { logSeverityLevel: 3, ...extra, executionProviders: [...executionProviders] };
  try {
    return typeof model === 'string'
      ? await ort.InferenceSession.create(model, options)
      : await ort.InferenceSession.create(model, options);
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new ProviderError(`could not create a session on [${executionProviders.join(', ')}]: ${summarizeOrtMessage(reason)}`, {
      cause,
      suggestion: 'Run `durian doctor` to see which providers work on this machine.',
    });
  }
}

/** A float32 tensor from plain data and dims. */
export function createFloat32Tensor(data: Float32Array, dims: readonly number[]): ort.Tensor {
  return new ort.Tensor('float32', data, dims);
}

/** A float16 tensor from its IEEE binary16 bits (attention-graph.ts `float16Bits`) and dims. */
export function createFloat16Tensor(bits: Uint16Array, dims: readonly number[]): ort.Tensor {
  return new ort.Tensor('float16', bits, dims);
}
