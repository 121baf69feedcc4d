'use strict';
/**
 * What the denoising loop does between UNet calls, timed without a model: the step's noise
 * (eta > 0) and the array passes (guidance into the window sum, normalisation where windows
 * overlap, the DDIM update), on latents of the shipped model's size (16 channels, 32 × 32).
 *
 *   npm run build && node bench/step-work.js [--frames 16,256] [--steps 20] [--unet-ms-per-frame 0.5]
 *
 * Prints milliseconds a step: the noise made on this thread (randomNormal + correlateFrames), the
 * wait for it when NoiseAhead has made it on workers while the step ran (the pipeline's way), and
 * the passes. The UNet's calls are stood in for by an idle wait of --unet-ms-per-frame a step and
 * frame (0.5: the float16 UNet on one H200, 7.9 ms a 16-frame step; docs/performance.md), during
 * which the main thread does nothing, as it does while a GPU runs. Needs only dist/.
 */
const { ROOT, arg } = require('./common');
const path = require('node:path');
const os = require('node:os');

const d = (m) => require(path.join(ROOT, 'dist/pipeline', m));
const { addGuidedFrames } = d('guidance');
const { sliceFrames } = d('latents');
const { correlateFrames, randomNormal } = d('random');
const { NoiseAhead } = d('step-noise');
const { getWindowStarts, getWindowWeights } = d('windows');
const { createScheduler } = d('schedulers/index');

const C = 16, hw = 32 * 32, window = 16, overlap = 4, rho = 0.8;
// the shipped model's sampler (DDIM, ε, no clipping of x̂₀)
const schedulerConfig = JSON.parse(require('node:fs').readFileSync(path.join(ROOT, 'models/durian-synth/scheduler_config.json'), 'utf8'));

async function main() {
  const steps = +arg('steps', '20');
  const unetMsPerFrame = +arg('unet-ms-per-frame', '0.5');
  console.log(`${os.cpus().length} CPUs (${os.cpus()[0].model.trim()}); ${steps} steps; UNet stand-in ${unetMsPerFrame} ms a frame; ms a step, best of 3`);
  console.log('frames  noise here  noise waited for (workers)  array passes');
  for (const F of arg('frames', '16,256').split(',').map(Number)) {
    const n = C * F * hw;
    const starts = getWindowStarts(F, window, overlap);
    const win = Math.min(window, F);
    const ww = getWindowWeights(win, overlap);
    const norm = new Float32Array(F);
    for (const s of starts) for (let k = 0; k < win; k++) norm[s + k] += ww[k];
    const unit = norm.every((v) => v === 1);
    const pair = randomNormal(2 * C * win * hw, 2);  // stands for a window's [cond, uncond] prediction
    const best = { here: Infinity, waited: Infinity, passes: Infinity };
    for (let rep = 0; rep < 3; rep++) {
      const s = createScheduler('ddim', schedulerConfig);
      s.setTimesteps(steps);
      let t0 = performance.now();
      for (let i = 0; i < steps; i++) correlateFrames(randomNormal(n, i + 1), C, F, hw, rho);
      best.here = Math.min(best.here, (performance.now() - t0) / steps);
      // the loop's way: step i + 1's draw is asked for as step i starts, and waited for at its end
      const ahead = new NoiseAhead(C, F, hw, rho, (k) => k);
      ahead.request(1);
      let x = randomNormal(n, 0);
      let waited = 0, passes = 0;
      for (const [i, t] of s.timesteps.entries()) {
        if (i + 1 < steps) ahead.request(i + 2);
        await new Promise((resolve) => setTimeout(resolve, unetMsPerFrame * F));  // the UNet's calls
        t0 = performance.now();
        const acc = new Float32Array(n);
        for (const st of starts) {
          if (win !== F) sliceFrames(x, C, F, hw, st, win);
          addGuidedFrames(acc, pair, 5, C, F, hw, st, win, ww);
        }
        if (!unit) {
          for (let c = 0; c < C; c++) for (let f = 0; f < F; f++) { const o = (c * F + f) * hw; for (let p = 0; p < hw; p++) acc[o + p] /= norm[f]; }
        }
        passes += performance.now() - t0;
        t0 = performance.now();
        const noise = await ahead.take(i + 1);
        waited += performance.now() - t0;
        t0 = performance.now();
        x = s.step(acc, t, x, { eta: 1, noise }).prevSample;
        passes += performance.now() - t0;
      }
      best.waited = Math.min(best.waited, waited / steps);
      best.passes = Math.min(best.passes, passes / steps);
    }
    console.log(`${String(F).padStart(6)}  ${best.here.toFixed(2).padStart(10)}  ${best.waited.toFixed(2).padStart(26)}  ${best.passes.toFixed(2).padStart(12)}`);
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
