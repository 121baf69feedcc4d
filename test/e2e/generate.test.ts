import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import ffprobeInstaller from '@ffprobe-installer/ffprobe';

import { ROOT, runCli } from './run-cli';

const MODEL = path.join(ROOT, 'test', 'fixtures', 'onnx-tiny');
const EX = path.join(ROOT, 'examples');
const TIMEOUT_MS = 240_000;
jest.setTimeout(TIMEOUT_MS);

function ffprobe(file: string): { codec: string; width: number; height: number; fps: string; frames: number } {
  const bin = ffprobeInstaller.path;
  const r = spawnSync(bin, ['-v', 'error', '-select_streams', 'v:0', '-count_frames', '-show_entries',
    'stream=codec_name,width,height,r_frame_rate,nb_read_frames', '-of', 'json', file], { encoding: 'utf8' });
  const s = JSON.parse(r.stdout).streams[0];
  return { codec: s.codec_name, width: s.width, height: s.height, fps: s.r_frame_rate, frames: Number(s.nb_read_frames) };
}

const base = (out: string, extra: string[] = []) => [
  '--identity', path.join(EX, 'identity-1.png'), '--guide', path.join(EX, 'drive-talking.mp4'), '-o', out,
  '--model', MODEL, '--provider', 'cpu', '--frames', '6', '--steps', '2', ...extra,
];

