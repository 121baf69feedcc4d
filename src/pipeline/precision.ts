/**
 * What the UNet computes in (issue 19). On a GPU provider float16 is the fast choice (on one H200
 * the float16 UNet with fused attention took 6.9 ms a 16-frame call against 11.2 ms in float32,
 * docs/performance.md); the CPU provider has few float16 kernels and gains nothing, so it keeps
 * float32. The shipped model computes in float32: a float16 UNet is made from it at load time
 * (onnx/half.ts), after the sha256 check of the file. A conversion that fails gives the float32
 * graph, with the reason kept.
 */
import { readFileSync } from 'node:fs';

import { UsageError } from '../errors';
import { convertToFloat16, describeFloat16Report } from '../onnx/half';

/** The UNet precisions a caller may ask for (`--precision`). */
export const PRECISIONS = ['auto', 'float32', 'float16'] as const;
export type Precision = (typeof PRECISIONS)[number];

export type ComputeDtype = 'float32' | 'float16';

/** What the UNet computes in, and why (reported by `durian animate --json` as `unet_precision`). */
export interface UnetPrecision {
  precision: ComputeDtype;
  /** 'auto: cuda provider', 'auto: cpu provider', 'requested', 'the model computes in float16', or
   * why a float16 UNet was not used. */
  reason: string;
  /** What the float16 conversion did (half.ts describeFloat16Report), when it made the graph. */
  conversion?: string;
}

/**
 * Pure: what the UNet computes in for `requested` on `executionProviders` (the first is the one
 * that counts) when the model's UNet computes in `modelDtype` (its manifest's compute_dtype), and
 * whether its graph has to be converted for that. 'auto': float16 on a provider other than the CPU.
 */
export function resolveUnetPrecision(requested: Precision, executionProviders: readonly string[],
  modelDtype: ComputeDtype): UnetPrecision & { convert: boolean } {
  if (!(PRECISIONS as readonly string[]).includes(requested)) {
    throw new UsageError(`precision must be one of ${PRECISIONS.join(', ')}, got "${String(requested)}"`);
  }
  if (modelDtype === 'float16') {
    if (requested === 'float32') {
      throw new UsageError('precision float32: this model\'s UNet computes in float16 (its manifest\'s compute_dtype)',
        { suggestion: 'Use the float32 model it was made from, or --precision auto.' });
    }
    return { precision: 'float16', reason: 'the model computes in float16', convert: false };
  }
  if (requested !== 'auto') return { precision: requested, reason: 'requested', convert: requested === 'float16' };
  const first = executionProviders[0] ?? 'cpu';
  return first === 'cpu'
    ? { precision: 'float32', reason: 'auto: cpu provider', convert: false }
    : { precision: 'float16', reason: `auto: ${first} provider`, convert: true };
}

/**
 * Pure: what the VAE decoder computes in for `requested` on `executionProviders`, when the model's
 * decoder computes in `modelDtype`. 'auto' follows the UNet's rule: float16 on a provider other than
 * the CPU (on one H200 the float16 decoder took 0.033 s of a 16-frame job against 0.036–0.040 s in
 * float32, its frames 69.8 dB from the all-float32 path's; docs/performance.md), float32 on the CPU,
 * where it was slower (1.14 s against 0.70 s). A decoder that already computes in float16 stays so.
 */
export function resolveDecoderPrecision(requested: Precision, executionProviders: readonly string[],
  modelDtype: ComputeDtype): UnetPrecision & { convert: boolean } {
  if (modelDtype === 'float16') return { precision: 'float16', reason: 'the model computes in float16', convert: false };
  if (requested !== 'auto') return { precision: requested, reason: 'requested', convert: requested === 'float16' };
  const first = executionProviders[0] ?? 'cpu';
  return first === 'cpu'
    ? { precision: 'float32', reason: 'auto: cpu provider', convert: false }
    : { precision: 'float16', reason: `auto: ${first} provider`, convert: true };
}

/** A graph as it will be loaded: its precision, and the converted graph's bytes when it was converted. */
export interface PreparedGraph { precision: UnetPrecision; model?: Uint8Array }

/**
 * A graph for `choice`: the float16 conversion of `file` when it asks for one (`model`), else none
 * (the file as it is). A conversion that throws gives float32, the error in `reason`.
 */
export function prepareGraph(file: string, choice: UnetPrecision & { convert: boolean }): PreparedGraph {
  const { convert, ...precision } = choice;
  if (!convert) return { precision };
  const bytes = new Uint8Array(readFileSync(file));
  try {
    const { model, report } = convertToFloat16(bytes);
    return { precision: { ...precision, conversion: describeFloat16Report(report) }, model };
  } catch (error) {
    return { precision: { precision: 'float32', reason: `${precision.reason}, but not converted: ${error instanceof Error ? error.message : String(error)}` } };
  }
}

/** The converted graphs of a load, by graph name: the UNet and the VAE decoder. */
export type PreparedGraphs = Record<'unet' | 'vae_decoder', PreparedGraph>;

/**
 * After a session creation that failed on `failed` graphs: the same graphs with each converted one
 * that failed back in float32 (the reason kept), or null when a graph that was not converted failed
 * too. A provider that cannot start at all fails on every graph; trying again in float32 would only
 * fail again (and print the provider's errors twice).
 */
export function float32Fallback(graphs: PreparedGraphs, failed: readonly string[], message: string): PreparedGraphs | null {
  const converted = (Object.keys(graphs) as (keyof PreparedGraphs)[]).filter((g) => graphs[g].model);
  if (!failed.length || !failed.every((g) => (converted as string[]).includes(g))) return null;
  const back = { ...graphs };
  for (const g of converted) {
    if (!failed.includes(g)) continue;
    back[g] = { precision: { precision: 'float32', reason: `${graphs[g].precision.reason}, but the float16 graph did not load: ${message}` } };
  }
  return back;
}
