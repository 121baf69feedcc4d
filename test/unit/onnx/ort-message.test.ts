import { summarizeOrtMessage } from '../../../src/onnx/ort-message';

describe('summarizeOrtMessage', () => {
  it.each([
    [
      '/onnxruntime_src/onnxruntime/core/providers/webgpu/webgpu_context.cc:136 onnxruntime::webgpu::WebGpuContext::Initialize(const X&)::<lambda()> adapter_result.status == wgpu::RequestAdapterStatus::Success was false. Failed to get a WebGPU adapter: No supported adapters\n',
      'Failed to get a WebGPU adapter: No supported adapters',
    ],
    [
      'OrtSessionOptionsAppendExecutionProvider_Cuda: Failed to load shared library',
      'OrtSessionOptionsAppendExecutionProvider_Cuda: Failed to load shared library',
    ],
    ['\n  first\nsecond', 'first'],
  ])('%j', (input, expected) => {
    expect(summarizeOrtMessage(input)).toBe(expected);
  });
});