describe('durian animate / interpolate / guide / batch on the tiny model', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'durian-e2e-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('animate writes an H.264 mp4 with the guide frames and fps, and --json describes it', () => {
    const out = path.join(dir, 'hair.mp4');
    const r = runCli(['animate', ...base(out, ['--attr', path.join(EX, 'attr-hair-1.png') + ':hair', '--json', '--preview', path.join(dir, 'p.png')])]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const json = JSON.parse(r.stdout);
    expect(json).toMatchObject({ ok: true, output: out, frames: 6, fps: 25, seed: 0, provider: 'cpu', memory: 'balanced',
      unet_binding: { mode: 'plain', fallbacks: {} }, unet_precision: { precision: 'float32', reason: 'auto: cpu provider' } });
    expect(json.modelSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(Object.keys(json.timings)).toEqual(expect.arrayContaining(['references', 'unet', 'decode', 'encode']));
    expect(json.analysis.identity).toBe('sidecar keypoints, sidecar masks');
    expect(ffprobe(out)).toEqual({ codec: 'h264', width: 64, height: 64, fps: '25/1', frames: 6 });
    expect(existsSync(path.join(dir, 'p.png'))).toBe(true);
  });

  it('--provider auto says which provider ran and why others were skipped, without provider noise on stderr', () => {
    const args = base(path.join(dir, 'auto.mp4'), ['--attr', path.join(EX, 'attr-hat-2.png') + ':hat', '--json', '--frames', '2', '--steps', '1']);
    args[args.indexOf('--provider') + 1] = 'auto';
    const r = runCli(['animate', ...args]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const json = JSON.parse(r.stdout);
    expect(['cuda', 'webgpu', 'cpu']).toContain(json.provider);
    if (json.provider === 'cpu') expect(json.fallbacks.length).toBeGreaterThan(0);
  });

  it('--profile prints per-stage times to stderr', () => {
    const r = runCli(['animate', ...base(path.join(dir, 'prof.mp4'), ['--attr', path.join(EX, 'attr-hat-2.png') + ':hat', '--profile'])]);
    expect(r.code).toBe(0);
    for (const stage of ['load model', 'references', 'UNet, per step', 'decode', 'encode']) {
      expect(r.stderr).toMatch(new RegExp(`${stage.replace(/[,]/g, '.')}\\s+\\d+\\.\\d{3} s`));
    }
    expect(r.stdout.trim()).toBe(path.join(dir, 'prof.mp4'));
  });

  it('the same seed gives identical frames', () => {
    const a = path.join(dir, 'a');
    const b = path.join(dir, 'b');
    for (const out of [a, b]) {
      expect(runCli(['animate', ...base(out + '/', ['--attr', path.join(EX, 'attr-glasses-1.png'), '--frames', '2'])]).code).toBe(0);
    }
    const fa = readdirSync(a).sort();
    expect(fa).toEqual(['0000.png', '0001.png']);
    for (const f of fa) expect(readFileSync(path.join(a, f)).equals(readFileSync(path.join(b, f)))).toBe(true);
  });

  it('--low-memory gives the same frames and preview, and --json says so', () => {
    const outs = { balanced: path.join(dir, 'mem-balanced'), low: path.join(dir, 'mem-low') };
    for (const [mode, out] of Object.entries(outs)) {
      const r = runCli(['animate', ...base(out + '/', ['--attr', path.join(EX, 'attr-hair-1.png') + ':hair', '--frames', '7', '--window', '3',
        '--overlap', '1', '--preview', `${out}.png`, '--json', ...(mode === 'low' ? ['--low-memory'] : [])])]);
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ frames: 7, memory: mode });
    }
    const names = readdirSync(outs.balanced).sort();
    expect(names).toHaveLength(7);
    expect(readdirSync(outs.low).sort()).toEqual(names);
    for (const f of names) expect(readFileSync(path.join(outs.low, f)).equals(readFileSync(path.join(outs.balanced, f)))).toBe(true);
    expect(readFileSync(`${outs.low}.png`).equals(readFileSync(`${outs.balanced}.png`))).toBe(true);
  });

  it('--precision float16 makes a float16 UNet on the CPU too, and --json says so', () => {
    const r = runCli(['animate', ...base(path.join(dir, 'half.mp4'), ['--attr', path.join(EX, 'attr-hat-2.png') + ':hat', '--json', '--frames', '2',
      '--steps', '1', '--precision', 'float16'])]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ frames: 2, unet_precision: { precision: 'float16', reason: 'requested',
      conversion: expect.stringMatching(/nodes in float16/) } });
  });

  it('composition: two attributes in one pass (gif), classes chosen automatically', () => {
    const out = path.join(dir, 'both.gif');
    const r = runCli(['animate', ...base(out, ['--attr', path.join(EX, 'attr-hat-1.png'), '--attr', path.join(EX, 'attr-glasses-2.png') + ':glasses', '--json'])]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).attributes.map((a: { class: string }) => a.class)).toEqual(['hat', 'glasses']);
    expect(ffprobe(out)).toMatchObject({ codec: 'gif', width: 64, height: 64, frames: 6 });
  });

  it('interpolate sweeps alpha over the video (webm)', () => {
    const out = path.join(dir, 'blend.webm');
    const r = runCli(['interpolate', ...base(out, ['--attr', path.join(EX, 'attr-hair-1.png') + ':hair', '--attr', path.join(EX, 'attr-hair-2.png') + ':hair', '--alpha', '0:1'])]);
    expect(r.code).toBe(0);
    expect(ffprobe(out)).toMatchObject({ width: 64, height: 64, frames: 6 });
  });

  it('guide extracts keypoints to JSON and renders retargeted guidance to mp4', () => {
    const json = path.join(dir, 'g.json');
    let r = runCli(['guide', '--video', path.join(EX, 'drive-random.mp4'), '-o', json, '--model', MODEL, '--provider', 'cpu', '--frames', '5']);
    expect(r.code).toBe(0);
    const doc = JSON.parse(readFileSync(json, 'utf8'));
    expect(doc.frames).toHaveLength(5);
    expect(doc.frames[0]).toHaveLength(68);
    const mp4 = path.join(dir, 'g.mp4');
    r = runCli(['guide', '--video', path.join(EX, 'drive-random.mp4'), '--identity', path.join(EX, 'identity-2.png'), '-o', mp4,
      '--model', MODEL, '--provider', 'cpu', '--frames', '5', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ frames: 5, retargeted: true });
    expect(ffprobe(mp4)).toMatchObject({ codec: 'h264', width: 64, height: 64, frames: 5 });
  });

  it('a directory of PNG frames is a guide (25 fps), as documented', () => {
    const frames = path.join(dir, 'guide-frames');
    mkdirSync(frames);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const ffmpeg = (require('@ffmpeg-installer/ffmpeg') as { path: string }).path;
    expect(spawnSync(ffmpeg, ['-v', 'error', '-i', path.join(EX, 'drive-talking.mp4'), '-frames:v', '3', path.join(frames, '%04d.png')]).status).toBe(0);
    const out = path.join(dir, 'from-frames.mp4');
    const r = runCli(['animate', ...base(out, ['--attr', path.join(EX, 'attr-hair-1.png') + ':hair', '--json'])].map((a) => (a === path.join(EX, 'drive-talking.mp4') ? frames : a)));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ frames: 3, fps: 25 });
    expect(ffprobe(out)).toMatchObject({ codec: 'h264', frames: 3, fps: '25/1' });
  });

  it('batch runs good jobs, reports a bad one, and --resume skips finished outputs', () => {
    const jobs = path.join(dir, 'jobs.jsonl');
    const job = (out: string, extra: object = {}) => JSON.stringify({
      identity: path.join(EX, 'identity-3.png'), attr: path.join(EX, 'attr-beard-1.png') + ':beard',
      guide: path.join(EX, 'drive-talking.keypoints.json'), output: out, frames: 3, steps: 1, ...extra });
    writeFileSync(jobs, [job('j1.mp4'), job('j2.mp4', { identity: 'missing.png' }), job('j3.mp4', { command: 'interpolate', attr: [
      path.join(EX, 'attr-hair-1.png') + ':hair', path.join(EX, 'attr-hair-2.png') + ':hair'], alpha: 0.5 })].join('\n'));
    let r = runCli(['batch', jobs, '--model', MODEL, '--provider', 'cpu', '--json']);
    expect(r.code).toBe(1);
    let s = JSON.parse(r.stdout);
    expect(s).toMatchObject({ ok: false, jobs: 3, succeeded: 2, failed: 1, memory: 'balanced', unet_precision: { precision: 'float32' } });
    expect(s.outcomes[1]).toMatchObject({ line: 2, status: 'failed', exitCode: 3 });
    expect(ffprobe(path.join(dir, 'j1.mp4')).frames).toBe(3);
    r = runCli(['batch', jobs, '--model', MODEL, '--provider', 'cpu', '--json', '--resume']);
    s = JSON.parse(r.stdout);
    expect(s).toMatchObject({ skipped: 2, failed: 1, succeeded: 0 });
    r = runCli(['batch', jobs, '--model', MODEL, '--provider', 'cpu', '--json', '--resume', '--shard', '1/2']);
    expect(JSON.parse(r.stdout)).toMatchObject({ shard: '1/2', jobs: 2, skipped: 2 });
  });

  describe('bad input: one line, the documented exit code, no output left behind', () => {
    const attr = ['--attr', path.join(EX, 'attr-hair-1.png')];
    it.each([
      ['a missing identity image', ['--identity', 'no-such.png'], 3, /no-such\.png/],
      ['a non-image identity', ['--identity', path.join(ROOT, 'package.json')], 3, /package\.json/],
      ['an unknown attribute class', ['--attr', path.join(EX, 'attr-hair-1.png') + ':scarf'], 2, /unknown attribute class "scarf"/],
      ['steps ≤ 0', ['--steps', '0'], 2, /--steps must be a positive integer/],
      ['a guide without frames', ['--guide', path.join(ROOT, 'package.json')], 3, /package\.json/],
      ['a missing model directory', ['--model', path.join(dir, 'nope')], 2, /model directory not found/],
      ['an unwritable output', ['-o', path.join(dir, 'no', 'such', 'dir', 'x.mp4')], 2, /output/],
    ])('%s', (_name, override, code, message) => {
      const out = path.join(dir, 'bad.mp4');
      const args = base(out, attr);
      for (let i = 0; i < override.length; i += 2) {
        const k = args.indexOf(override[i]!);
        if (k >= 0) args[k + 1] = override[i + 1]!;
        else args.push(override[i]!, override[i + 1]!);
      }
      const r = runCli(['animate', ...args]);
      expect(r.code).toBe(code);
      expect(r.stderr.trim().split('\n')[0]).toMatch(message);
      expect(existsSync(out)).toBe(false);
      expect(readdirSync(dir).filter((f) => f.includes('partial'))).toEqual([]);
    });

    it('alpha outside [0, 1]', () => {
      const r = runCli(['interpolate', ...base(path.join(dir, 'x.mp4'), [...attr, ...attr, '--alpha', '1.5'])]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/--alpha values must lie in \[0, 1\]/);
    });

    it('a model with a tampered graph or an unknown manifest version', () => {
      const bad = path.join(dir, 'model-bad');
      cpSync(MODEL, bad, { recursive: true });
      writeFileSync(path.join(bad, 'unet.onnx'), Buffer.concat([readFileSync(path.join(bad, 'unet.onnx')), Buffer.from([0])]));
      let r = runCli(['animate', ...base(path.join(dir, 'y.mp4'), [...attr, '--model', bad])]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/sha256 does not match/);
      const manifest = JSON.parse(readFileSync(path.join(bad, 'manifest.json'), 'utf8'));
      writeFileSync(path.join(bad, 'manifest.json'), JSON.stringify({ ...manifest, format_version: 99 }));
      r = runCli(['animate', ...base(path.join(dir, 'y.mp4'), [...attr, '--model', bad])]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/format_version 99 is not supported/);
    });

    it('a model directory with a missing graph', () => {
      const bad = path.join(dir, 'model-missing');
      cpSync(MODEL, bad, { recursive: true });
      rmSync(path.join(bad, 'arnet.onnx'));
      const r = runCli(['animate', ...base(path.join(dir, 'z.mp4'), [...attr, '--model', bad])]);
      expect(r.code).toBe(2);
      expect(r.stderr.split('\n')[0]).toMatch(/arnet\.onnx: graph file missing/);
    });

    it('an existing output is kept unless --force', () => {
      const out = path.join(dir, 'keep.mp4');
      writeFileSync(out, 'precious');
      const r = runCli(['animate', ...base(out, attr)]);
      expect(r.code).toBe(2);
      expect(readFileSync(out, 'utf8')).toBe('precious');
    });
  });
});
