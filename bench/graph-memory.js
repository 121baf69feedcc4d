#!/usr/bin/env node
/**
 * One graph of a model alone on the CPU provider, in this process: its RSS after session creation
 * and after each run, seconds per run, and (for the UNet) the attention rewrite. Run each
 * configuration in its own process: peak RSS is per process.
 *
 *   node bench/graph-memory.js --graph unet [--model models/durian-synth] [--batch 1] [--frames 16]
 *     [--runs 3] [--chunk 8,64]        attention in pieces (pieces,minRows; src/onnx/chunk-attention.ts)
 *     [--options '{"enableMemPattern":false}']   ORT session options
 *
 * Inputs are deterministic (sin of the index), shapes fixed as the pipeline fixes them (--batch,
 * --frames; groups and attributes 1). `npm run build` first.
 */
'use strict';
const { readFileSync } = require('node:fs');
const path = require('node:path');

const { ROOT, arg } = require('./common');

const ort = require(path.join(ROOT, 'node_modules/onnxruntime-node'));
const { fixInputDims } = require(path.join(ROOT, 'dist/onnx/fix-dims'));
const { chunkAttention } = require(path.join(ROOT, 'dist/onnx/chunk-attention'));
const { fuseAttention } = require(path.join(ROOT, 'dist/onnx/fuse-attention'));

const mb = (bytes) => Math.round(bytes / 2 ** 20);

async function main() {
  const dir = path.resolve(arg('model', path.join(ROOT, 'models/durian-synth')));
  const graph = arg('graph', 'unet');
  const options = JSON.parse(arg('options', '{}'));
  const entry = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')).graphs[graph];
  const dims = { batch: +arg('batch', '1'), frames: +arg('frames', '16'), groups: 1, attributes: 1 };
  let bytes = fixInputDims(new Uint8Array(readFileSync(path.join(dir, entry.file))), dims);
  let blocks = 0;
  let fused = 0;
  if (process.argv.includes('--fuse')) ({ model: bytes, blocks: fused } = fuseAttention(bytes));
  if (arg('chunk')) {
    const [pieces, minRows] = arg('chunk').split(',').map(Number);
    ({ model: bytes, blocks } = chunkAttention(bytes, { pieces, minRows }));
  }
  const before = mb(process.memoryUsage().rss);
  const session = await ort.InferenceSession.create(bytes, { logSeverityLevel: 3, executionProviders: ['cpu'], ...options });
  const created = mb(process.memoryUsage().rss);
  const feeds = {};
  for (const input of entry.inputs) {
    const shape = input.shape.map((d) => (typeof d === 'number' ? d : dims[d]));
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1)).map((_, k) => Math.sin(k) * 0.5);
    feeds[input.name] = new ort.Tensor('float32', data, shape);
  }
  const runs = [];
  for (let r = 0; r < +arg('runs', '3'); r++) {
    const t = performance.now();
    await session.run(feeds);
    runs.push(`${((performance.now() - t) / 1000).toFixed(2)} s / ${mb(process.memoryUsage().rss)} MB`);
  }
  await session.release();
  console.log(`${graph} batch ${dims.batch} frames ${dims.frames} ${JSON.stringify(options)}${fused ? `, ${fused} attention blocks fused` : ''}`
    + `${blocks ? `, ${blocks} attention blocks in pieces ${arg('chunk')}` : ''}`);
  console.log(`  RSS ${before} MB -> ${created} MB after session creation; runs (time / RSS after): ${runs.join(', ')}`);
  console.log(`  peak RSS ${mb(process.resourceUsage().maxRSS * 1024)} MB`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
