import { getSessionMemoryOptions } from '../../../src/pipeline/memory';

describe('getSessionMemoryOptions', () => {
  it('fuses a float16 UNet\'s attention on a GPU provider, padded for CUDA\'s fused kernels', () => {
    const half = getSessionMemoryOptions(['cuda', 'cpu'], 'balanced', 'float16');
    expect(half.sessions).toEqual({ fuseAttention: ['unet'], fuseAttentionOptions: { padHeadTo: 8 } });
    expect(half.decodeChunk).toBe(8);
  });

  it('keeps a float32 UNet\'s attention as exported on a GPU provider', () => {
    expect(getSessionMemoryOptions(['cuda'], 'balanced', 'float32').sessions).toEqual({});
    expect(getSessionMemoryOptions(['cuda'], 'low').sessions).toEqual({});
  });

  it('fuses on the CPU whatever the UNet computes in', () => {
    for (const dtype of ['float32', 'float16'] as const) {
      expect(getSessionMemoryOptions(['cpu'], 'balanced', dtype).sessions.fuseAttention).toEqual(['unet']);
    }
  });
});
