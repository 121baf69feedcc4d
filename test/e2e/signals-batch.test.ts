/**
 * Signals, racing writers, domain warnings and a large batch with bad jobs, on the tiny model.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { BIN, ROOT } from './run-cli';

const MODEL = path.join(ROOT, 'test', 'fixtures', 'onnx-tiny');
const EX = path.join(ROOT, 'examples');
jest.setTimeout(600_000);

// eslint-disable-next-line @typescript-eslint/no-require-imports
const FFPROBE = (require('@ffprobe-installer/ffprobe') as { path: string }).path;
/** Frames ffprobe decodes from a file; NaN when it cannot read it. */
function countFrames(file: string): number {
  const r = spawnSync(FFPROBE, ['-v', 'error', '-select_streams', 'v:0', '-count_frames', '-show_entries', 'stream=nb_read_frames', '-of', 'csv=p=0', file], { encoding: 'utf8' });
  return r.status === 0 ? Number.parseInt(r.stdout, 10) : Number.NaN;
}

const animate = (out: string, extra: string[] = []) => ['animate', '--identity', path.join(EX, 'identity-1.png'), '--attr', `${path.join(EX, 'attr-hair-1.png')}:hair`,
  '--guide', path.join(EX, 'drive-talking.keypoints.json'), '-o', out, '--model', MODEL, '--provider', 'cpu', '--frames', '2', '--steps', '1', ...extra];

