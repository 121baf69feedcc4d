/**
 * SIGINT (Ctrl-C) and SIGTERM (what Slurm and Kubernetes send) handling: print one line, stop
 * ffmpeg children, run the registered clean-ups (stop spinners, delete temporary files, release
 * output claims), then exit 130 or 143. Nothing else is printed once a signal has arrived: the
 * ONNX Runtime call in flight is abandoned with the process rather than failed by releasing its
 * session under it.
 */
import { stopChildren } from '../media/ffmpeg';
import { EXIT_CODES } from './exit-codes';

type Cleanup = () => void | Promise<void>;

const cleanups = new Set<Cleanup>();
let stopping: NodeJS.Signals | undefined;
const stop = new AbortController();

/** Aborted the moment SIGINT or SIGTERM arrives, before anything else is stopped: a job given it
 * starts no further stage or encoder while the handler stops ffmpeg and removes partial outputs. */
export function getInterruptSignal(): AbortSignal {
  return stop.signal;
}

/** Registers a clean-up to run on SIGINT/SIGTERM; returns a function that unregisters it. */
export function onInterrupt(cleanup: Cleanup): () => void {
  cleanups.add(cleanup);
  return () => cleanups.delete(cleanup);
}

/** The signal being handled, if any: output after it is suppressed. */
export function getStoppingSignal(): NodeJS.Signals | undefined {
  return stopping;
}

const CODES = { SIGINT: EXIT_CODES.interrupted, SIGTERM: EXIT_CODES.terminated } as const;

/** Installs the SIGINT and SIGTERM handlers once for the process. */
export function installInterruptHandler(writeLine: (line: string) => void): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (stopping) {
        // a second signal: leave now, with the code of the first
        process.exit(CODES[stopping as keyof typeof CODES]);
      }
      stopping = signal;
      stop.abort();
      process.exitCode = CODES[signal];
      // keeps the process alive until the clean-ups are done, even if the work it interrupted ends first
      const keepAlive = setTimeout(() => process.exit(CODES[signal]), 30_000);
      void stopChildren()
        .then(() => Promise.allSettled([...cleanups].map(async (c) => c())))
        .finally(() => {
          writeLine(`durian: ${signal === 'SIGINT' ? 'interrupted' : 'terminated'} (${signal}); partial outputs removed`);
          clearTimeout(keepAlive);
          process.exit(CODES[signal]);
        });
    });
  }
}
