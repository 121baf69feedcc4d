/**
 * The CLI's automatic analyser choice on real files with the shipped models: synthetic examples go
 * to the model's parser, real photographs to the face front end (docs/face.md).
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';

import { FaceFrontEnd } from '../../src/face/front-end';
import { readImage } from '../../src/media/image';
import { alignPortrait } from '../../src/pipeline/analysis';
import { DurianPipeline } from '../../src/pipeline/durian-pipeline';

const ROOT = path.resolve(__dirname, '..', '..');
let pipeline: DurianPipeline;
let face: FaceFrontEnd;

beforeAll(async () => {
  pipeline = await DurianPipeline.fromModelDir(path.join(ROOT, 'models', 'durian-synth'), { executionProviders: ['cpu'] });
  face = await FaceFrontEnd.fromModelDir();
}, 60_000);

afterAll(async () => {
  await pipeline?.release();
  await face?.release();
});

const analyse = async (file: string) => alignPortrait(pipeline, await readImage(path.join(ROOT, file)), {}, { analyser: 'auto', face: () => Promise.resolve(face) });

const SYNTHETIC = readdirSync(path.join(ROOT, 'examples')).filter((f) => /^(identity|attr)-[a-z0-9-]+\.png$/.test(f) && !f.includes('.mask-'));

it('finds the 11 synthetic examples', () => expect(SYNTHETIC).toHaveLength(11));

it.each(SYNTHETIC.map((f) => `examples/${f}`))('%s (synthetic) goes to the parser', async (file) => {
  const a = await analyse(file);
  expect(a.domain?.domain).toBe('synthetic');
  expect([a.keypointSource, a.maskSource]).toEqual(['parser', 'parser']);
}, 30_000);

it.each(['examples/real/astronaut.png', 'examples/real/grace_hopper.jpg'])('%s (real) goes to the face front end', async (file) => {
  const a = await analyse(file);
  expect(a.domain?.domain).toBe('real');
  expect([a.keypointSource, a.maskSource]).toEqual(['face', 'face']);
  // aligned to the model's template: the eyes land near the template's eyes
  const t = pipeline.manifest.face_template;
  expect(Math.abs(a.keypoints[72]! - t[72] * pipeline.width)).toBeLessThan(0.05 * pipeline.width);
  expect(a.masks.face!.reduce((s, v) => s + v, 0)).toBeGreaterThan(0.05 * pipeline.width * pipeline.height);
}, 30_000);

it('--analyser parser and face force one analyser', async () => {
  const img = await readImage(path.join(ROOT, 'examples/real/astronaut.png'));
  expect((await alignPortrait(pipeline, img, {}, { analyser: 'parser', face: () => Promise.resolve(face) })).keypointSource).toBe('parser');
  const synth = await readImage(path.join(ROOT, 'examples/identity-1.png'));
  expect((await alignPortrait(pipeline, synth, {}, { analyser: 'face', face: () => Promise.resolve(face) })).keypointSource).toBe('face');
  await expect(alignPortrait(pipeline, synth, {}, { analyser: 'face', face: () => Promise.resolve(undefined) })).rejects.toThrow(/models\/face/);
}, 30_000);
