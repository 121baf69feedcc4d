import { probeProvider } from '../../../src/onnx/probe';
import { PROBE_LENGTH, buildProbeModel } from '../../../src/onnx/probe-graph';
import { createInferenceSession, listOrtBackends } from '../../../src/onnx/runtime';

describe('probe graph on onnxruntime-node', () => {
  it('is a valid ONNX model that doubles its input on the CPU provider', async () => {
    const session = await createInferenceSession(buildProbeModel(), ['cpu']);
    try {
      expect(session.inputNames).toEqual(['x']);
      expect(session.outputNames).toEqual(['y']);
    } finally {
      await session.release();
    }
    const probe = await probeProvider('cpu');
    expect(probe).toMatchObject({ provider: 'cpu', usable: true });
    expect(PROBE_LENGTH).toBe(4);
  });

  it('reports an unknown provider as unusable instead of throwing', async () => {
    const probe = await probeProvider('no-such-provider');
    expect(probe.usable).toBe(false);
    expect(probe.error).toBeTruthy();
  });

  it('lists the bundled cpu and webgpu backends', () => {
    const bundled = listOrtBackends().filter((b) => b.bundled).map((b) => b.name);
    expect(bundled).toEqual(expect.arrayContaining(['cpu', 'webgpu']));
  });
});
