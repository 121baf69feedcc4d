'use strict';
/** What every bench script shares: the repository root and `--name value` arguments. */
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');

/** The value after `--name` on the command line, else `def`. */
function arg(name, def) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : def;
}

/**
 * A generation case written by durian_export.bench_sampler (case.json) as DurianPipeline.run's
 * inputs and options: the same references, keypoint images, initial latents and settings as the
 * PyTorch side.
 */
function caseRun(c) {
  const inputs = {
    portrait: { image: Float32Array.from(c.portrait), mask: Float32Array.from(c.portrait_mask) },
    attributes: [{ image: Float32Array.from(c.attr), mask: Float32Array.from(c.attr_mask) }],
    groups: [[0]], weights: new Float32Array(c.frames).fill(1), poseImages: c.pose.map((x) => Float32Array.from(x)),
  };
  // the case's eta (0 when it names none, as sample_video's default), never the model's own default:
  // both sides must draw the same steps
  const opts = { numInferenceSteps: c.steps, guidanceScale: c.guidance_scale, eta: c.eta ?? 0, seed: 0, scheduler: 'ddim',
    window: c.window, overlap: c.overlap, latents: Float32Array.from(c.latents) };
  return { inputs, opts };
}

module.exports = { ROOT, arg, caseRun };
