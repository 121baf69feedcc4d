import { UsageError } from '../../../src/errors';
import { float32Fallback, resolveDecoderPrecision, resolveUnetPrecision, type ComputeDtype, type PreparedGraphs,
  type Precision } from '../../../src/pipeline/precision';

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

describe('resolveDecoderPrecision', () => {
  it.each([
    ['auto', ['cuda', 'cpu'], 'float32', { precision: 'float16', reason: 'auto: cuda provider', convert: true }],
    ['auto', ['cpu'], 'float32', { precision: 'float32', reason: 'auto: cpu provider', convert: false }],
    ['float32', ['cuda'], 'float32', { precision: 'float32', reason: 'requested', convert: false }],
    ['float16', ['cpu'], 'float32', { precision: 'float16', reason: 'requested', convert: true }],
    ['auto', ['cpu'], 'float16', { precision: 'float16', reason: 'the model computes in float16', convert: false }],
    ['float32', ['cuda'], 'float16', { precision: 'float16', reason: 'the model computes in float16', convert: false }],
  ] as [Precision, string[], ComputeDtype, object][])('%s on [%s], a %s decoder', (requested, providers, model, expected) => {
    expect(resolveDecoderPrecision(requested, providers, model)).toEqual(expected);
  });
});

describe('float32Fallback', () => {
  const half = (reason: string) => ({ precision: { precision: 'float16' as const, reason }, model: Uint8Array.of(1) });
  const both: PreparedGraphs = { unet: half('auto: cuda provider'), vae_decoder: half('requested') };

  it('puts back in float32 the converted graphs that failed, with the reason, and keeps the others', () => {
    const back = float32Fallback(both, ['vae_decoder'], 'no kernel');
    expect(back?.unet).toBe(both.unet);
    expect(back?.vae_decoder).toEqual({ precision: { precision: 'float32', reason: 'requested, but the float16 graph did not load: no kernel' } });
  });

  it('gives up when a graph that was not converted failed too (the provider cannot start), or none is named', () => {
    expect(float32Fallback(both, ['unet', 'vae_decoder', 'pose_guider'], 'x')).toBeNull();
    expect(float32Fallback({ ...both, vae_decoder: { precision: { precision: 'float32', reason: 'auto' } } }, ['vae_decoder'], 'x')).toBeNull();
    expect(float32Fallback(both, [], 'x')).toBeNull();
  });
});
