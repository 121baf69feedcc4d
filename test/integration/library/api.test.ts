/**
 * durian used as a library, the way a program depending on it would: the built package entry
 * (`durian`, resolved through package.json's exports to dist/index.js, which jest's globalSetup
 * builds), on the tiny real model and the CPU provider, writing real videos.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import ffprobeInstaller from '@ffprobe-installer/ffprobe';
import { animate, interpolate, InterruptedError, loadModel, UsageError, InputError, type AnimateSpec, type Model } from 'durian';

import { ROOT, runCli } from '../../e2e/run-cli';

const MODEL = path.join(ROOT, 'test', 'fixtures', 'onnx-tiny');
const EX = path.join(ROOT, 'examples');
jest.setTimeout(240_000);

function ffprobe(file: string): { codec: string; width: number; height: number; fps: string; frames: number } {
  const r = spawnSync(ffprobeInstaller.path, ['-v', 'error', '-select_streams', 'v:0', '-count_frames', '-show_entries',
    'stream=codec_name,width,height,r_frame_rate,nb_read_frames', '-of', 'json', file], { encoding: 'utf8' });
  const s = (JSON.parse(r.stdout) as { streams: { codec_name: string; width: number; height: number; r_frame_rate: string; nb_read_frames: string }[] }).streams[0]!;
  return { codec: s.codec_name, width: s.width, height: s.height, fps: s.r_frame_rate, frames: Number(s.nb_read_frames) };
}

describe('durian as a library (require("durian"))', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'durian-lib-'));
  let model: Model;
  const job = (output: string): AnimateSpec => ({
    identity: path.join(EX, 'identity-1.png'), attributes: [{ image: path.join(EX, 'attr-hair-1.png'), class: 'hair' }],
    guide: path.join(EX, 'drive-talking.mp4'), output, frames: 6, steps: 2,
  });

  beforeAll(async () => {
    model = await loadModel(MODEL, { provider: 'cpu' });
  });
  afterAll(async () => {
    await model?.release();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is the built package entry', () => {
    expect(require.resolve('durian')).toBe(path.join(ROOT, 'dist', 'index.js'));
  });

  it('loadModel describes the model it loaded', () => {
    expect(model).toMatchObject({ dir: MODEL, width: 64, height: 64, providers: ['cpu'] });
    expect(model.attributeClasses).toEqual(expect.arrayContaining(['hair', 'hat', 'glasses', 'beard']));
  });

  it('animate writes an H.264 mp4 and a preview, reporting stages and steps as it goes', async () => {
    const out = path.join(dir, 'hair.mp4');
    const stages: string[] = [];
    const steps: string[] = [];
    const r = await animate(model, { ...job(out), preview: path.join(dir, 'p.png') }, {
      onStage: (s) => stages.push(s),
      onStep: ({ step, total }) => steps.push(`${step}/${total}`),
    });
    expect(r).toMatchObject({ output: out, frames: 6, fps: 25, seed: 0, steps: 2, warnings: [], attributes: [{ class: 'hair' }] });
    expect(r.analysis.identity).toBe('sidecar keypoints, sidecar masks');
    expect(r.modelSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(steps).toEqual(['1/2', '2/2']);
    expect(stages).toEqual(expect.arrayContaining(['analysing inputs', 'extracting guidance', 'references', 'unet', 'decode', 'encoding']));
    expect(ffprobe(out)).toEqual({ codec: 'h264', width: 64, height: 64, fps: '25/1', frames: 6 });
    expect(readFileSync(path.join(dir, 'p.png')).subarray(1, 4).toString()).toBe('PNG');
  });

  it('animate makes the same frames as `durian animate` with the same settings', async () => {
    const lib = path.join(dir, 'lib') + '/';
    const cli = path.join(dir, 'cli') + '/';
    await animate(model, { ...job(lib), attributes: [{ image: path.join(EX, 'attr-glasses-1.png') }], frames: 3, seed: 5 });
    const r = runCli(['animate', '--identity', path.join(EX, 'identity-1.png'), '--attr', path.join(EX, 'attr-glasses-1.png'), '--guide',
      path.join(EX, 'drive-talking.mp4'), '-o', cli, '--model', MODEL, '--provider', 'cpu', '--frames', '3', '--steps', '2', '--seed', '5']);
    expect(r.code).toBe(0);
    const files = readdirSync(lib).sort();
    expect(files).toEqual(['0000.png', '0001.png', '0002.png']);
    for (const f of files) expect(readFileSync(path.join(lib, f)).equals(readFileSync(path.join(cli, f)))).toBe(true);
  });

  it('interpolate blends two attributes with alpha sweeping over the video', async () => {
    const out = path.join(dir, 'blend.gif');
    const r = await interpolate(model, { ...job(out), attributes: [{ image: path.join(EX, 'attr-hair-1.png'), class: 'hair' },
      { image: path.join(EX, 'attr-hair-2.png'), class: 'hair' }], alpha: [0, 1], frames: 4, steps: 1 });
    expect(r).toMatchObject({ frames: 4, attributes: [{ class: 'hair' }, { class: 'hair' }] });
    expect(ffprobe(out)).toMatchObject({ codec: 'gif', width: 64, height: 64, frames: 4 });
  });

  it('an AbortSignal stops the job between steps: InterruptedError, no output, no partial file', async () => {
    const out = path.join(dir, 'aborted.mp4');
    const stop = new AbortController();
    const steps: number[] = [];
    await expect(animate(model, { ...job(out), steps: 4 }, { signal: stop.signal, onStep: ({ step }) => {
      steps.push(step);
      stop.abort();
    } })).rejects.toThrow(InterruptedError);
    expect(steps).toEqual([1]);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(dir).filter((f) => f.includes('partial') || f.endsWith('.lock'))).toEqual([]);
  });

  it('refuses a bad spec or input with the typed errors, before generating anything', async () => {
    await expect(animate(model, { ...job(path.join(dir, 'x.mp4')), steps: 0 })).rejects.toThrow(new UsageError('steps must be a positive integer, got 0'));
    await expect(animate(model, { ...job(path.join(dir, 'x.mp4')), identity: path.join(dir, 'no-such.png') })).rejects.toThrow(InputError);
    await expect(animate(model, { ...job(path.join(dir, 'x.mp4')), attributes: [{ image: path.join(EX, 'attr-hair-1.png'), class: 'scarf' }] }))
      .rejects.toThrow(/unknown attribute class "scarf"/);
    expect(existsSync(path.join(dir, 'x.mp4'))).toBe(false);
  });

  it('a released model runs no more jobs', async () => {
    const other = await loadModel(MODEL, { provider: 'cpu' });
    await other.release();
    await expect(animate(other, job(path.join(dir, 'late.mp4')))).rejects.toThrow(/has been released/);
  });
});
