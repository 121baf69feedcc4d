#!/usr/bin/env node
/**
 * The UNet alone, as a denoising loop calls it, through onnxruntime-node (plain) and through ONNX
 * Runtime's C API with IOBinding (capi; capi-graph: captured as a CUDA graph on cuda) — src/onnx/capi.ts.
 * Every binding gets the same fixed-shape graph and feeds; each timed call has a new `sample` and
 * `timestep` (as each sampler step has) and the same reference and pose features (as the
 * windows of one call group have from step to step). Prints ms per call, the outputs' largest
 * difference from the first variant's, and with --json the figures as JSON. --attention
 * exported,fused times each binding with the attention as exported and fused (onnx/fuse-attention.ts,
 * head sizes padded to 8 on GPU providers for CUDA's fused kernels), e.g. on a float16 UNet.
 * --precision float32,float16 times the UNet as its file has it (float32) and converted to float16 at
 * load time (onnx/half.ts, then fused if asked), as the CLI's --precision float16 makes it.
 * Usage: node bench/bound-unet.js [--model models/durian-synth] [--provider cpu] [--batch 2]
 *          [--frames 16] [--runs 20] [--binding plain,capi,capi-graph] [--attention exported]
 *          [--precision float32] [--json]   (npm run build first)
 */
'use strict';
const path = require('node:path');

const { ROOT, arg, graphFeeds } = require('./common');

const { SessionSet } = require(path.join(ROOT, 'dist/onnx/session-set'));
const { convertToFloat16, describeFloat16Report } = require(path.join(ROOT, 'dist/onnx/half'));

async function main() {
  const model = path.resolve(arg('model', path.join(ROOT, 'models/durian-synth')));
  const provider = arg('provider', 'cpu');
  const sizes = { batch: +arg('batch', '2'), frames: +arg('frames', '16'), groups: 1, attributes: 1 };
  const runs = +arg('runs', '20');
  const bindings = arg('binding', provider === 'cuda' ? 'plain,capi,capi-graph' : 'plain,capi').split(',');
  const attentions = arg('attention', 'exported').split(',');
  const bad = attentions.find((a) => a !== 'exported' && a !== 'fused');
  if (bad) throw new Error(`--attention takes exported and/or fused, not ${bad}`);
  const json = process.argv.includes('--json');
  const precisions = arg('precision', 'float32').split(',');
  const badPrecision = precisions.find((p) => p !== 'float32' && p !== 'float16');
  if (badPrecision) throw new Error(`--precision takes float32 (the file as it is) and/or float16, not ${badPrecision}`);
  // the float16 UNet, made once (as DurianPipeline.fromModelDir makes it for --precision float16)
  let half;
  if (precisions.includes('float16')) {
    const { readFileSync } = require('node:fs');
    const manifest = JSON.parse(readFileSync(path.join(model, 'manifest.json'), 'utf8'));
    const t0 = performance.now();
    half = convertToFloat16(new Uint8Array(readFileSync(path.join(model, manifest.graphs.unet.file))));
    half.ms = performance.now() - t0;
    if (!json) console.log(`float16 UNet made in ${half.ms.toFixed(0)} ms: ${describeFloat16Report(half.report)}`);
  }
  const { feeds } = graphFeeds(model, 'unet', sizes);
  // the samples of the timed calls, made before timing
  const samples = Array.from({ length: runs }, (_, k) => ({ data: feeds.sample.data.map((v) => v * (1 - k / (2 * runs))), dims: feeds.sample.dims }));
  const results = [];
  let first;
  for (const [precision, attention, binding] of precisions.flatMap((p) => attentions.flatMap((a) => bindings.map((b) => [p, a, b])))) {
    const ioBinding = binding === 'plain' ? undefined : { graphs: ['unet'], cudaGraph: binding === 'capi-graph' };
    const fuse = attention === 'fused'
      ? { fuseAttention: ['unet'], fuseAttentionOptions: { padHeadTo: provider === 'cpu' ? 1 : 8 } } : {};
    const bytes = precision === 'float16' ? { graphBytes: { unet: half.model } } : {};
    const t0 = performance.now();
    const set = await SessionSet.create(model, { executionProviders: [provider], graphs: ['unet'], fixedShapes: ['unet'], ioBinding, ...fuse, ...bytes });
    await set.prepare('unet', feeds);
    const loadMs = performance.now() - t0;
    const call = (sample, t) => set.run('unet', { ...feeds, sample, timestep: { data: new Float32Array(sizes.batch).fill(t), dims: [sizes.batch] } });
    // warm-up: the plain first run of the shape (bound sessions learn their output shapes from it),
    // then the bound session's first runs (a CUDA graph is captured in these)
    const w0 = performance.now();
    for (let i = 0; i < 4; i++) await call(feeds.sample, 500);
    const warmMs = performance.now() - w0;
    const check = (await call(feeds.sample, 500)).out_sample.data;
    const t = performance.now();
    for (let k = 0; k < runs; k++) await call(samples[k], 900 - k * 40);
    const ms = (performance.now() - t) / runs;
    const last = (await call(samples[runs - 1], 900 - (runs - 1) * 40)).out_sample.data;
    const bound = set.boundGraphs().unet;
    const fused = set.fusedAttention().unet ?? 0;
    await set.release();
    first ??= { check, last };
    let maxAbs = 0;
    for (let i = 0; i < check.length; i++) maxAbs = Math.max(maxAbs, Math.abs(check[i] - first.check[i]), Math.abs(last[i] - first.last[i]));
    results.push({ precision, attention, fused_blocks: fused, binding, ms_per_call: +ms.toFixed(2), load_ms: Math.round(loadMs), warmup_ms: Math.round(warmMs), max_abs_diff: maxAbs,
      bound: bound ? { made: bound.made, failed: bound.failed } : undefined });
  }
  const os = require('node:os');
  const report = { provider, model, sizes, runs, cpus: os.cpus().length,
    ...(half ? { float16: { conversion_ms: Math.round(half.ms), ...half.report } } : {}), results };
  if (json) {
    console.log(JSON.stringify(report, null, 1));
    return;
  }
  console.log(`UNet on ${provider}, batch ${sizes.batch} × ${sizes.frames} frames, ${runs} timed calls (${model})`);
  for (const r of results) {
    const name = `${r.precision} ${r.attention === 'fused' ? `fused(${r.fused_blocks}) ` : ''}${r.binding}`;
    console.log(`${name.padEnd(29)} ${r.ms_per_call.toFixed(2).padStart(9)} ms per call   load ${r.load_ms} ms, warm-up ${r.warmup_ms} ms, `
      + `max |Δ| vs the first ${r.max_abs_diff.toExponential(2)}`
      + (r.bound && Object.keys(r.bound.failed).length ? `; NOT BOUND: ${JSON.stringify(r.bound.failed)}` : ''));
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
