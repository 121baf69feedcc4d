#!/usr/bin/env node
/**
 * One graph (default the UNet) with its symbolic dimensions (batch, frames, groups, attributes) left
 * free or fixed to the fed sizes (src/onnx/fix-dims.ts), on one provider: the same random feeds, one warm-up run,
 * then timed runs of each; prints ms per call and the largest output difference.
 * Usage: node bench/fixed-shapes.js [--model models/durian-synth] [--graph unet] [--provider cpu] [--batch 1]
 *          [--frames 16] [--runs 10]   (npm run build first)
 */
'use strict';
const path = require('node:path');

const { ROOT, arg, graphFeeds } = require('./common');

const { SessionSet } = require(path.join(ROOT, 'dist/onnx/session-set'));

async function main() {
  const model = path.resolve(arg('model', path.join(ROOT, 'models/durian-synth')));
  const provider = arg('provider', 'cpu');
  const graph = arg('graph', 'unet');
  const sizes = { batch: +arg('batch', '1'), frames: +arg('frames', '16'), groups: 1, attributes: 1 };
  const runs = +arg('runs', '10');
  const { feeds } = graphFeeds(model, graph, sizes);
  const results = {};
  for (const mode of ['dynamic', 'fixed']) {
    const t0 = performance.now();
    const set = await SessionSet.create(model, { executionProviders: [provider], graphs: [graph], fixedShapes: mode === 'fixed' ? [graph] : [] });
    await set.prepare(graph, feeds);
    const load = performance.now() - t0;
    const out = Object.values(await set.run(graph, feeds))[0]; // warm-up
    const t = performance.now();
    for (let i = 0; i < runs; i++) await set.run(graph, feeds);
    results[mode] = { ms: (performance.now() - t) / runs, load_ms: load, out: out.data };
    await set.release();
  }
  let maxAbs = 0;
  for (let i = 0; i < results.dynamic.out.length; i++) maxAbs = Math.max(maxAbs, Math.abs(results.dynamic.out[i] - results.fixed.out[i]));
  const os = require('node:os');
  console.log(`${graph}, ${provider}, batch ${sizes.batch}, frames ${sizes.frames}, ${runs} timed runs after one warm-up; ${os.cpus().length} CPUs (${os.cpus()[0].model})`);
  for (const mode of ['dynamic', 'fixed']) {
    console.log(`${mode.padEnd(8)} ${results[mode].ms.toFixed(2)} ms/call (sessions made in ${results[mode].load_ms.toFixed(0)} ms)`);
  }
  console.log(`speed-up ${(results.dynamic.ms / results.fixed.ms).toFixed(2)}x; max |output difference| ${maxAbs.toExponential(2)}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
