/**
 * What ONNX Runtime offers on this machine: version, backends, and a real session probe per
 * provider. Used by `durian doctor`.
 */
import { probeProviderIsolated } from '../onnx/probe-isolated';
import type { ProviderProbe } from '../onnx/probe';
import { getOrtVersion, listOrtBackends } from '../onnx/runtime';

/** One execution provider: whether its library ships in the package, and whether it worked. */
export interface ProviderStatus extends ProviderProbe {
  bundled: boolean;
}

export interface RuntimeInfo {
  onnxruntimeNode: string;
  providers: ProviderStatus[];
}

/** Probes every provider onnxruntime-node reports, each in its own child process. */
export async function getRuntimeInfo(): Promise<RuntimeInfo> {
  const backends = listOrtBackends();
  const providers: ProviderStatus[] = [];
  for (const backend of backends) {
    const probe = await probeProviderIsolated(backend.name);
    providers.push({ ...probe, bundled: backend.bundled });
  }
  return { onnxruntimeNode: getOrtVersion(), providers };
}
