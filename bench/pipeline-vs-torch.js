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

const { ROOT, arg } = require('./common');

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
  // the UNet's two guidance branches: one call of batch 2, or two calls of batch 1 (the CPU default)
  const runs = {};
  for (const split of [false, true]) {
    await p.run(inputs, { ...opts, splitBranches: split, numInferenceSteps: 1 }); // warm-up
    const t1 = performance.now();
    const r = await p.run(inputs, { ...opts, splitBranches: split });
    runs[split ? 'split' : 'batched'] = { r, total: (performance.now() - t1) / 1000, rssMb: process.resourceUsage().maxRSS / 1024 };
  }
  await p.release();
  let maxDiff = 0;
  runs.batched.r.frames.forEach((f, i) => f.forEach((v, k) => (maxDiff = Math.max(maxDiff, Math.abs(v - runs.split.r.frames[i][k])))));
  const row = (name, ...xs) => console.log(`${name.padEnd(22)} ${xs.map((x) => x.toFixed(2).padStart(11)).join(' ')}`);
  const sec = (ms) => (ms ?? 0) / 1000;
  const b = runs.batched, s = runs.split;
  console.log(`frames ${c.frames}, steps ${c.steps}, CFG on, ${os.cpus().length} CPUs (${os.cpus()[0].model}); torch threads ${torch.threads}`);
  console.log(`${'stage (s)'.padEnd(22)} ${'PyTorch'.padStart(11)} ${'TS batched'.padStart(11)} ${'TS split'.padStart(11)}`);
  row('references', torch.references_s, sec(b.r.timings.references), sec(s.r.timings.references));
  row('pose + denoise', torch.denoise_s, sec(b.r.timings.pose) + sec(b.r.timings.unet), sec(s.r.timings.pose) + sec(s.r.timings.unet));
  row('decode', torch.decode_s, sec(b.r.timings.decode), sec(s.r.timings.decode));
  row('total', torch.total_s, b.total, s.total);
  console.log(`TS session load: ${(loadMs / 1000).toFixed(2)} s (not in the totals); peak RSS after batched ${Math.round(b.rssMb)} MB, after split ${Math.round(s.rssMb)} MB (the process peak only grows)`);
  console.log(`batched vs split frames: max |Δ| ${maxDiff.toExponential(2)}`);
  console.log(`frames/s: PyTorch ${(c.frames / torch.total_s).toFixed(3)}, TS batched ${(c.frames / b.total).toFixed(3)}, TS split ${(c.frames / s.total).toFixed(3)}; `
    + `TS/PyTorch speed ratio ${(torch.total_s / b.total).toFixed(2)}x batched, ${(torch.total_s / s.total).toFixed(2)}x split`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
