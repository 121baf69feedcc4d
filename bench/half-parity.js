#!/usr/bin/env node
/**
 * A float16 UNet against the float32 one on one provider: the model's UNet converted at load time
 * (`--precision float16`, onnx/half.ts), or with --half a float16 variant written by `python -m
 * durian_export.half`; the same generation case (a case.json written by bench/pipeline-vs-torch.js),
 * one warm-up then one timed run of each, both guidance layouts; prints frames/s and how far the
 * float16 frames are from the float32 ones (PSNR over [0, 1] pixels, max |Δ|). The float32 side is
 * --model with --precision float32. On the CPU provider most float16 nodes run as float32, so the
 * timing means something on GPU providers.
 * Usage: node bench/half-parity.js --model DIR [--half DIR] --case tmp/bench/case.json [--provider cuda]
 */
'use strict';
const { readFileSync } = require('node:fs');
const path = require('node:path');

const { ROOT, arg, caseRun } = require('./common');

async function generate(dir, provider, c, precision) {
  const { DurianPipeline } = require(path.join(ROOT, 'dist/pipeline/durian-pipeline.js'));
  const p = await DurianPipeline.fromModelDir(path.resolve(dir), { executionProviders: [provider], precision });
  const { inputs, opts } = caseRun(c);
  const out = { unet: p.unetPrecision, fused: p.sessions.fusedAttention().unet ?? 0 };
  try {
    for (const split of [false, true]) {
      await p.run(inputs, { ...opts, splitBranches: split, numInferenceSteps: 1 });
      const t = performance.now();
      const r = await p.run(inputs, { ...opts, splitBranches: split });
      out[split ? 'split' : 'batched'] = { s: (performance.now() - t) / 1000, frames: r.frames };
    }
  } finally {
    await p.release();
  }
  return out;
}

function compare(a, b) {
  let se = 0, n = 0, max = 0;
  a.forEach((f, i) => f.forEach((v, k) => {
    const d = v - b[i][k];
    se += d * d;
    n++;
    max = Math.max(max, Math.abs(d));
  }));
  return { psnr: 10 * Math.log10(1 / (se / n)), max };
}

async function main() {
  const provider = arg('provider', 'cuda');
  const c = JSON.parse(readFileSync(path.resolve(arg('case', 'tmp/bench/case.json')), 'utf8'));
  const full = await generate(arg('model'), provider, c, 'float32');
  const half = arg('half') ? await generate(arg('half'), provider, c, 'auto') : await generate(arg('model'), provider, c, 'float16');
  console.log(`${c.frames} frames, ${c.steps} steps, provider ${provider}`);
  for (const [k, r] of [['float32', full], ['float16', half]]) {
    console.log(`${k}: UNet ${r.unet.precision} (${r.unet.reason})${r.unet.conversion ? `, ${r.unet.conversion}` : ''}; attention blocks fused: ${r.fused}`);
  }
  for (const k of ['batched', 'split']) {
    const d = compare(half[k].frames, full[k].frames);
    console.log(`${k.padEnd(8)} float32 ${(c.frames / full[k].s).toFixed(2)} frames/s, float16 ${(c.frames / half[k].s).toFixed(2)} frames/s; `
      + `float16 vs float32 frames: PSNR ${d.psnr.toFixed(2)} dB, max |Δ| ${d.max.toExponential(2)}`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
