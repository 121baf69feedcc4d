/**
 * Property-based fuzzing of the batch JSONL reader (fast-check): whatever the file holds, reading
 * it never throws, every non-blank, non-comment line becomes a job or a typed error with exit
 * code 2 or 3, and the batch's exit code is 0 or 1. A few generated files also go through the
 * real CLI, which must exit 0, 1, 2 or 3 with no stack trace.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import fc from 'fast-check';

import { getBatchExitCode, JOB_FIELDS, readJobLines, type Outcome } from '../../../src/cli/commands/batch';
import { getExitCode } from '../../../src/cli/exit-codes';
import { DurianError } from '../../../src/errors';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const BASE = '/jobs';

/** Values a job field might hold: JSON of any shape, and plausible flag strings and numbers. */
const fieldValue = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom('a.png', 'a.png:hair', 'x.png:scarf', 'g.json', 'out.mp4', 'out/', '0:1', '1.5', '-1', '', ' ', 'NaN', '1e999', 'ddim', 'euler', 'auto', 'face'),
  fc.integer({ min: -5, max: 1e6 }),
  fc.double(),
  fc.array(fc.constantFrom('a.png:hair', 'b.png', null, 3), { maxLength: 3 }),
);
const fieldName = fc.oneof(fc.constantFrom(...JOB_FIELDS), fc.constantFrom('attr-mask', 'guidance-scale', 'identity-keypoints', 'Identity', '__proto__', 'constructor'), fc.string({ maxLength: 8 }));
const jobObject = fc.dictionary(fieldName, fieldValue, { maxKeys: 12 }).map((o) => JSON.stringify(o));
/** Complete jobs with some fields overwritten by fuzz: many of them resolve. */
const nearlyGoodJob = fc.dictionary(fieldName, fieldValue, { maxKeys: 3 })
  .map((o) => JSON.stringify({ identity: 'id.png', attr: 'a.png:hair', guide: 'g.json', output: 'o.mp4', ...o }));
const line = fc.oneof(
  jobObject,
  nearlyGoodJob,
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? 'null'),
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom('', '   ', '# comment', 'null', '[]', '{}', '{"identity":', '\u0000', '\r', '{"command":"interpolate"}'),
);
const file = fc.tuple(fc.array(line, { maxLength: 8 }), fc.constantFrom('\n', '\r\n')).map(([lines, eol]) => lines.join(eol));
const shard = fc.integer({ min: 1, max: 4 }).chain((n) => fc.tuple(fc.integer({ min: 1, max: n }), fc.constant(n)));

function countJobLines(text: string): number {
  return text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#')).length;
}

describe('batch JSONL reader (fuzzed)', () => {
  it('never throws; each line is a job or a usage/input error; the batch exits 0 or 1 (10,000 cases)', () => {
    const seen = { ok: 0, failed: 0 };
    fc.assert(
      fc.property(file, shard, (text, [si, sn]) => {
        const jobs = readJobLines(text, BASE, [si, sn]);
        const all = countJobLines(text);
        // the shard takes every sn-th line starting at si − 1
        if (jobs.length !== Math.max(0, Math.ceil((all - (si - 1)) / sn))) throw new Error(`${jobs.length} jobs from ${all} lines, shard ${si}/${sn}`);
        const outcomes: Outcome[] = jobs.map((j) => {
          if ('error' in j) {
            const code = getExitCode(j.error);
            if (!(j.error instanceof DurianError) || (code !== 2 && code !== 3)) throw new Error(`line ${j.line}: untyped error ${String(j.error)}`);
            seen.failed++;
            return { line: j.line, status: 'failed', exitCode: code };
          }
          const s = j.spec;
          const sound = typeof s.identity === 'string' && path.isAbsolute(s.identity) && path.isAbsolute(s.output) && typeof s.guide === 'string'
            && Number.isInteger(s.steps) && s.steps > 0 && s.overlap < s.window && s.attributes.length > 0
            && (s.frames === undefined || (Number.isInteger(s.frames) && s.frames > 0))
            // unset: the model's manifest supplies the default guidance scale
            && (s.guidanceScale === undefined || (Number.isFinite(s.guidanceScale) && s.guidanceScale >= 0 && s.guidanceScale <= 50));
          if (!sound) throw new Error(`line ${j.line}: an unsound job ${JSON.stringify(s)}`);
          seen.ok++;
          return { line: j.line, status: 'ok' };
        });
        const code = getBatchExitCode(outcomes);
        return code === 0 || code === 1;
      }),
      { numRuns: 10_000, seed: 20 },
    );
    // both branches were exercised, many times
    expect(seen.ok).toBeGreaterThan(500);
    expect(seen.failed).toBeGreaterThan(1000);
  });

  it('job lines of the right shape resolve, with paths relative to the jobs file', () => {
    const text = JSON.stringify({ identity: 'id.png', attr: ['a.png:hair'], 'attr-mask': 'm.png', guide: 'g.json', output: 'o/', 'guidance-scale': 3 });
    const [job] = readJobLines(text, BASE);
    expect(job).toMatchObject({ line: 1, spec: { identity: '/jobs/id.png', attributes: [{ image: '/jobs/a.png', class: 'hair', mask: '/jobs/m.png' }], output: '/jobs/o/', guidanceScale: 3 } });
  });
});

describe('durian batch on fuzzed files (spawned)', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'durian-fuzz-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('exits 0, 1, 2 or 3 with no stack trace (20 files)', () => {
    const files = fc.sample(file, { numRuns: 20, seed: 7 });
    for (const [i, text] of files.entries()) {
      const jobs = path.join(dir, `f${i}.jsonl`);
      writeFileSync(jobs, text);
      const r = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'durian.js'), 'batch', jobs, '--model', path.join(ROOT, 'test', 'fixtures', 'onnx-tiny'), '--provider', 'cpu'],
        { encoding: 'utf8', timeout: 120_000, cwd: dir });
      expect({ i, codeOk: [0, 1, 2, 3].includes(r.status ?? -1), trace: /\n\s+at /.test(r.stderr) }).toEqual({ i, codeOk: true, trace: false });
    }
  });
});
