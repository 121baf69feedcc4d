import { ProviderError } from '../errors';

/** Device words the user may pass to `--provider`. */
export const DEVICES = ['auto', 'cpu', 'webgpu', 'cuda'] as const;
export type Device = (typeof DEVICES)[number];

/** Execution-provider names as onnxruntime-node spells them. */
export const EXECUTION_PROVIDERS = ['cuda', 'webgpu', 'cpu'] as const;
export type ExecutionProvider = (typeof EXECUTION_PROVIDERS)[number];

/** Device word → execution providers to try, in order of preference (CPU always last). */
export const DEVICE_PROVIDERS: Readonly<Record<Device, readonly ExecutionProvider[]>> = Object.freeze({
  auto: ['cuda', 'webgpu', 'cpu'],
  cpu: ['cpu'],
  webgpu: ['webgpu', 'cpu'],
  cuda: ['cuda', 'cpu'],
});

/** Which providers onnxruntime-node can offer on each platform (`process.platform-process.arch`). */
export const PLATFORM_PROVIDERS: Readonly<Record<string, readonly ExecutionProvider[]>> = Object.freeze({
  'linux-x64': ['cuda', 'webgpu', 'cpu'],
  'linux-arm64': ['webgpu', 'cpu'],
  'darwin-arm64': ['webgpu', 'cpu'],
  'darwin-x64': ['webgpu', 'cpu'],
  'win32-x64': ['webgpu', 'cpu'],
  'win32-arm64': ['webgpu', 'cpu'],
});

/** Parses a `--provider` value; throws a `ProviderError` listing the valid words. */
export function resolveDevice(word: string): Device {
  if ((DEVICES as readonly string[]).includes(word)) return word as Device;
  throw new ProviderError(`unknown provider "${word}"; valid: ${DEVICES.join(', ')}`);
}

/**
 * The execution providers to request for a device on a platform, keeping only those the installed
 * onnxruntime-node reports (`available`). An explicit device whose provider is missing throws.
 */
export function resolveExecutionProviders(
  device: Device,
  platform: string,
  available: readonly string[],
): ExecutionProvider[] {
  const onPlatform = PLATFORM_PROVIDERS[platform] ?? ['cpu'];
  const usable = DEVICE_PROVIDERS[device].filter((ep) => onPlatform.includes(ep) && available.includes(ep));
  if (device !== 'auto' && device !== 'cpu' && !usable.includes(device)) {
    throw new ProviderError(`provider "${device}" is not available on ${platform} with this onnxruntime-node`, {
      suggestion: `Available here: ${usable.join(', ') || 'cpu'}. Run \`durian doctor\` for details.`,
    });
  }
  return usable.includes('cpu') ? usable : [...usable, 'cpu'];
}
