import { UsageError } from '../../../src/errors';
import { resolveJobSpec, type AnimateSpec, type InterpolateSpec } from '../../../src/job/spec';

const job: AnimateSpec = { identity: 'me.png', attributes: [{ image: 'hat.png', class: 'hat' }], guide: 'd.mp4', output: 'o.mp4' };

describe('resolveJobSpec', () => {
  it('fills in the defaults the CLI also uses', () => {
    expect(resolveJobSpec(job, 'compose')).toEqual({
      identity: 'me.png', identityKeypoints: undefined, attributes: [{ image: 'hat.png', class: 'hat' }], guide: 'd.mp4', output: 'o.mp4',
      mode: 'compose', alpha: [0, 0], frames: undefined, fps: undefined, steps: 20, guidanceScale: undefined, seed: 0, scheduler: 'ddim',
      eta: undefined, noiseCorrelation: undefined, window: 16, overlap: 4, analyser: 'auto', preview: undefined, overwrite: false, strict: false,
    });
  });

  it('keeps what is given: an auto class, a mask, numbers, flags', () => {
    const s = resolveJobSpec({ ...job, attributes: [{ image: 'a.png', mask: 'm.png' }], steps: 3, seed: 7, guidanceScale: 0, frames: 2,
      fps: 12.5, scheduler: 'euler', window: 8, overlap: 0, analyser: 'sidecar', overwrite: true, strict: true, splitBranches: false, windowsPerCall: 3 }, 'compose');
    expect(s).toMatchObject({ attributes: [{ image: 'a.png', class: 'auto', mask: 'm.png' }], steps: 3, seed: 7, guidanceScale: 0, frames: 2,
      fps: 12.5, scheduler: 'euler', window: 8, overlap: 0, analyser: 'sidecar', overwrite: true, strict: true, splitBranches: false,
      windowsPerCall: 3 });
  });

  it('interpolate: two attributes, alpha a number or [from, to], 0.5 by default', () => {
    const two: InterpolateSpec = { ...job, attributes: [{ image: 'a.png' }, { image: 'b.png' }] };
    expect(resolveJobSpec(two, 'interpolate').alpha).toEqual([0.5, 0.5]);
    expect(resolveJobSpec({ ...two, alpha: 0.25 }, 'interpolate').alpha).toEqual([0.25, 0.25]);
    expect(resolveJobSpec({ ...two, alpha: [0, 1] }, 'interpolate').alpha).toEqual([0, 1]);
    expect(() => resolveJobSpec(job as unknown as InterpolateSpec, 'interpolate')).toThrow(/exactly two attributes, got 1/);
  });

  it.each([
    [{ steps: 0 }, /steps must be a positive integer, got 0/],
    [{ steps: '5' }, /steps must be a positive integer, got "5"/],
    [{ seed: 2 ** 32 }, /seed must be an integer in \[0, 2\^32\)/],
    [{ guidanceScale: -1 }, /guidanceScale must be in \[0, 50\]/],
    [{ fps: 0 }, /fps must be a number in \(0, 240\]/],
    [{ window: 4, overlap: 4 }, /overlap \(4\) must be smaller than window \(4\)/],
    [{ scheduler: 'plms' }, /scheduler must be one of ddim, euler, got "plms"/],
    [{ analyser: 'eyes' }, /analyser must be one of auto, sidecar, parser, face/],
    [{ eta: 1.5 }, /eta must be in \[0, 1\]/],
    [{ noiseCorrelation: 1 }, /noiseCorrelation must be in \[0, 1\)/],
    [{ windowsPerCall: 0 }, /windowsPerCall must be a positive integer, got 0/],
    [{ eta: 0.5, scheduler: 'euler' }, /eta applies to the ddim scheduler only/],
    [{ attributes: [] }, /at least one/],
    [{ attributes: [{ image: 'a.png', class: 'hat brim' }] }, /attributes\[0\]\.class must be a class name/],
    [{ attributes: [{ class: 'hat' }] }, /attributes\[0\]\.image is missing/],
    [{ identity: undefined }, /identity is missing/],
    [{ output: '' }, /output must be a non-empty string/],
    [{ overwrite: 'yes' }, /overwrite must be true or false/],
  ])('rejects %j', (patch, message) => {
    const bad = { ...job, ...patch } as unknown as AnimateSpec;
    expect(() => resolveJobSpec(bad, 'compose')).toThrow(UsageError);
    expect(() => resolveJobSpec(bad, 'compose')).toThrow(message);
  });

  it('rejects an alpha outside [0, 1]', () => {
    const two = { ...job, attributes: [{ image: 'a.png' }, { image: 'b.png' }] } as InterpolateSpec;
    expect(() => resolveJobSpec({ ...two, alpha: 1.5 }, 'interpolate')).toThrow(/alpha must be in \[0, 1\], got 1.5/);
    expect(() => resolveJobSpec({ ...two, alpha: [0, 1, 2] as unknown as [number, number] }, 'interpolate')).toThrow(/alpha must be a number or \[from, to\]/);
  });
});
