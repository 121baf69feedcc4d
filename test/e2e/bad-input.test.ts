/**
 * The CLI's contract on bad input and faults: the documented exit code, exactly one line on
 * stderr, and no file left behind (no output, no temporary, no claim). One case per kind of bad
 * input; most fail in the pre-flight checks, before the model is loaded.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import sharp from 'sharp';

import { BIN, ROOT } from './run-cli';

const MODEL = path.join(ROOT, 'test', 'fixtures', 'onnx-tiny');
const EX = path.join(ROOT, 'examples');
jest.setTimeout(600_000);

const work = mkdtempSync(path.join(os.tmpdir(), 'durian-bad-'));
const IN = path.join(work, 'in');
const OUT = path.join(work, 'out');
mkdirSync(IN);
mkdirSync(OUT);
afterAll(() => rmSync(work, { recursive: true, force: true }));

const inp = (name: string) => path.join(IN, name);
const kp = JSON.parse(readFileSync(path.join(EX, 'drive-talking.keypoints.json'), 'utf8')) as { frames: number[][][] };
const pts = kp.frames[0]!;
/** A keypoint guide document with `frames` replaced. */
const guideDoc = (frames: unknown, extra: object = {}) => JSON.stringify({ layout: 'ibug68', size: [256, 256], fps: 25, frames, ...extra });
const withPoint = (i: number, v: unknown) => pts.map((p, j) => (j === i ? v : p));

