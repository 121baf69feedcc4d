import { parseAlpha, parseAttr, parseShard, resolveJob } from '../../../src/cli/options';
import { UsageError } from '../../../src/errors';

const job = { identity: 'me.png', attr: ['hat.png:hat'], guide: 'd.mp4', output: 'o.mp4' };

describe('options', () => {
  it.each([
    ['friend.png', { path: 'friend.png', cls: 'auto' }],
    ['hat.png:hat', { path: 'hat.png', cls: 'hat' }],
    ['dir/a:b.png:glasses', { path: 'dir/a:b.png', cls: 'glasses' }],
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

  it('resolves defaults and numbers', () => {
    const s = resolveJob({ ...job, steps: '5', seed: 7, guidanceScale: '3' }, 'compose');
    expect(s).toMatchObject({ steps: 5, seed: 7, guidanceScale: 3, scheduler: 'ddim', window: 16, overlap: 4, analyser: 'auto', force: false });
    expect(s.attrs).toEqual([{ path: 'hat.png', cls: 'hat' }]);
  });

  it.each([
    [{ steps: '0' }, /--steps must be a positive integer/],
    [{ steps: '2.5' }, /--steps/],
    [{ guidanceScale: '-1' }, /--guidance-scale/],
    [{ scheduler: 'plms' }, /--scheduler must be one of ddim, euler/],
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
});
