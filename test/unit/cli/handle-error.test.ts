import { EXIT_CODES, getExitCode } from '../../../src/cli/exit-codes';
import { handleError } from '../../../src/cli/handle-error';
import {
  InferenceError,
  InputError,
  InterruptedError,
  ModelFileError,
  ProviderError,
  UsageError,
} from '../../../src/errors';

describe('getExitCode', () => {
  it.each([
    [new UsageError('x'), 2],
    [new ModelFileError('x'), 2],
    [new ProviderError('x'), 2],
    [new InputError('x'), 3],
    [new InferenceError('x'), 1],
    [new InterruptedError('x'), 130],
    [new InterruptedError('x', { signal: 'SIGTERM' }), 143],
    [new Error('x'), 1],
    ['a string', 1],
  ])('%p → %i', (error, code) => {
    expect(getExitCode(error)).toBe(code);
  });
});

describe('handleError', () => {
  it('prints one line holding the suggestion for a typed error', () => {
    const lines: string[] = [];
    const code = handleError(new ModelFileError('bad sha256\nmore detail', { suggestion: 'run durian models verify' }), (l) => lines.push(l));
    expect(code).toBe(EXIT_CODES.usage);
    expect(lines).toEqual(['durian: error: bad sha256 (suggestion: run durian models verify)']);
  });

  it('prints the stack and its causes with verbose', () => {
    const lines: string[] = [];
    handleError(new InputError('no face', { cause: new Error('detector score 0.1') }), (l) => lines.push(l), true);
    expect(lines[0]).toBe('durian: error: no face');
    expect(lines.join('\n')).toContain('Caused by:');
    expect(lines.join('\n')).toContain('detector score 0.1');
  });

  it('points unexpected errors at --verbose', () => {
    const lines: string[] = [];
    expect(handleError(new TypeError('boom'), (l) => lines.push(l))).toBe(EXIT_CODES.runtimeFailure);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^durian: error: boom \(run again with --verbose/);
  });
});
