import { spawn } from 'node:child_process';
import path from 'node:path';

import type { ProviderProbe } from './probe';

/** Seconds a provider probe may take before it counts as unusable. */
export const PROBE_TIMEOUT_MS = 60_000;

/**
 * Runs `probeProvider` in a child Node process (built `probe-worker.js` beside this file) so a
 * provider that crashes or hangs the process is reported instead of taking the caller down.
 * The child's stderr (e.g. Dawn's adapter warnings) is kept out of the caller's output.
 */
export function probeProviderIsolated(provider: string, timeoutMs = PROBE_TIMEOUT_MS): Promise<ProviderProbe> {
  const worker = path.join(__dirname, 'probe-worker.js');
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [worker, provider], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', (error) => {
      clearTimeout(timer);
      resolve({ provider, usable: false, error: error.message });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const line = stdout.trim().split('\n').pop() ?? '';
      try {
        resolve(JSON.parse(line) as ProviderProbe);
      } catch {
        const why = signal ? `probe process killed by ${signal}` : `probe process exited with ${code}`;
        const detail = stderr.trim().split('\n').find((l) => l.trim() !== '');
        resolve({ provider, usable: false, error: detail ? `${why}: ${detail}` : why });
      }
    });
  });
}
