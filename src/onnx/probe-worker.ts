/**
 * Child-process entry: `node probe-worker.js <provider>` prints one ProviderProbe as JSON.
 * A provider that aborts the process (a native crash) then costs only this child.
 */
import { probeProvider } from './probe';

async function runWorker(): Promise<void> {
  const provider = process.argv[2];
  if (!provider) {
    process.stderr.write('usage: probe-worker <provider>\n');
    process.exitCode = 2;
    return;
  }
  const probe = await probeProvider(provider);
  process.stdout.write(`${JSON.stringify(probe)}\n`);
}

void runWorker();
