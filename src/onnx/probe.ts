import { PROBE_LENGTH, buildProbeModel } from './probe-graph';
import { createFloat32Tensor, createInferenceSession } from './runtime';

/** Whether one execution provider could create and run a session on this machine. */
export interface ProviderProbe {
  provider: string;
  usable: boolean;
  /** Why it is not usable (first line of ONNX Runtime's message). */
  error?: string;
  /** Milliseconds to create the session and run it once. */
  ms?: number;
}

/**
 * Creates a session of the probe graph on exactly one provider (no CPU fallback) and runs it,
 * checking that `y = 2x` came back.
 */
export async function probeProvider(provider: string): Promise<ProviderProbe> {
  const started = performance.now();
  try {
    const session = await createInferenceSession(buildProbeModel(), [provider]);
    try {
      const x = Float32Array.from({ length: PROBE_LENGTH }, (_, i) => i + 1);
      const result = await session.run({ x: createFloat32Tensor(x, [PROBE_LENGTH]) });
      const y = result.y?.data as Float32Array | undefined;
      const ok = y !== undefined && y.length === PROBE_LENGTH && y.every((v, i) => v === 2 * (x[i] ?? 0));
      if (!ok) return { provider, usable: false, error: 'probe graph returned wrong values' };
      return { provider, usable: true, ms: Math.round(performance.now() - started) };
    } finally {
      await session.release();
    }
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { provider, usable: false, error: message };
  }
}
