import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { ModelFileError } from '../../../src/errors';
import { readManifest, validateManifest, verifyModelFiles } from '../../../src/onnx/manifest';

const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

function manifestFor(graphs: Record<string, { file: string; sha256: string }>, extra: object = {}) {
  const withIo = Object.fromEntries(
    Object.entries(graphs).map(([g, e]) => [
      g,
      { ...e, inputs: [{ name: 'sample', dtype: 'float32', shape: [1, 4, 'frames', 32, 32] }], outputs: [{ name: 'out_sample', dtype: 'float32', shape: [1, 4] }] },
    ]),
  );
  return { format_version: 1, name: 'tiny', graphs: withIo, ...extra };
}

describe('manifest', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(path.join(os.tmpdir(), 'durian-manifest-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('reads a valid manifest and verifies hashes, missing files and changed files', async () => {
    const a = Buffer.from('graph a');
    const b = Buffer.from('graph b');
    writeFileSync(path.join(dir, 'a.onnx'), a);
    writeFileSync(path.join(dir, 'b.onnx'), Buffer.from('tampered'));
    const m = manifestFor({
      a: { file: 'a.onnx', sha256: sha(a) },
      b: { file: 'b.onnx', sha256: sha(b) },
      c: { file: 'c.onnx', sha256: sha(b) },
    });
    writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(m));

    const manifest = readManifest(dir);
    const checks = await verifyModelFiles(dir, manifest);
    expect(checks.map((c) => [c.graph, c.status])).toEqual([
      ['a', 'ok'],
      ['b', 'mismatch'],
      ['c', 'missing'],
    ]);
  });

  it('refuses an unknown format version with a message naming both versions', () => {
    expect(() => validateManifest(manifestFor({}, { format_version: 7 }), 'm.json')).toThrow(
      'm.json: manifest format_version 7 is not supported (this durian reads 1)',
    );
  });

  it.each([
    [[], 'must be a JSON object'],
    [{ format_version: 1, name: 'x' }, 'missing object "graphs"'],
    [manifestFor({ g: { file: '../../etc/passwd', sha256: 'a'.repeat(64) } }), 'inside the model directory'],
    [manifestFor({ g: { file: 'g.onnx', sha256: 'abc' } }), '64 lowercase hex'],
  ])('rejects %j', (json, message) => {
    expect(() => validateManifest(json, 'm.json')).toThrow(ModelFileError);
    expect(() => validateManifest(json, 'm.json')).toThrow(message);
  });

  it('says when there is no manifest at all', () => {
    expect(() => readManifest(dir)).toThrow(/no manifest.json in model directory/);
  });
});
