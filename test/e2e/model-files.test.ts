/**
 * Broken model directories, each a copy of the tiny real model with one thing wrong: `models verify`
 * and `animate` refuse each with exit 2 and one error line naming the file and what is wrong.
 */
import { createHash } from 'node:crypto';
import { copyFileSync, cpSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { CLI_TIMEOUT_MS, ROOT, runCli, type CliResult } from './run-cli';

jest.setTimeout(CLI_TIMEOUT_MS * 2);

const FIXTURE = path.join(ROOT, 'test', 'fixtures', 'onnx-tiny');
const EX = path.join(ROOT, 'examples');

/** stderr's lines without the Suggestion line that may follow the error. */
function errorLines(r: CliResult): string[] {
  return r.stderr.trim().split('\n').filter((l) => !l.startsWith('Suggestion: '));
}

describe('broken model files', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'durian-broken-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  /** A copy of the tiny model named `name`, its manifest passed through `edit`. */
  function brokenModel(name: string, edit: (m: Record<string, unknown>, dir: string) => void): string {
    const dir = path.join(root, name);
    cpSync(FIXTURE, dir, { recursive: true });
    const file = path.join(dir, 'manifest.json');
    const m = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    edit(m, dir);
    writeFileSync(file, JSON.stringify(m, null, 2));
    return dir;
  }

  const verify = (dir: string) => runCli(['models', 'verify', dir]);
  const animate = (dir: string, attr = 'attr-hair-1.png:hair') => runCli(['animate', '--identity', path.join(EX, 'identity-1.png'),
    '--attr', path.join(EX, attr), '--guide', path.join(EX, 'drive-talking.mp4'), '-o', path.join(root, `${path.basename(dir)}.mp4`),
    '--model', dir, '--provider', 'cpu', '--frames', '2', '--steps', '1']);

  /** `models verify` exits 2 with the model's one line, and animate exits 2 with one error line; both match `what`. */
  function expectRefused(dir: string, what: RegExp, opts: { animate?: boolean } = {}): void {
    const v = verify(dir);
    expect(v.code).toBe(2);
    const lines = v.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/invalid: /);
    expect(lines[0]).toMatch(what);
    if (opts.animate === false) return;
    const a = animate(dir);
    expect(a.code).toBe(2);
    expect(errorLines(a)).toHaveLength(1);
    expect(errorLines(a)[0]).toMatch(what);
  }

  const at = (dir: string, file: string) => new RegExp(`${path.join(dir, file).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `);

  it('keypoint_image: null', () => {
    const dir = brokenModel('kp-null', (m) => (m.keypoint_image = null));
    expectRefused(dir, at(dir, 'manifest.json'));
    expect(verify(dir).stdout).toMatch(/keypoint_image must be object/);
  });

  it('no scheduler_config.json', () => {
    const dir = brokenModel('no-scheduler', (_, d) => unlinkSync(path.join(d, 'scheduler_config.json')));
    expectRefused(dir, new RegExp(`${path.join(dir, 'scheduler_config.json')} is missing`));
  });

  it('a short face_template is a model error, not an input error', () => {
    const dir = brokenModel('short-template', (m) => (m.face_template = (m.face_template as number[]).slice(0, 100)));
    expectRefused(dir, /face_template must NOT have fewer than 136 items/);
  });

  it('attribute_classes as a string', () => {
    const dir = brokenModel('classes-string', (m) => (m.attribute_classes = 'hair,hat'));
    expectRefused(dir, /attribute_classes must be array/);
  });

  it('a graph with "file": ""', () => {
    const dir = brokenModel('empty-file', (m) => ((m.graphs as Record<string, { file: string }>).unet!.file = ''));
    expectRefused(dir, /graphs\.unet\.file must match pattern/, { animate: false });
  });

  it('a resolution that is not a multiple of vae_scale_factor', () => {
    const dir = brokenModel('resolution-60', (m) => (m.resolution = [60, 60]));
    const a = animate(dir);
    expect(a.code).toBe(2);
    expect(errorLines(a)).toEqual([`durian: error: ${path.join(dir, 'manifest.json')}: resolution 60×60 is not a multiple of vae_scale_factor 8`]);
  });

  it('a vae_scale_factor that the graphs do not have', () => {
    const dir = brokenModel('factor-16', (m) => (m.vae_scale_factor = 16));
    const a = animate(dir);
    expect(a.code).toBe(2);
    expect(errorLines(a)).toEqual([`durian: error: ${path.join(dir, 'manifest.json')}: graphs.vae_decoder input "latent" is [batch, 4, 8, 8], `
      + 'but resolution 64×64, vae_scale_factor 16 and latent_channels 4 make it [*, 4, 4, 4]']);
  });

  it('a graph whose inputs are not the manifest\'s is refused at load, not at the first UNet call', () => {
    // the VAE decoder's graph under the UNet's name, its sha256 updated: the hashes pass, the inputs do not
    const dir = brokenModel('wrong-graph', (m, d) => {
      copyFileSync(path.join(d, 'vae_decoder.onnx'), path.join(d, 'unet.onnx'));
      const unet = (m.graphs as Record<string, { sha256: string }>).unet!;
      unet.sha256 = createHash('sha256').update(readFileSync(path.join(d, 'unet.onnx'))).digest('hex');
    });
    expect(verify(dir).code).toBe(0); // the files are the ones the manifest names
    const a = animate(dir);
    expect(a.code).toBe(2);
    const names = (JSON.parse(readFileSync(path.join(FIXTURE, 'manifest.json'), 'utf8')) as { graphs: { unet: { inputs: { name: string }[] } } })
      .graphs.unet.inputs.map((t) => t.name);
    expect(errorLines(a)).toEqual([
      `durian: error: ${path.join(dir, 'unet.onnx')}: inputs do not match the manifest (in the manifest only: ${names.join(', ')}; in the graph only: latent) (suggestion: Re-export the model so that the manifest describes its graphs.)`,
    ]);
  });
});
