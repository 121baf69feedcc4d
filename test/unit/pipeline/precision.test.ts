import { UsageError } from '../../../src/errors';
import { resolveUnetPrecision, type ComputeDtype, type Precision } from '../../../src/pipeline/precision';

describe('resolveUnetPrecision', () => {
  it.each([
    ['auto', ['cuda', 'cpu'], 'float32', { precision: 'float16', reason: 'auto: cuda provider', convert: true }],
    ['auto', ['webgpu', 'cpu'], 'float32', { precision: 'float16', reason: 'auto: webgpu provider', convert: true }],
    ['auto', ['cpu'], 'float32', { precision: 'float32', reason: 'auto: cpu provider', convert: false }],
    ['float16', ['cpu'], 'float32', { precision: 'float16', reason: 'requested', convert: true }],
    ['float32', ['cuda', 'cpu'], 'float32', { precision: 'float32', reason: 'requested', convert: false }],
    ['auto', ['cpu'], 'float16', { precision: 'float16', reason: 'the model computes in float16', convert: false }],
    ['float16', ['cuda', 'cpu'], 'float16', { precision: 'float16', reason: 'the model computes in float16', convert: false }],
  ] as [Precision, string[], ComputeDtype, object][])('%s on [%s], a %s UNet', (requested, providers, model, expected) => {
    expect(resolveUnetPrecision(requested, providers, model)).toEqual(expected);
  });

  it('refuses float32 for a UNet that computes in float16, and a word it does not know', () => {
    expect(() => resolveUnetPrecision('float32', ['cpu'], 'float16')).toThrow(UsageError);
    expect(() => resolveUnetPrecision('float32', ['cpu'], 'float16')).toThrow(/computes in float16/);
    expect(() => resolveUnetPrecision('half' as Precision, ['cpu'], 'float32')).toThrow(/precision must be one of auto, float32, float16, got "half"/);
  });
});
