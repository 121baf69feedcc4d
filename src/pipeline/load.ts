/**
 * Loading a model directory on the best provider the user allows: `auto` tries CUDA, then WebGPU,
 * then the CPU, keeping the first whose sessions start; an explicit provider must start or fail.
 */
import { existsSync } from 'node:fs';

import { ModelFileError, ProviderError } from '../errors';
import { resolveExecutionProviders, type Device } from '../onnx/providers';
import { probeProviderIsolated } from '../onnx/probe-isolated';
import { hasProviderLibrary, listOrtBackends } from '../onnx/runtime';
import { DurianPipeline } from './durian-pipeline';
import type { MemoryMode } from './memory';
import type { Precision } from './precision';

export interface LoadedPipeline {
  pipeline: DurianPipeline;
  /** The providers the sessions were created with, preferred first. */
  providers: readonly string[];
  /** Providers tried before and why they failed (auto only). */
  fallbacks: string[];
}

/** `memory`: how the CPU provider's sessions hold memory (memory.ts; default 'balanced'); `precision`:
 * what the UNet computes in (precision.ts; default 'auto', decided for each provider tried). */
export async function loadPipeline(dir: string, device: Device, opts: { memory?: MemoryMode; precision?: Precision } = {}): Promise<LoadedPipeline> {
  if (!existsSync(dir)) {
    throw new ModelFileError(`model directory not found: ${dir}`, { suggestion: 'Pass --model DIR or run `durian models list`.' });
  }
  const available = listOrtBackends().map((b) => b.name);
  const eps = resolveExecutionProviders(device, `${process.platform}-${process.arch}`, available);
  const fallbacks: string[] = [];
  // auto: skip providers that cannot start here before ORT or Dawn get to print about it —
  // CUDA without its library, WebGPU without an adapter (probed in a child process)
  const candidates: string[] = [];
  for (const ep of device === 'auto' ? eps.filter((e) => e !== 'cpu') : []) {
    if (!hasProviderLibrary(ep)) {
      fallbacks.push(`${ep}: provider library not installed`);
      continue;
    }
    if (ep === 'webgpu') {
      const probe = await probeProviderIsolated(ep);
      if (!probe.usable) {
        fallbacks.push(`${ep}: ${probe.error ?? 'not usable'}`);
        continue;
      }
    }
    candidates.push(ep);
  }
  const attempts = device === 'auto' ? candidates.map((e) => [e, 'cpu']).concat([['cpu']]) : [eps];
  for (const providers of attempts) {
    try {
      return { pipeline: await DurianPipeline.fromModelDir(dir, { executionProviders: providers, memory: opts.memory, precision: opts.precision }),
        providers, fallbacks };
    } catch (error) {
      if (!(error instanceof ProviderError) || device !== 'auto') throw error;
      fallbacks.push(`${providers[0]}: ${error.message}`);
    }
  }
  throw new ProviderError('no execution provider could start the model', { suggestion: 'Run `durian doctor`.' });
}
