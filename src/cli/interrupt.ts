/**
 * Ctrl-C handling: run the registered clean-ups (stop spinners, release sessions, delete
 * temporary files), then exit 130.
 */
import { EXIT_CODES } from './exit-codes';

type Cleanup = () => void | Promise<void>;

const cleanups = new Set<Cleanup>();

/** Registers a clean-up to run on SIGINT; returns a function that unregisters it. */
export function onInterrupt(cleanup: Cleanup): () => void {
  cleanups.add(cleanup);
  return () => cleanups.delete(cleanup);
}

/** Installs the SIGINT handler once for the process. */
export function installInterruptHandler(writeLine: (line: string) => void): void {
  let interrupted = false;
  process.on('SIGINT', () => {
    if (interrupted) process.exit(EXIT_CODES.interrupted);
    interrupted = true;
    writeLine('durian: interrupted');
    void Promise.allSettled([...cleanups].map(async (c) => c())).then(() => process.exit(EXIT_CODES.interrupted));
  });
}
