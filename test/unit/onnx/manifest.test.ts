import { createHash } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { ModelFileError } from '../../../src/errors';
import { compareGraphInputs, readManifest, readSchedulerConfig, validateManifest, verifyModelFiles } from '../../../src/onnx/manifest';

const FIXTURE = path.resolve(__dirname, '..', '..', 'fixtures', 'onnx-tiny');
const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const fixtureManifest = () => JSON.parse(readFileSync(path.join(FIXTURE, 'manifest.json'), 'utf8')) as Record<string, unknown>;

describe('manifest', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(path.join(os.tmpdir(), 'durian-manifest-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('reads a valid manifest and verifies hashes, missing files and changed files', async () => {
    const a = Buffer.from('graph a');
    const b = Buffer.from('graph b');
    writeFileSync(path.join(dir, 'a.onnx'), a);
    writeFileSync(path.join(dir, 'b.onnx'), Buffer.from('tampered'));
    const m = fixtureManifest();
    const io = { inputs: [{ name: 'x', dtype: 'float32', shape: [1] }], outputs: [{ name: 'y', dtype: 'float32', shape: [1] }] };
    m.graphs = {
      ...(m.graphs as object),
      a: { file: 'a.onnx', sha256: sha(a), ...io },
      b: { file: 'b.onnx', sha256: sha(b), ...io },
      c: { file: 'c.onnx', sha256: sha(b), ...io },
    };
    writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(m));

    const manifest = readManifest(dir);
    const checks = await verifyModelFiles(dir, { graphs: { a: manifest.graphs.a!, b: manifest.graphs.b!, c: manifest.graphs.c! } });
    expect(checks.map((c) => [c.graph, c.status])).toEqual([
      ['a', 'ok'],
      ['b', 'mismatch'],
      ['c', 'missing'],
    ]);
  });

  it('refuses an unknown format version with a message naming both versions', () => {
    expect(() => validateManifest({ ...fixtureManifest(), format_version: 7 }, 'm.json')).toThrow(
      'm.json: manifest format_version 7 is not supported (this durian reads 1)',
    );
  });

  it.each([
    [[], 'm.json: manifest must be object'],
    [{ format_version: 1, name: 'x' }, 'm.json: graphs is missing'],
  ])('rejects %j', (json, message) => {
    expect(() => validateManifest(json, 'm.json')).toThrow(ModelFileError);
    expect(() => validateManifest(json, 'm.json')).toThrow(message);
  });

  it('says when there is no manifest at all', () => {
    expect(() => readManifest(dir)).toThrow(/no manifest.json in model directory/);
  });

  it('reads scheduler_config.json, and names it when it is missing or broken', () => {
    expect(() => readSchedulerConfig(dir)).toThrow(`${path.join(dir, 'scheduler_config.json')} is missing`);
    writeFileSync(path.join(dir, 'scheduler_config.json'), '[1]');
    expect(() => readSchedulerConfig(dir)).toThrow(/must hold a JSON object/);
    copyFileSync(path.join(FIXTURE, 'scheduler_config.json'), path.join(dir, 'scheduler_config.json'));
    expect(readSchedulerConfig(dir)._class_name).toBe('DDIMScheduler');
  });

  it('compares a graph\'s declared inputs with the manifest by name and rank', () => {
    const entry = validateManifest(fixtureManifest(), 'm.json').graphs.vae_decoder;
    expect(compareGraphInputs(entry, { latent: ['batch', 4, 8, 8] })).toBeUndefined();
    expect(compareGraphInputs(entry, { z: ['batch', 4, 8, 8] })).toBe(
      'inputs do not match the manifest (in the manifest only: latent; in the graph only: z)');
    expect(compareGraphInputs(entry, { latent: ['batch', 4, 64] })).toBe('input "latent" has rank 3 in the graph but 4 in the manifest');
  });
});