function start(args: string[]) {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, FORCE_COLOR: '0' } });
  let stdout = '', stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<{ code: number | null; stdout: string; lines: string[] }>((resolve) =>
    child.on('close', (code) => resolve({ code, stdout, lines: stderr.trim() === '' ? [] : stderr.trim().split('\n') })));
  return { child, done };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('signals: the run stops, one line, no partial file', () => {
  it.each([
    ['SIGTERM', 143, /^durian: terminated \(SIGTERM\); partial outputs removed$/],
    ['SIGINT', 130, /^durian: interrupted \(SIGINT\); partial outputs removed$/],
  ] as const)('%s during denoising exits %i', async (signal, code, line) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'durian-sig-'));
    const { child, done } = start(animate(path.join(dir, 'long.mp4'), ['--steps', '500', '--frames', '16']));
    // the claim appears once the inputs are checked; the model loads and denoising starts after it
    for (let i = 0; i < 300 && !existsSync(path.join(dir, '.long.mp4.lock')); i++) await sleep(100);
    await sleep(2500);
    child.kill(signal);
    const r = await done;
    expect({ code: r.code, lines: r.lines }).toEqual({ code, lines: [expect.stringMatching(line)] });
    expect(readdirSync(dir)).toEqual([]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('SIGINT while the model loads: the encoder (opened before denoising) never leaves its partial file', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'durian-sig-'));
    const { child, done } = start(animate(path.join(dir, 'long.mp4'), ['--steps', '500', '--frames', '16']));
    for (let i = 0; i < 300 && !existsSync(path.join(dir, '.long.mp4.lock')); i++) await sleep(20);
    child.kill('SIGINT');  // right after the claim: the model is loading, the job goes on meanwhile
    const r = await done;
    expect(r.code).toBe(130);
    await sleep(1000);  // an orphaned encoder would write its file after the exit
    expect(readdirSync(dir)).toEqual([]);
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('outputs are claimed atomically', () => {
  it('of two runs writing the same output, exactly one wins and the other exits 2', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'durian-race-'));
    const out = path.join(dir, 'same.mp4');
    const a = start(animate(out));
    const b = start(animate(out));
    const results = await Promise.all([a.done, b.done]);
    const codes = results.map((r) => r.code).sort();
    expect(codes).toEqual([0, 2]);
    const loser = results.find((r) => r.code === 2)!;
    expect(loser.lines).toEqual([expect.stringMatching(/is being written by another durian run|already exists/)]);
    expect(readdirSync(dir)).toEqual(['same.mp4']);
    expect(countFrames(out)).toBe(2);
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('domain honesty', () => {
  it('a real photo as --identity: one warning line, exit 0, and `warnings` in --json', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'durian-real-'));
    const args = animate(path.join(dir, 'real.mp4'), ['--json']);
    args[args.indexOf('--identity') + 1] = path.join(EX, 'real', 'astronaut.png');
    const r = await start(args).done;
    expect(r.code).toBe(0);
    expect(r.lines).toEqual([expect.stringMatching(/^durian: warning: --identity .*astronaut\.png looks like a real photo .*synthetic look-alike, not this person/)]);
    const json = JSON.parse(r.stdout);
    expect(json.warnings).toEqual([r.lines[0]!.replace(/^durian: warning: /, '')]);
    expect(countFrames(path.join(dir, 'real.mp4'))).toBe(2);
    // a synthetic identity: no warning
    const synth = await start(animate(path.join(dir, 'synth.mp4'), ['--json'])).done;
    expect(synth.lines).toEqual([]);
    expect(JSON.parse(synth.stdout).warnings).toEqual([]);
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('batch: 100 jobs, 10 bad', () => {
  it('runs the 90 good ones, says 10 failed, exits 1; --resume then runs none of them again', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'durian-batch100-'));
    writeFileSync(path.join(dir, 'empty.png'), '');
    const good = (i: number) => JSON.stringify({ identity: path.join(EX, `identity-${1 + (i % 3)}.png`), attr: `${path.join(EX, 'attr-hair-1.png')}:hair`,
      guide: path.join(EX, 'drive-talking.keypoints.json'), output: `out/${i}.mp4`, frames: 1, steps: 1, window: 1, overlap: 0 });
    const bad = [
      'null', '[]', '{"identity": ', JSON.stringify({ identity: 'empty.png', attr: path.join(EX, 'attr-hair-1.png'), guide: path.join(EX, 'drive-talking.keypoints.json'), output: 'out/bad1.mp4' }),
      JSON.stringify({ identity: path.join(EX, 'identity-1.png'), attr: path.join(EX, 'attr-hair-1.png'), guide: 'missing.json', output: 'out/bad2.mp4' }),
      JSON.stringify({ identiy: 'typo.png' }), '"a string"', JSON.stringify({ identity: path.join(EX, 'identity-1.png'), attr: path.join(EX, 'attr-hair-1.png'), guide: path.join(EX, 'drive-talking.keypoints.json'), output: 'out/bad3.mp4', steps: 0 }),
      JSON.stringify({ identity: path.join(EX, 'identity-1.mask-face.png'), attr: path.join(EX, 'attr-hair-1.png'), guide: path.join(EX, 'drive-talking.keypoints.json'), output: 'out/bad4.mp4' }),
      JSON.stringify({ identity: path.join(EX, 'identity-1.png'), attr: `${path.join(EX, 'attr-hair-1.png')}:scarf`, guide: path.join(EX, 'drive-talking.keypoints.json'), output: 'out/bad5.mp4' }),
    ];
    const lines: string[] = [];
    for (let i = 0, b = 0; i < 100; i++) lines.push(i % 10 === 5 ? bad[b++]! : good(i));
    writeFileSync(path.join(dir, 'jobs.jsonl'), `${lines.join('\n')}\n`);
    mkdirSync(path.join(dir, 'out'));
    const t0 = Date.now();
    const r = await start(['batch', path.join(dir, 'jobs.jsonl'), '--model', MODEL, '--provider', 'cpu', '--json']).done;
    const seconds = (Date.now() - t0) / 1000;
    expect(r.code).toBe(1);
    const s = JSON.parse(r.stdout);
    expect(s).toMatchObject({ ok: false, jobs: 100, succeeded: 90, failed: 10, skipped: 0 });
    expect(s.outcomes.filter((o: { status: string }) => o.status === 'failed').map((o: { line: number }) => o.line)).toEqual([6, 16, 26, 36, 46, 56, 66, 76, 86, 96]);
    expect(s.outcomes.filter((o: { exitCode?: number }) => o.exitCode !== undefined).every((o: { exitCode: number }) => [2, 3].includes(o.exitCode))).toBe(true);
    const outputs = readdirSync(path.join(dir, 'out')).sort();
    expect(outputs).toHaveLength(90);
    for (const f of outputs) expect(countFrames(path.join(dir, 'out', f))).toBe(1);
    console.log(`batch of 100 (90 good): ${seconds.toFixed(1)} s`);

    const again = await start(['batch', path.join(dir, 'jobs.jsonl'), '--model', MODEL, '--provider', 'cpu', '--json', '--resume']).done;
    expect(again.code).toBe(1);
    expect(JSON.parse(again.stdout)).toMatchObject({ jobs: 100, succeeded: 0, skipped: 90, failed: 10 });

    // an output broken after the fact (truncated) is not trusted by --resume: that job runs again
    writeFileSync(path.join(dir, 'out', '0.mp4'), 'truncated');
    const third = await start(['batch', path.join(dir, 'jobs.jsonl'), '--model', MODEL, '--provider', 'cpu', '--json', '--resume']).done;
    const s3 = JSON.parse(third.stdout);
    expect(s3).toMatchObject({ succeeded: 1, skipped: 89, failed: 10 });
    expect(s3.outcomes[0]).toMatchObject({ line: 1, status: 'ok', replaced: expect.stringMatching(/ffprobe cannot read it|no video stream/) });
    expect(countFrames(path.join(dir, 'out', '0.mp4'))).toBe(1);
    rmSync(dir, { recursive: true, force: true });
  });
});
