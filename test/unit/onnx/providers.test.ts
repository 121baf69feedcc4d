import { ProviderError } from '../../../src/errors';
import { resolveDevice, resolveExecutionProviders } from '../../../src/onnx/providers';

const ALL = ['cpu', 'webgpu', 'cuda', 'tensorrt'];

describe('resolveExecutionProviders', () => {
  it.each([
    ['auto', 'linux-x64', ALL, ['cuda', 'webgpu', 'cpu']],
    ['auto', 'linux-x64', ['cpu', 'webgpu'], ['webgpu', 'cpu']],
    ['auto', 'darwin-arm64', ALL, ['webgpu', 'cpu']],
    ['auto', 'freebsd-x64', ALL, ['cpu']],
    ['cpu', 'linux-x64', ALL, ['cpu']],
    ['cuda', 'linux-x64', ALL, ['cuda', 'cpu']],
    ['webgpu', 'win32-x64', ALL, ['webgpu', 'cpu']],
  ] as const)('%s on %s with %j → %j', (device, platform, available, expected) => {
    expect(resolveExecutionProviders(device, platform, available)).toEqual(expected);
  });

  it('refuses an explicit provider the platform cannot offer', () => {
    expect(() => resolveExecutionProviders('cuda', 'darwin-arm64', ALL)).toThrow(ProviderError);
    expect(() => resolveExecutionProviders('webgpu', 'linux-x64', ['cpu'])).toThrow(/not available/);
  });
});

describe('resolveDevice', () => {
  it('accepts the device words and lists them on a bad one', () => {
    expect(resolveDevice('webgpu')).toBe('webgpu');
    expect(() => resolveDevice('tpu')).toThrow('unknown provider "tpu"; valid: auto, cpu, webgpu, cuda');
  });
});
