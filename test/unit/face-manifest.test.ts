import { readFileSync } from 'node:fs';
import path from 'node:path';

import { ModelFileError } from '../../src/errors';
import { FACE_GRAPH_KEYS, validateFaceManifest } from '../../src/face/face-manifest';

describe('face manifest', () => {
  const file = path.join(__dirname, '../../models/face/manifest.json');
  const manifest = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;

  it('accepts the committed models/face manifest', () => {
    const m = validateFaceManifest(manifest, file);
    expect(Object.keys(m.graphs)).toEqual(expect.arrayContaining([...FACE_GRAPH_KEYS]));
  });

  it.each([
    ['a wrong format', { ...manifest, format: 'durian' }, /format/],
    ['an unknown version', { ...manifest, format_version: 99 }, /format_version 99/],
    ['a missing graph', { ...manifest, graphs: { detector: (manifest.graphs as Record<string, unknown>).detector } }, /graphs.mesh is missing/],
  ])('rejects %s', (_, json, message) => {
    expect(() => validateFaceManifest(json, 'm.json')).toThrow(ModelFileError);
    expect(() => validateFaceManifest(json, 'm.json')).toThrow(message);
  });
});
