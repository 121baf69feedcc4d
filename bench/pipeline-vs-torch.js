#!/usr/bin/env node
/**
 * TypeScript pipeline (onnxruntime-node, CPU) vs the PyTorch reference sampler (eager, CPU), same
 * weights, case, frames, steps and initial noise, on this machine. Prints per-stage seconds and the
 * speed ratio. Usage: node bench/pipeline-vs-torch.js [--config tools/export/configs/base.json]
 *   [--frames 8] [--steps 10] [--out /tmp/durian-bench]   (run `npm run build` first)
 */
'use strict';
const { execFileSync } = require('node:child_process');
const { readFileSync } = require('node:fs');
const path = require('node:path');
const os = require('node:os');

const ROOT = path.resolve(__dirname, '..');
const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : def;
};

async function main() {
  const config = path.resolve(arg('config', path.join(ROOT, 'tools/export/configs/base.json')));
  const out = path.resolve(arg('out', path.join(os.tmpdir(), 'durian-bench')));
  const frames = arg('frames', '8');
  const steps = arg('steps', '10');
  const python = path.join(ROOT, 'tools/export/.venv/bin/python');
  execFileSync(python, ['-m', 'durian_export.bench_sampler', '--config', config, '--out', out, '--frames', frames, '--steps', steps],
    { cwd: path.join(ROOT, 'tools/export'), stdio: ['ignore', 'ignore', 'inherit'] });
  const torch = JSON.parse(readFileSync(path.join(out, 'torch.json'), 'utf8'));

  const { DurianPipeline } = require(path.join(ROOT, 'dist/pipeline/durian-pipeline.js'));
  const c = JSON.parse(readFileSync(path.join(out, 'case.json'), 'utf8'));
  const t0 = performance.now();
  const p = await DurianPipeline.fromModelDir(path.join(out, 'model'), { executionProviders: ['cpu'] });
  const loadMs = performance.now() - t0;
  const inputs = {
    portrait: { image: Float32Array.from(c.portrait), mask: Float32Array.from(c.portrait_mask) },
    attributes: [{ image: Float32Array.from(c.attr), mask: Float32Array.from(c.attr_mask) }],
    groups: [[0]], weights: new Float32Array(c.frames).fill(1), poseImages: c.pose.map((x) => Float32Array.from(x)),
  };
  const opts = { numInferenceSteps: c.steps, guidanceScale: c.guidance_scale, seed: 0, scheduler: 'ddim',
    window: c.window, overlap: c.overlap, latents: Float32Array.from(c.latents) };
  await p.run(inputs, { ...opts, numInferenceSteps: 1 }); // warm-up
  const t1 = performance.now();
  const r = await p.run(inputs, opts);
  const total = (performance.now() - t1) / 1000;
  await p.release();
  const ts = r.timings;
  const row = (name, a, b) => console.log(`${name.padEnd(22)} ${a.toFixed(2).padStart(9)} ${b.toFixed(2).padStart(9)}`);
  console.log(`frames ${c.frames}, steps ${c.steps}, CFG on, ${os.cpus().length} CPUs (${os.cpus()[0].model}); torch threads ${torch.threads}`);
  console.log(`${'stage (s)'.padEnd(22)} ${'PyTorch'.padStart(9)} ${'TS/ORT'.padStart(9)}`);
  row('references', torch.references_s, (ts.references ?? 0) / 1000);
  row('pose + denoise', torch.denoise_s, ((ts.pose ?? 0) + (ts.unet ?? 0)) / 1000);
  row('decode', torch.decode_s, (ts.decode ?? 0) / 1000);
  row('total', torch.total_s, total);
  console.log(`TS session load: ${(loadMs / 1000).toFixed(2)} s (not in the totals)`);
  console.log(`frames/s: PyTorch ${(c.frames / torch.total_s).toFixed(3)}, TS ${(c.frames / total).toFixed(3)}, TS/PyTorch speed ratio ${(torch.total_s / total).toFixed(2)}x`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
