/**
 * The manifest contract from the TypeScript side: tools/export/durian_export/manifest.cases.json gives
 * ajv the cases tools/export/tests/test_manifest.py gives jsonschema, and both must reach the
 * verdict the file states; then fast-check throws arbitrary documents and mutations of the shipped
 * manifest at the validator.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

import fc from 'fast-check';

import { ModelFileError } from '../../../src/errors';
import { handleError } from '../../../src/cli/handle-error';
import { MANIFEST_SCHEMA_FILE, validateManifest } from '../../../src/onnx/manifest';

const ROOT = path.resolve(__dirname, '..', '..', '..');

interface SchemaCase {
  description: string;
  set?: Record<string, unknown>;
  remove?: string[];
  valid: boolean;
}

const casesFile = path.join(path.dirname(MANIFEST_SCHEMA_FILE), 'manifest.cases.json');
const { base, cases } = JSON.parse(readFileSync(casesFile, 'utf8')) as { base: string; cases: SchemaCase[] };
const baseText = readFileSync(path.join(ROOT, base), 'utf8');
const parseBase = (): unknown => JSON.parse(baseText);

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** The container and key a JSON pointer (RFC 6901, no escapes needed here) ends at. */
function locate(doc: unknown, pointer: string): { parent: Record<string, unknown> | unknown[]; key: string } {
  const parts = pointer.slice(1).split('/');
  const key = parts.pop() ?? '';
  let parent: unknown = doc;
  for (const p of parts) parent = Array.isArray(parent) ? parent[Number(p)] : (parent as Record<string, unknown>)[p];
  if (typeof parent !== 'object' || parent === null) throw new Error(`${pointer} does not lead into an object`);
  return { parent: parent as Record<string, unknown> | unknown[], key };
}

function applyCase(c: SchemaCase): unknown {
  let doc = parseBase();
  for (const [pointer, value] of Object.entries(c.set ?? {})) {
    if (pointer === '') {
      doc = structuredClone(value);
      continue;
    }
    const { parent, key } = locate(doc, pointer);
    if (Array.isArray(parent)) parent[Number(key)] = structuredClone(value);
    else parent[key] = structuredClone(value);
  }
  for (const pointer of c.remove ?? []) {
    const { parent, key } = locate(doc, pointer);
    if (Array.isArray(parent)) parent.splice(Number(key), 1);
    else delete parent[key];
  }
  return doc;
}

/** validateManifest's verdict: undefined when valid, else the error (anything else thrown fails the test). */
function verdict(doc: unknown): ModelFileError | undefined {
  try {
    validateManifest(doc, 'm.json');
    return undefined;
  } catch (error) {
    if (error instanceof ModelFileError) return error;
    throw error;
  }
}

