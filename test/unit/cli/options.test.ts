import { parseAlpha, parseAttr, parseShard, resolveJob, resolvePrecisionFlag } from '../../../src/cli/options';
import { UsageError } from '../../../src/errors';
import { resolveJobSpec } from '../../../src/job/spec';

const job = { identity: 'me.png', attr: ['hat.png:hat'], guide: 'd.mp4', output: 'o.mp4' };

describe('options', () => {
  it.each([
    ['friend.png', { image: 'friend.png', class: 'auto' }],
    ['hat.png:hat', { image: 'hat.png', class: 'hat' }],
    ['dir/a:b.png:glasses', { image: 'dir/a:b.png', class: 'glasses' }],
  ])('parseAttr(%s)', (v, expected) => expect(parseAttr(v)).toEqual(expected));

  it.each([
    ['0.3', [0.3, 0.3]],
    ['0:1', [0, 1]],
    ['1:0.25', [1, 0.25]],
  ])('parseAlpha(%s)', (v, expected) => expect(parseAlpha(v)).toEqual(expected));

  it.each(['1.5', '-0.1', 'x', '0:', '0:1:2'])('parseAlpha rejects %s', (v) => expect(() => parseAlpha(v)).toThrow(UsageError));

  it.each([
    ['3/8', [3, 8]],
    ['1/1', [1, 1]],
  ])('parseShard(%s)', (v, expected) => expect(parseShard(v)).toEqual(expected));

  it.each(['0/2', '3/2', '1-2', '/2'])('parseShard rejects %s', (v) => expect(() => parseShard(v)).toThrow(/--shard/));

  it.each([
    [undefined, 'auto'],
    ['float32', 'float32'],
    ['float16', 'float16'],
  ])('resolvePrecisionFlag(%s)', (v, expected) => expect(resolvePrecisionFlag(v)).toBe(expected));

  it.each(['half', 'fp16', 'bfloat16'])('resolvePrecisionFlag rejects %s', (v) => {
    expect(() => resolvePrecisionFlag(v)).toThrow(UsageError);
    expect(() => resolvePrecisionFlag(v)).toThrow(`--precision must be one of auto, float32, float16, got "${v}"`);
  });

  it('resolves defaults and numbers', () => {
    const s = resolveJob({ ...job, steps: '5', seed: 7, guidanceScale: '3' }, 'compose');
    expect(s).toMatchObject({ steps: 5, seed: 7, guidanceScale: 3, scheduler: 'ddim', window: 16, overlap: 4, analyser: 'auto', overwrite: false });
    expect(s.attributes).toEqual([{ image: 'hat.png', class: 'hat' }]);
  });

  it.each([
    [{ steps: '0' }, /--steps must be a positive integer/],
    [{ steps: '2.5' }, /--steps/],
    [{ guidanceScale: '-1' }, /--guidance-scale/],
    [{ scheduler: 'plms' }, /--scheduler must be one of ddim, euler/],
    [{ eta: '-0.1' }, /--eta must be in \[0, 1\]/],
    [{ noiseCorrelation: '1' }, /--noise-correlation must be in \[0, 1\)/],
    [{ noiseCorrelation: 'x' }, /--noise-correlation/],
    [{ eta: '1', scheduler: 'euler' }, /--eta applies to --scheduler ddim only/],
    [{ window: '4', overlap: '4' }, /--overlap \(4\) must be smaller than --window \(4\)/],
    [{ attr: [] }, /at least one --attr/],
    [{ identity: undefined }, /missing --identity/],
    [{ attrMask: ['a.png', 'b.png'] }, /2 --attr-mask given for 1 --attr/],
  ])('rejects %j', (patch, message) => {
    expect(() => resolveJob({ ...job, ...patch }, 'compose')).toThrow(message);
  });

  it('interpolate needs exactly two attributes and defaults alpha to 0.5', () => {
    expect(() => resolveJob(job, 'interpolate')).toThrow(/exactly two --attr/);
    expect(resolveJob({ ...job, attr: ['a.png', 'b.png'] }, 'interpolate').alpha).toEqual([0.5, 0.5]);
  });

  it('flags give the job spec the library gives for the same job', () => {
    const flags = resolveJob({ ...job, attr: ['hat.png:hat', 'g.png'], attrMask: ['m.png'], steps: '5', seed: '7', window: '8', overlap: '2',
      analyser: 'parser', force: true, preview: 'p.png', fps: '12' }, 'compose');
    const library = resolveJobSpec({ identity: 'me.png', attributes: [{ image: 'hat.png', class: 'hat', mask: 'm.png' }, { image: 'g.png' }],
      guide: 'd.mp4', output: 'o.mp4', steps: 5, seed: 7, window: 8, overlap: 2, analyser: 'parser', overwrite: true, preview: 'p.png', fps: 12 }, 'compose');
    expect(flags).toEqual(library);
    const two = { ...job, attr: ['a.png', 'b.png'], alpha: '0:1' };
    expect(resolveJob(two, 'interpolate')).toEqual(resolveJobSpec({ identity: 'me.png', attributes: [{ image: 'a.png' }, { image: 'b.png' }],
      guide: 'd.mp4', output: 'o.mp4', alpha: [0, 1] }, 'interpolate'));
  });
});
