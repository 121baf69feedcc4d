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

/**
 * Seeded feeds for every input of one graph of a model directory: its declared dims with the
 * symbolic ones from `sizes` (batch, frames, groups, attributes), uniform in [-1, 1) except the
 * timestep (500) and the group members and weights (1). Returns { declared, feeds }.
 */
function graphFeeds(model, graph, sizes) {
  const { readFileSync } = require('node:fs');
  const { readInputDims } = require(path.join(ROOT, 'dist/onnx/fix-dims'));
  const { createUniform } = require(path.join(ROOT, 'dist/pipeline/random'));
  const manifest = JSON.parse(readFileSync(path.join(model, 'manifest.json'), 'utf8'));
  const declared = readInputDims(new Uint8Array(readFileSync(path.join(model, manifest.graphs[graph].file))));
  const rand = createUniform(1);
  const feeds = {};
  for (const [name, dims] of Object.entries(declared)) {
    const shape = dims.map((d) => (typeof d === 'string' ? sizes[d] : d));
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = name === 'timestep' ? 500 : name === 'members' || name === 'weights' ? 1 : rand() * 2 - 1;
    feeds[name] = { data, dims: shape };
  }
  return { declared, feeds };
}

module.exports = { ROOT, arg, caseRun, graphFeeds };