describe('manifest.schema.json in TypeScript (ajv)', () => {
  it('has both kinds of cases', () => {
    expect(cases.filter((c) => c.valid).length).toBeGreaterThan(0);
    expect(cases.filter((c) => !c.valid).length).toBeGreaterThan(20);
  });

  it.each(cases.map((c) => [c.description, c] as const))('%s', (_, c) => {
    const error = verdict(applyCase(c));
    if (c.valid) {
      expect(error).toBeUndefined();
    } else {
      expect(error).toBeInstanceOf(ModelFileError);
      // one line, naming the file
      expect(error?.message).toMatch(/^m\.json: [^\n]+$/);
    }
  });

  it('names the field and what is wrong with it', () => {
    const say = (c: Omit<SchemaCase, 'description' | 'valid'>) => verdict(applyCase({ description: '', valid: false, ...c }))?.message;
    expect(say({ set: { '/keypoint_image': null } })).toBe('m.json: keypoint_image must be object');
    expect(say({ set: { '/attribute_classes': 'hair,hat' } })).toBe('m.json: attribute_classes must be array');
    expect(say({ set: { '/graphs/unet/file': '' } })).toBe('m.json: graphs.unet.file must match pattern "^[A-Za-z0-9_.-]+\\.onnx(?!\\n)$"');
    expect(say({ set: { '/face_template': [0.5, 0.5] } })).toBe('m.json: face_template must NOT have fewer than 136 items');
    expect(say({ remove: ['/graphs/unet'] })).toBe('m.json: graphs.unet is missing');
    expect(say({ set: { '/guidance_scale': 4 } })).toBe('m.json: manifest has an unknown field "guidance_scale"');
    expect(say({ set: { '/format_version': 7 } })).toBe('m.json: manifest format_version 7 is not supported (this durian reads 1)');
  });

  it('fills in the schema\'s defaults', () => {
    const m = validateManifest(parseBase(), 'm.json');
    expect(m.defaults).toEqual({ guidance_scale: 5, eta: 1, noise_correlation: 0.9 }); // durian-synth's, chosen on the validation split
    expect(validateManifest(applyCase({ description: '', valid: true, remove: ['/defaults'] }), 'm.json').defaults)
      .toEqual({ guidance_scale: 4, eta: 0, noise_correlation: 0 });
    expect(validateManifest(applyCase({ description: '', valid: true, set: { '/defaults': { eta: 1 } } }), 'm.json').defaults)
      .toEqual({ guidance_scale: 4, eta: 1, noise_correlation: 0 });
    expect(validateManifest(applyCase({ description: '', valid: true, set: { '/defaults': { guidance_scale: 2.5 } } }), 'm.json')
      .defaults.guidance_scale).toBe(2.5);
  });

  it('fuzzed: 10,000 documents never crash the validator, and errors map to exit codes 0–3', () => {
    const json = fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json>;
    const shipped = parseBase();
    const paths = (doc: unknown, prefix = ''): string[] => {
      if (typeof doc !== 'object' || doc === null) return [];
      return Object.entries(doc).flatMap(([k, v]) => [`${prefix}/${k}`, ...paths(v, `${prefix}/${k}`)]);
    };
    /** `doc` with the value at `pointer` replaced (undefined: removed), copying only the objects on the way. */
    const edit = (doc: unknown, parts: string[], value: Json | undefined): unknown => {
      const [head, ...rest] = parts;
      if (head === undefined) return value;
      const copy: Record<string, unknown> | unknown[] = Array.isArray(doc) ? [...(doc as unknown[])] : { ...(doc as Record<string, unknown>) };
      const child = rest.length ? edit((copy as Record<string, unknown>)[head], rest, value) : value;
      if (child === undefined && Array.isArray(copy)) copy.splice(Number(head), 1);
      else if (child === undefined) delete (copy as Record<string, unknown>)[head];
      else (copy as Record<string, unknown>)[head] = child;
      return copy;
    };
    // a whole arbitrary document, or the shipped manifest with one field replaced or removed
    const doc = fc.oneof(
      json,
      fc.tuple(fc.constantFrom(...paths(shipped)), fc.option(json, { nil: undefined }))
        .map(([pointer, value]) => edit(shipped, pointer.slice(1).split('/'), value)),
    );
    let accepted = 0;
    fc.assert(
      fc.property(doc, (d) => {
        let code: number = 0;
        const lines: string[] = [];
        try {
          // (validateManifest fills `defaults` in: into the copied top level, never into `shipped`)
          const m = validateManifest(d, 'm.json');
          accepted++;
          // what the pipeline reads without further checks
          if (m.resolution.length !== 2 || m.face_template.length !== 136 || typeof m.defaults.guidance_scale !== 'number'
            || m.graphs.unet.inputs.length === 0) return false;
        } catch (error) {
          code = handleError(error, (l) => lines.push(l));
          if (!(error instanceof ModelFileError) || !/^durian: error: m\.json: [^\n]+$/.test(lines[0] ?? '')) return false;
        }
        return [0, 1, 2, 3].includes(code);
      }),
      { numRuns: 10_000, seed: 21 },
    );
    // the mutations reach both sides: some documents pass (a default or optional field changed)
    expect(accepted).toBeGreaterThan(0);
  });
});
