import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import pkg from '../../package.json';
import { CLI_TIMEOUT_MS, ROOT, runCli } from './run-cli';

jest.setTimeout(CLI_TIMEOUT_MS * 2);

describe('durian (spawned)', () => {
  it('--help lists every command and exits 0', () => {
    const r = runCli(['--help']);
    expect(r.code).toBe(0);
    for (const cmd of ['animate', 'interpolate', 'guide', 'batch', 'models', 'doctor']) {
      expect(r.stdout).toMatch(new RegExp(`^  ${cmd}\\b`, 'm'));
    }
    expect(r.stdout).not.toMatch(/planned/);
  });

  it('animate --help shows defaults and choices', () => {
    const r = runCli(['animate', '--help']);
    expect(r.code).toBe(0);
    const text = r.stdout.replace(/\s+/g, ' '); // commander wraps long help lines
    expect(text).toMatch(/--steps <n> denoising steps \(default: "20"\)/);
    expect(text).toMatch(/choices: "auto", "cpu", "webgpu", "cuda", default: "auto"/);
    expect(text).toMatch(/choices: "ddim", "euler", default: "ddim"/);
    // the bundled model's sampling defaults as its manifest has them (the text once said 4 when the
    // manifest said 5)
    const { defaults } = JSON.parse(readFileSync(path.join(ROOT, 'models', 'durian-synth', 'manifest.json'), 'utf8'));
    expect(text).toContain(`--guidance-scale <s> classifier-free guidance scale (default: the model's, from its manifest; ${defaults.guidance_scale} for durian-synth)`);
    expect(text).toContain(`from its manifest; ${defaults.eta} for durian-synth)`);
  });

  it('--version prints the package version', () => {
    const r = runCli(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(pkg.version);
  });

  it('an unknown command exits 2 with one line on stderr', () => {
    const r = runCli(['no-such-command']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toEqual(["durian: error: unknown command 'no-such-command'"]);
  });

  it('an unknown option exits 2', () => {
    const r = runCli(['doctor', '--frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown option '--frobnicate'/);
  });

  it('a missing required flag exits 2 with one line', () => {
    const r = runCli(['animate', '--identity', 'x.png']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/required option/);
  });

  describe('with a models directory', () => {
    let modelsDir: string;
    beforeAll(() => {
      modelsDir = mkdtempSync(path.join(os.tmpdir(), 'durian-models-'));
      // two copies of the tiny real model; one graph of the second changed after export
      for (const name of ['good', 'tampered']) {
        const dir = path.join(modelsDir, name);
        cpSync(path.join(ROOT, 'test', 'fixtures', 'onnx-tiny'), dir, { recursive: true });
        const manifest = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
        writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify({ ...manifest, name }));
      }
      const parser = path.join(modelsDir, 'tampered', 'parser.onnx');
      writeFileSync(parser, Buffer.concat([readFileSync(parser), Buffer.from([0])]));
    });
    afterAll(() => rmSync(modelsDir, { recursive: true, force: true }));

    it('doctor --json prints one JSON object with providers, ffmpeg and models', () => {
      const r = runCli(['doctor', '--json', '--models-dir', modelsDir]);
      const report = JSON.parse(r.stdout);
      const byName = Object.fromEntries(report.providers.map((p: { provider: string }) => [p.provider, p]));
      expect(byName.cpu).toMatchObject({ usable: true, bundled: true });
      expect(typeof byName.webgpu.usable).toBe('boolean');
      expect(report.ffmpeg.version).toMatch(/\S/);
      expect(report.ffprobe.version).toMatch(/\S/);
      expect(report.libvips).toMatch(/^\d+\.\d+/);
      expect(report.models.map((m: { name: string; status: string }) => [m.name, m.status])).toEqual([
        ['good', 'ok'],
        ['tampered', 'mismatch'],
      ]);
      // a tampered model is a problem: doctor says so and exits 1
      expect(report.ok).toBe(false);
      expect(r.code).toBe(1);
    });

    it('models verify exits 0 for a good model and 2 for a tampered one', () => {
      const good = runCli(['models', 'verify', 'good', '--models-dir', modelsDir]);
      expect(good.code).toBe(0);
      expect(good.stdout).toMatch(/^good\s+generator\s+format 1\s+ok/m);
      const bad = runCli(['models', 'verify', '--json', '--models-dir', modelsDir]);
      expect(bad.code).toBe(2);
      const json = JSON.parse(bad.stdout);
      expect(json.ok).toBe(false);
      expect(json.models[1].graphs.find((g: { graph: string }) => g.graph === 'parser').status).toBe('mismatch');
    });

    it('models list names both models', () => {
      const r = runCli(['models', 'list', '--models-dir', modelsDir]);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^good\s/m);
      expect(r.stdout).toMatch(/^tampered\s/m);
    });

    it('models verify knows the face front end\'s graphs (format durian-face) and checks their hashes', () => {
      const faceDir = path.join(modelsDir, 'face');
      cpSync(path.resolve(__dirname, '..', '..', 'models', 'face'), faceDir, { recursive: true });
      try {
        const r = runCli(['models', 'verify', 'face', '--models-dir', modelsDir]);
        expect(r.code).toBe(0);
        expect(r.stdout).toMatch(/^face\s+face\s+format 1\s+ok/m);
        writeFileSync(path.join(faceDir, 'face_mesh.onnx'), Buffer.from([0]));
        const bad = runCli(['models', 'verify', 'face', '--json', '--models-dir', modelsDir]);
        expect(bad.code).toBe(2);
        expect(JSON.parse(bad.stdout).models[0].graphs.find((g: { graph: string }) => g.graph === 'mesh').status).toBe('mismatch');
      } finally {
        rmSync(faceDir, { recursive: true, force: true });
      }
    });
  });
});
