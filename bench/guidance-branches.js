#!/usr/bin/env node
/**
 * The UNet's two guidance branches as one call of batch 2 or as two calls of batch 1, each mode in
 * its own process (peak RSS is per process): the README's example job through the public API
 * (dist/index.js: loadModel, animate with splitBranches) on the CPU provider with
 * models/durian-synth. Prints UNet seconds, job seconds (input checks included, as in the CLI),
 * peak RSS and whether the frames match.
 * Usage: node bench/guidance-branches.js [--frames 16] [--steps 4]  (npm run build first)
 */
'use strict';
const { execFileSync } = require('node:child_process');
const { readdirSync, readFileSync } = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const { ROOT, arg } = require('./common');

async function child(mode, frames, steps, out) {
  const { animate, loadModel } = require(path.join(ROOT, 'dist/index.js'));
  const model = await loadModel(path.join(ROOT, 'models/durian-synth'), { provider: 'cpu' });
  const spec = { identity: path.join(ROOT, 'examples/identity-1.png'), attributes: [{ image: path.join(ROOT, 'examples/attr-hair-1.png'), class: 'hair' }],
    guide: path.join(ROOT, 'examples/drive-talking.mp4'), frames: Number(frames), steps: Number(steps), output: `${out}/`, overwrite: true,
    splitBranches: mode === 'split' };
  const t = performance.now();
  const r = await animate(model, spec);
  await model.release();
  process.stdout.write(JSON.stringify({ unet_s: r.timings.unet / 1000, total_s: (performance.now() - t) / 1000,
    rss_mb: process.resourceUsage().maxRSS / 1024 }));
}

function main() {
  const frames = arg('frames', '16'), steps = arg('steps', '4');
  const base = path.join(os.tmpdir(), `durian-branches-${process.pid}`);
  const res = {};
  for (const mode of ['batched', 'split']) {
    res[mode] = JSON.parse(execFileSync(process.execPath, [__filename, '--child', mode, '--frames', frames, '--steps', steps, '--out', `${base}-${mode}`],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }));
  }
  const files = readdirSync(`${base}-batched`).sort();
  const same = files.every((f) => readFileSync(path.join(`${base}-batched`, f)).equals(readFileSync(path.join(`${base}-split`, f))));
  console.log(`${frames} frames, ${steps} steps, ${os.cpus().length} CPUs (${os.cpus()[0].model}), CPU provider`);
  for (const [mode, r] of Object.entries(res)) {
    console.log(`${mode.padEnd(8)} UNet ${r.unet_s.toFixed(2)} s, job ${r.total_s.toFixed(2)} s, peak RSS ${Math.round(r.rss_mb)} MB`);
  }
  console.log(`UNet speed-up ${(res.batched.unet_s / res.split.unet_s).toFixed(2)}x; output PNGs identical: ${same}`);
}

if (process.argv.includes('--child')) {
  child(arg('child'), arg('frames'), arg('steps'), arg('out')).catch((e) => {
    console.error(e);
    process.exit(1);
  });
} else {
  main();
}