beforeAll(async () => {
  writeFileSync(inp('empty.png'), '');
  writeFileSync(inp('empty.mp4'), '');
  writeFileSync(inp('empty.json'), '');
  writeFileSync(inp('text.mp4'), 'not a video at all\n');
  writeFileSync(inp('truncated.png'), readFileSync(path.join(EX, 'identity-1.png')).subarray(0, 100));
  writeFileSync(inp('truncated.mp4'), readFileSync(path.join(EX, 'drive-talking.mp4')).subarray(0, 2000));
  mkdirSync(inp('dir.png'));
  mkdirSync(inp('no-frames'));
  writeFileSync(path.join(inp('no-frames'), 'readme.txt'), 'no PNGs here');
  await sharp({ create: { width: 3, height: 3, channels: 3, background: '#c08040' } }).png().toFile(inp('3x3.png'));
  await sharp({ create: { width: 256, height: 256, channels: 3, background: '#3060a0' } }).png().toFile(inp('solid.png'));
  await sharp({ create: { width: 256, height: 256, channels: 3, background: '#000000' } }).png().toFile(inp('black-mask.png'));
  const noise = Buffer.alloc(256 * 256 * 3);
  for (let i = 0; i < noise.length; i++) noise[i] = (i * 2654435761) >>> 24;
  await sharp(noise, { raw: { width: 256, height: 256, channels: 3 } }).png().toFile(inp('noise.png'));
  await sharp({ create: { width: 512, height: 256, channels: 3, background: '#808080' } })
    .composite([{ input: path.join(EX, 'identity-1.png'), left: 0, top: 0 }, { input: path.join(EX, 'identity-2.png'), left: 256, top: 0 }])
    .png().toFile(inp('two-faces.png'));
  await sharp(path.join(EX, 'identity-1.png')).resize(48, 48).png().toFile(inp('tiny-face.png'));
  const guides: Record<string, string> = {
    'kp-null-point.json': guideDoc([withPoint(5, null)]),
    'kp-string-nan.json': guideDoc([withPoint(7, ['NaN', 3])]),
    'kp-infinite.json': guideDoc([pts]).replace(/^(.*?\[\[\[)[0-9.]+/, '$11e999'),
    'kp-nan-literal.json': guideDoc([pts]).replace(/^(.*?\[\[\[)[0-9.]+/, '$1NaN'),
    'kp-collapsed.json': guideDoc([pts.map(() => [100, 100])]),
    'kp-67-points.json': guideDoc([pts.slice(0, 67)]),
    'kp-triples.json': guideDoc([pts.map(([x, y]) => [x, y, 0])]),
    'kp-frames-string.json': guideDoc('all of them'),
    'kp-frames-object.json': guideDoc({ 0: pts }),
    'kp-frames-empty.json': guideDoc([]),
    'kp-frames-numbers.json': guideDoc([1, 2, 3]),
    'kp-second-frame-bad.json': guideDoc([pts, withPoint(0, [1])]),
    'kp-layout.json': JSON.stringify({ layout: 'mediapipe468', frames: [pts] }),
    'kp-top-array.json': JSON.stringify([pts]),
    'kp-size.json': guideDoc([pts], { size: [-1, 256] }),
    'kp-fps.json': guideDoc([pts], { fps: 0 }),
    'kp-huge.json': guideDoc([withPoint(3, [1e30, 5])]),
    'kp-not-json.json': '{"layout": "ibug68", "frames": [[',
  };
  for (const [name, text] of Object.entries(guides)) writeFileSync(inp(name), text);
  // a video whose keypoint sidecar is broken
  copyFileSync(path.join(EX, 'drive-talking.mp4'), inp('bad-sidecar.mp4'));
  writeFileSync(inp('bad-sidecar.keypoints.json'), guideDoc([withPoint(2, null)]));
  // the identity's keypoints
  writeFileSync(inp('identity-kp-bad.json'), JSON.stringify({ layout: 'ibug68', points: withPoint(1, [Number.MAX_VALUE, 'x']) }));
  // not a model directory
  writeFileSync(inp('model-file'), 'not a directory');
});

/** Every file under OUT (hidden ones too). */
const outFiles = () => readdirSync(OUT);

function run(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, FORCE_COLOR: '0', ...env }, timeout: 300_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, lines: r.stderr.trim() === '' ? [] : r.stderr.trim().split('\n') };
}

const out = (name = 'out.mp4') => path.join(OUT, name);
/** animate on the tiny model with the good example inputs, then `over` replacing or adding flags. */
function animateArgs(over: string[], command = 'animate'): string[] {
  const args = ['--identity', path.join(EX, 'identity-1.png'), '--attr', `${path.join(EX, 'attr-hair-1.png')}:hair`,
    '--guide', path.join(EX, 'drive-talking.keypoints.json'), '-o', out(), '--model', MODEL, '--provider', 'cpu', '--frames', '2', '--steps', '1'];
  for (let i = 0; i < over.length; i++) {
    const flag = over[i]!;
    const value = over[i + 1];
    const takesValue = value !== undefined && !value.startsWith('--');
    const k = args.indexOf(flag);
    if (takesValue && k >= 0 && !['--attr', '--attr-mask'].includes(flag)) args[k + 1] = value;
    else args.push(...(takesValue ? [flag, value] : [flag]));
    if (takesValue) i++;
  }
  return [command, ...args];
}
const replaceAttr = (v: string) => ['--attr', v];

type Case = [name: string, args: string[], code: number, message: RegExp];

const cases: Case[] = [
  // identity images
  ['identity: missing file', animateArgs(['--identity', inp('nope.png')]), 3, /--identity|nope\.png: no such file/],
  ['identity: a directory', animateArgs(['--identity', inp('dir.png')]), 3, /dir\.png: is a directory/],
  ['identity: an empty file', animateArgs(['--identity', inp('empty.png')]), 3, /empty\.png: the file is empty \(0 bytes\)/],
  ['identity: not an image', animateArgs(['--identity', path.join(ROOT, 'package.json')]), 3, /package\.json/],
  ['identity: a truncated PNG', animateArgs(['--identity', inp('truncated.png')]), 3, /truncated\.png/],
  ['identity: a 3×3 image', animateArgs(['--identity', inp('3x3.png')]), 3, /a 3×3 image is too small to hold a face/],
  ['identity: a solid colour', animateArgs(['--identity', inp('solid.png')]), 3, /no face found .*single flat colour/],
  ['identity: a black-and-white mask', animateArgs(['--identity', path.join(EX, 'identity-1.mask-face.png')]), 3, /no face found .*only black and white pixels, like a mask/],
  ['identity: noise', animateArgs(['--identity', inp('noise.png')]), 3, /no face found/],
  ['identity: two faces', animateArgs(['--identity', inp('two-faces.png')]), 3, /2 faces found \(detector scores/],
  ['identity: a face too small', animateArgs(['--identity', inp('tiny-face.png')]), 3, /the face found is \d+×\d+ px, smaller than the 16 px minimum/],
  ['identity keypoints: missing', animateArgs(['--identity-keypoints', inp('nope.json')]), 3, /nope\.json: not a readable keypoints JSON file \(no such file\)/],
  ['identity keypoints: bad values', animateArgs(['--identity-keypoints', inp('identity-kp-bad.json')]), 3, /"points", point 1 has a non-finite or out-of-range coordinate/],
  // attribute images and masks
  ['attr: missing file', animateArgs(replaceAttr(inp('nope.png'))), 3, /nope\.png: no such file/],
  ['attr: an empty file', animateArgs(replaceAttr(inp('empty.png'))), 3, /empty \(0 bytes\)/],
  ['attr: a solid colour', animateArgs(replaceAttr(`${inp('solid.png')}:hat`)), 3, /--attr .*solid\.png: no face found/],
  ['attr-mask: all black', animateArgs(['--attr-mask', inp('black-mask.png')]), 3, /black-mask\.png: the mask is all black/],
  ['attr-mask: missing', animateArgs(['--attr-mask', inp('nope.png')]), 3, /nope\.png: no such file/],
  ['attr-mask: not an image', animateArgs(['--attr-mask', path.join(ROOT, 'package.json')]), 3, /package\.json/],
  // keypoint guides
  ['guide JSON: a null point', animateArgs(['--guide', inp('kp-null-point.json')]), 3, /frame 0, point 5 must be \[x, y\], got null/],
  ['guide JSON: a "NaN" string', animateArgs(['--guide', inp('kp-string-nan.json')]), 3, /point 7 has a non-numeric coordinate/],
  ['guide JSON: an infinite coordinate', animateArgs(['--guide', inp('kp-infinite.json')]), 3, /point 0 has a non-finite or out-of-range coordinate \(Infinity\)/],
  ['guide JSON: a NaN literal', animateArgs(['--guide', inp('kp-nan-literal.json')]), 3, /not valid JSON/],
  ['guide JSON: collapsed points', animateArgs(['--guide', inp('kp-collapsed.json')]), 3, /frame 0 is collapsed/],
  ['guide JSON: 67 points', animateArgs(['--guide', inp('kp-67-points.json')]), 3, /frame 0 has 67 points, expected 68/],
  ['guide JSON: triples', animateArgs(['--guide', inp('kp-triples.json')]), 3, /point 0 must be \[x, y\], got an array of 3/],
  ['guide JSON: frames a string', animateArgs(['--guide', inp('kp-frames-string.json')]), 3, /"frames" must be a list of frames, got the string/],
  ['guide JSON: frames an object', animateArgs(['--guide', inp('kp-frames-object.json')]), 3, /"frames" must be a list of frames, got object/],
  ['guide JSON: no frames', animateArgs(['--guide', inp('kp-frames-empty.json')]), 3, /"frames" is empty/],
  ['guide JSON: frames of numbers', animateArgs(['--guide', inp('kp-frames-numbers.json')]), 3, /frame 0 must be a list of 68 \[x, y\] points, got number 1/],
  ['guide JSON: a bad second frame', animateArgs(['--guide', inp('kp-second-frame-bad.json')]), 3, /frame 1, point 0 must be \[x, y\]/],
  ['guide JSON: another layout', animateArgs(['--guide', inp('kp-layout.json')]), 3, /layout must be "ibug68"/],
  ['guide JSON: a top-level array', animateArgs(['--guide', inp('kp-top-array.json')]), 3, /must hold a JSON object, got an array/],
  ['guide JSON: a negative size', animateArgs(['--guide', inp('kp-size.json')]), 3, /"size" must be \[width, height\]/],
  ['guide JSON: fps 0', animateArgs(['--guide', inp('kp-fps.json')]), 3, /"fps" must be a number in \(0, 240\]/],
  ['guide JSON: an absurd coordinate', animateArgs(['--guide', inp('kp-huge.json')]), 3, /point 3 has a non-finite or out-of-range coordinate/],
  ['guide JSON: cut short', animateArgs(['--guide', inp('kp-not-json.json')]), 3, /not valid JSON/],
  ['guide JSON: an empty file', animateArgs(['--guide', inp('empty.json')]), 3, /empty\.json: not a readable keypoints JSON/],
  // guide videos
  ['guide video: missing', animateArgs(['--guide', inp('nope.mp4')]), 3, /nope\.mp4: no such file/],
  ['guide video: an empty file', animateArgs(['--guide', inp('empty.mp4')]), 3, /empty\.mp4/],
  ['guide video: text', animateArgs(['--guide', inp('text.mp4')]), 3, /cannot read video .*text\.mp4/],
  ['guide video: truncated', animateArgs(['--guide', inp('truncated.mp4')]), 3, /truncated\.mp4/],
  ['guide: a directory without PNG frames', animateArgs(['--guide', inp('no-frames')]), 3, /a directory without PNG frames/],
  ['guide video: a broken keypoint sidecar', animateArgs(['--guide', inp('bad-sidecar.mp4')]), 3, /bad-sidecar\.keypoints\.json: frame 0, point 2/],
  // flags
  ['--steps 0', animateArgs(['--steps', '0']), 2, /--steps must be a positive integer/],
  ['--steps not a number', animateArgs(['--steps', 'many']), 2, /--steps must be a positive integer, got "many"/],
  ['--frames negative', animateArgs(['--frames', '-1']), 2, /--frames must be a positive integer/],
  ['--frames fractional', animateArgs(['--frames', '1.5']), 2, /--frames must be a positive integer/],
  ['--fps 0', animateArgs(['--fps', '0']), 2, /--fps must be a number in \(0, 240\]/],
  ['--fps too high', animateArgs(['--fps', '1000']), 2, /--fps must be a number in \(0, 240\]/],
  ['--guidance-scale negative', animateArgs(['--guidance-scale', '-1']), 2, /--guidance-scale must be in \[0, 50\]/],
  ['--seed negative', animateArgs(['--seed', '-1']), 2, /--seed must be an integer/],
  ['--window 0', animateArgs(['--window', '0']), 2, /--window must be a positive integer/],
  ['--overlap ≥ --window', animateArgs(['--window', '4', '--overlap', '4']), 2, /--overlap \(4\) must be smaller than --window \(4\)/],
  ['--scheduler unknown', animateArgs(['--scheduler', 'plms']), 2, /--scheduler/],
  ['--provider unknown', animateArgs(['--provider', 'tpu']), 2, /--provider/],
  ['--precision unknown', animateArgs(['--precision', 'half']), 2, /--precision .*'half' is invalid\. Allowed choices are auto, float32, float16/],
  ['guide: --precision unknown', ['guide', '--video', path.join(EX, 'drive-talking.mp4'), '-o', out('g.json'), '--precision', 'fp16'], 2, /--precision/],
  ['batch: --precision unknown', ['batch', inp('nope.jsonl'), '--precision', 'bf16'], 2, /--precision/],
  ['an unknown attribute class', animateArgs(replaceAttr(`${path.join(EX, 'attr-hair-2.png')}:scarf`)), 2, /unknown attribute class "scarf"/],
  ['no --attr', ['animate', '--identity', path.join(EX, 'identity-1.png'), '--guide', path.join(EX, 'drive-talking.keypoints.json'), '-o', out(), '--model', MODEL], 2, /at least one --attr/],
  ['more --attr-mask than --attr', animateArgs(['--attr-mask', path.join(EX, 'attr-hair-1.mask-hair.png'), '--attr-mask', path.join(EX, 'attr-hair-1.mask-hair.png')]), 2, /2 --attr-mask given for 1 --attr/],
  ['interpolate with one --attr', animateArgs([], 'interpolate'), 2, /interpolate needs exactly two --attr/],
  ['--alpha outside [0, 1]', animateArgs([...replaceAttr(path.join(EX, 'attr-hair-2.png')), '--alpha', '2'], 'interpolate'), 2, /--alpha values must lie in \[0, 1\]/],
  ['--preview not a PNG', animateArgs(['--preview', out('p.jpg')]), 2, /--preview must name a \.png file/],
  ['an unknown output extension', animateArgs(['-o', out('out.avi')]), 2, /unknown output extension "\.avi"/],
  ['an output directory that does not exist', animateArgs(['-o', path.join(OUT, 'no', 'such', 'x.mp4')]), 2, /directory .* does not exist/],
  ['an unknown option', animateArgs(['--frobnicate']), 2, /unknown option '--frobnicate'/],
  ['--force with a value', ['batch', path.join(IN, 'nope.jsonl'), '--force'], 2, /unknown option '--force'/],
  // models (the model checks themselves are another issue's; these cases only pin the contract)
  ['a missing model directory', animateArgs(['--model', path.join(IN, 'no-model')]), 2, /model directory not found/],
  // batch files
  ['batch: a missing jobs file', ['batch', inp('nope.jsonl'), '--model', MODEL], 2, /jobs file not found/],
  ['batch: a directory as jobs file', ['batch', IN, '--model', MODEL], 2, /is not a regular file/],
  ['batch: --shard 0/2', ['batch', inp('nope.jsonl'), '--shard', '0/2'], 2, /--shard must be I\/N/],
  ['batch: --shard 3/2', ['batch', inp('nope.jsonl'), '--shard', '3/2'], 2, /--shard must be I\/N/],
];

/** Batch files with one bad line: the job fails (exit 1), one stderr line, the summary on stdout. */
const badJobs: [name: string, line: string, message: RegExp][] = [
  ['a null line', 'null', /line 1 failed: a job must be a JSON object, got null/],
  ['an array line', '[1, 2]', /a job must be a JSON object, got an array/],
  ['a number line', '42', /a job must be a JSON object, got number/],
  ['invalid JSON', '{"identity": ', /line 1 failed: not valid JSON/],
  ['an unknown field', JSON.stringify({ identiy: 'x.png' }), /unknown field "identiy"/],
  ['a wrong command', JSON.stringify({ command: 'paint' }), /"command" must be animate or interpolate/],
  ['force as a string', JSON.stringify({ identity: 'a.png', attr: 'b.png', guide: 'g.json', output: 'o.mp4', force: 'yes' }), /--force must be true or false/],
  ['an empty identity image', JSON.stringify({ identity: inp('empty.png'), attr: path.join(EX, 'attr-hair-1.png'), guide: path.join(EX, 'drive-talking.keypoints.json'), output: out('j.mp4') }), /empty \(0 bytes\)/],
  ['a NaN keypoint guide', JSON.stringify({ identity: path.join(EX, 'identity-1.png'), attr: path.join(EX, 'attr-hair-1.png'), guide: inp('kp-null-point.json'), output: out('j.mp4') }), /point 5 must be \[x, y\], got null/],
  ['frames of the wrong type', JSON.stringify({ identity: path.join(EX, 'identity-1.png'), attr: path.join(EX, 'attr-hair-1.png'), guide: path.join(EX, 'drive-talking.keypoints.json'), output: out('j.mp4'), frames: 'all' }), /--frames must be a positive integer, got "all"/],
];

describe('bad input: the exit code, one stderr line, no file left', () => {
  afterEach(() => {
    expect(outFiles()).toEqual([]);
  });

  it.each(cases)('%s', (_name, args, code, message) => {
    const r = run(args);
    expect({ code: r.code, lines: r.lines }).toEqual({ code, lines: [expect.stringMatching(message)] });
    expect(r.lines[0]).toMatch(/^durian: error: /);
  });

  it.each(badJobs)('batch: %s', (_name, line, message) => {
    const jobs = inp('one-bad.jsonl');
    writeFileSync(jobs, `${line}\n`);
    const r = run(['batch', jobs, '--model', MODEL, '--provider', 'cpu']);
    expect({ code: r.code, lines: r.lines }).toEqual({ code: 1, lines: [expect.stringMatching(message)] });
    expect(r.stdout.trim()).toBe('0 succeeded, 0 skipped, 1 failed');
  });

  it('an output that exists is kept without --force', () => {
    writeFileSync(out(), 'precious');
    try {
      const r = run(animateArgs([]));
      expect({ code: r.code, lines: r.lines }).toEqual({ code: 2, lines: [expect.stringMatching(/already exists \(suggestion: Pass --force/)] });
      expect(readFileSync(out(), 'utf8')).toBe('precious');
    } finally {
      rmSync(out());
    }
  });

  it('a named pipe (a non-regular file) is not replaced, even with --force', () => {
    const fifo = out('pipe.mp4');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    try {
      const r = run(animateArgs(['-o', fifo, '--force']));
      expect({ code: r.code, lines: r.lines }).toEqual({ code: 2, lines: [expect.stringMatching(/is not a regular file .*refusing to replace it, even with --force/)] });
      expect(statSync(fifo).isFIFO()).toBe(true);
    } finally {
      rmSync(fifo);
    }
  });

  it('a device node is not replaced, even with --force', () => {
    const r = run(animateArgs(['-o', '/dev/null', '--force']));
    expect({ code: r.code, lines: r.lines }).toEqual({ code: 2, lines: [expect.stringMatching(/\/dev\/null is not a regular file/)] });
    expect(statSync('/dev/null').isCharacterDevice()).toBe(true);
  });

  it('a directory is not replaced by a video, even with --force', () => {
    mkdirSync(out('d.mp4'));
    try {
      const r = run(animateArgs(['-o', out('d.mp4'), '--force']));
      expect({ code: r.code, lines: r.lines }).toEqual({ code: 2, lines: [expect.stringMatching(/is a directory; refusing to replace it with a file/)] });
    } finally {
      rmSync(out('d.mp4'), { recursive: true });
    }
  });

  it('an output claimed by another live run', () => {
    // this test's own process stands for the other run
    writeFileSync(path.join(OUT, '.out.mp4.lock'), `${process.pid}\n`);
    try {
      const r = run(animateArgs([]));
      expect({ code: r.code, lines: r.lines }).toEqual({ code: 2, lines: [expect.stringMatching(new RegExp(`is being written by another durian run \\(pid ${process.pid}\\)`))] });
    } finally {
      rmSync(path.join(OUT, '.out.mp4.lock'));
    }
  });

  it('a stale claim (its process is gone) is taken over', () => {
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
    writeFileSync(path.join(OUT, '.out.mp4.lock'), `${dead}\n`);
    const r = run(animateArgs([]));
    expect(r.code).toBe(0);
    expect(outFiles()).toEqual(['out.mp4']);
    rmSync(out());
  });

  it('a real photo with --strict is refused (exit 3)', () => {
    const r = run(animateArgs(['--identity', path.join(EX, 'real', 'astronaut.png'), '--strict']));
    expect({ code: r.code, lines: r.lines }).toEqual({ code: 3, lines: [expect.stringMatching(/--identity .*astronaut\.png looks like a real photo .*refused \(--strict\)/)] });
  });
});

/** A directory holding a fake `ffmpeg` (a shell script) to put first on PATH. */
function fakeFfmpeg(name: string, body: string): string {
  const dir = path.join(work, `bin-${name}`);
  mkdirSync(dir, { recursive: true });
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const real = (require('@ffmpeg-installer/ffmpeg') as { path: string }).path;
  writeFileSync(path.join(dir, 'ffmpeg'), `#!/bin/sh\nREAL='${real}'\nif [ "$1" = "-version" ]; then echo "ffmpeg version 6.1-${name} Copyright (c) the FFmpeg developers"; exit 0; fi\n${body}\n`);
  chmodSync(path.join(dir, 'ffmpeg'), 0o755);
  return dir;
}
/** The output argument of an encode (the last one), unless it is a pipe (a decode). */
const LAST = 'for last; do :; done; case "$last" in pipe:*) exec "$REAL" "$@";; esac';

describe('faults while writing: nothing broken is committed', () => {
  afterEach(() => {
    expect(outFiles()).toEqual([]);
  });

  it.each([
    ['an ffmpeg that truncates its output and exits 0', `${LAST}\n"$REAL" "$@" || exit $?\ntruncate -s 200 "$last"\nexit 0`, /the encoded .* is broken \((no video stream|ffprobe cannot read it)/],
    ['an ffmpeg that reports a full disk and exits 0', `${LAST}\n"$REAL" "$@" || exit $?\necho "[mp4 @ 0x55] Error writing trailer of $last: No space left on device" >&2\nexit 0`, /Error writing trailer .* No space left on device/],
    ['an ffmpeg that fails', `${LAST}\necho "Conversion failed!" >&2\nexit 1`, /ffmpeg failed: Conversion failed!/],
  ])('%s: exit 1, one line', (name, body, message) => {
    const dir = fakeFfmpeg(name.replace(/\W+/g, '-'), body);
    const r = run(animateArgs([]), { PATH: `${dir}${path.delimiter}${process.env.PATH}` });
    expect({ code: r.code, lines: r.lines }).toEqual({ code: 1, lines: [expect.stringMatching(message)] });
  });

  it('a file size limit (ulimit -f) that kills ffmpeg mid-write: exit 1, one line', () => {
    const args = animateArgs(['--frames', '12', '--guide', path.join(EX, 'drive-random.keypoints.json')]).map((a) => `'${a}'`).join(' ');
    const r = spawnSync('bash', ['-c', `ulimit -f 2; exec '${process.execPath}' '${BIN}' ${args}`], { encoding: 'utf8', timeout: 300_000 });
    const lines = r.stderr.trim().split('\n');
    expect({ code: r.status, lines }).toEqual({ code: 1, lines: [expect.stringMatching(/ffmpeg failed|broken/)] });
  });

  const canMount = process.getuid?.() === 0 && (() => {
    const probe = mkdtempSync(path.join(os.tmpdir(), 'durian-mount-'));
    const ok = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe]).status === 0;
    if (ok) spawnSync('umount', [probe]);
    rmSync(probe, { recursive: true, force: true });
    return ok;
  })();
  // NOTE: needs root (mount); elsewhere the fake-ffmpeg cases above stand in for a full disk
  (canMount ? it : it.skip)('a full disk (a 24 KiB tmpfs) with the bundled ffmpeg: exit 1, one line, nothing left', () => {
    const disk = mkdtempSync(path.join(os.tmpdir(), 'durian-full-'));
    expect(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=24k', 'tmpfs', disk]).status).toBe(0);
    try {
      const r = run(animateArgs(['-o', path.join(disk, 'full.mp4'), '--frames', '24', '--guide', path.join(EX, 'drive-random.keypoints.json')]));
      expect({ code: r.code, lines: r.lines }).toEqual({ code: 1, lines: [expect.stringMatching(/No space left on device|broken|ENOSPC/)] });
      expect(readdirSync(disk)).toEqual([]);
    } finally {
      spawnSync('umount', [disk]);
      rmSync(disk, { recursive: true, force: true });
    }
  });
});

describe('ffmpeg on PATH', () => {
  it('a current ffmpeg on PATH (≥ 5) is used, and doctor says so; an old one is passed over', () => {
    const log = path.join(work, 'wrapper.log');
    const current = fakeFfmpeg('wrapper', `echo "$@" >> '${log}'\nexec "$REAL" "$@"`);
    const env = { PATH: `${current}${path.delimiter}${process.env.PATH}` };
    const doctor = JSON.parse(run(['doctor', '--json', '--models-dir', path.join(IN, 'no-models')], env).stdout);
    expect(doctor.ffmpeg).toMatchObject({ path: path.join(current, 'ffmpeg'), version: '6.1-wrapper', source: 'path' });
    const r = run(animateArgs([]), env);
    expect(r.code).toBe(0);
    expect(readFileSync(log, 'utf8')).toMatch(/libx264/); // the encode went through the PATH ffmpeg
    rmSync(out());

    const oldDir = path.join(work, 'bin-old');
    mkdirSync(oldDir);
    writeFileSync(path.join(oldDir, 'ffmpeg'), '#!/bin/sh\necho "ffmpeg version 4.4.2-0ubuntu0.22.04.1 Copyright"\n');
    chmodSync(path.join(oldDir, 'ffmpeg'), 0o755);
    const old = JSON.parse(run(['doctor', '--json', '--models-dir', path.join(IN, 'no-models')], { PATH: `${oldDir}${path.delimiter}${process.env.PATH}` }).stdout);
    expect(old.ffmpeg.source).toBe('bundled');
    expect(old.ffmpeg.path).not.toBe(path.join(oldDir, 'ffmpeg'));
  });
});
