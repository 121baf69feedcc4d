/**
 * A progress line for terminals. On a pipe, or with `--json`, every method does nothing, so
 * scripted output stays machine-readable. ora is ESM-only and loaded on first use.
 */
import type { Ora } from 'ora' with { 'resolution-mode': 'import' };

export interface Spinner {
  start(text: string): Promise<void>;
  update(text: string): void;
  succeed(text?: string): void;
  fail(text?: string): void;
  stop(): void;
}

/** A spinner on stderr when it is a TTY and `enabled`; otherwise a silent one. */
export function createSpinner(enabled: boolean, stream: NodeJS.WriteStream = process.stderr): Spinner {
  if (!enabled || !stream.isTTY) return SILENT_SPINNER;
  let ora: Ora | undefined;
  return {
    async start(text) {
      const { default: createOra } = await import('ora');
      ora = createOra({ text, stream }).start();
    },
    update(text) {
      if (ora) ora.text = text;
    },
    succeed(text) {
      ora?.succeed(text);
    },
    fail(text) {
      ora?.fail(text);
    },
    stop() {
      ora?.stop();
    },
  };
}

const SILENT_SPINNER: Spinner = Object.freeze({
  async start() {},
  update() {},
  succeed() {},
  fail() {},
  stop() {},
});
