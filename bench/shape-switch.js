#!/usr/bin/env node
/**
 * What one session costs when consecutive runs change the input shape: the pose guider fed its
 * 16-frame chunk and the 1-frame blank in turn (as a generation does), after a PRNet call, five
 * rounds, on one dynamic-shape session set (fixedShapes off). Prints ms per call.
 * Usage: node bench/shape-switch.js MODEL_DIR [--provider cuda] [--case tmp/bench/case.json]
 *   (the case from bench/pipeline-vs-torch.js; npm run build first)
 */
'use strict';
const { readFileSync } = require('node:fs');
const path = require('node:path');

const { ROOT, arg } = require('./common');

(async () => {
  const { DurianPipeline } = require(path.join(ROOT, 'dist/pipeline/durian-pipeline.js'));
  const c = JSON.parse(readFileSync(path.resolve(arg('case', 'tmp/bench/case.json')), 'utf8'));
  const p = await DurianPipeline.fromModelDir(path.resolve(process.argv[2]), { executionProviders: [arg('provider', 'cuda')], fixedShapes: false });
  const imgs = c.pose.map((x) => Float32Array.from(x));
  const ref = { image: Float32Array.from(c.portrait), mask: Float32Array.from(c.portrait_mask) };
  const blank = [new Float32Array(imgs[0].length)];
  const t = async (f) => {
    const t0 = performance.now();
    await f();
    return (performance.now() - t0).toFixed(1);
  };
  for (let i = 0; i < 5; i++) {
    const a = await t(() => p.forwardReferenceNet('prnet', ref));
    const b = await t(() => p.forwardPoseGuider(imgs));
    const d = await t(() => p.forwardPoseGuider(blank));
    const e = await t(() => p.forwardPoseGuider(blank));
    const f = await t(() => p.forwardPoseGuider(imgs));
    console.log(`prnet ${a} ms, pose ${imgs.length} frames ${b}, blank ${d}, blank again ${e}, ${imgs.length} frames again ${f}`);
  }
  await p.release();
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
