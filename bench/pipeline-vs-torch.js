#!/usr/bin/env node
/**
 * TypeScript pipeline (onnxruntime-node) vs the PyTorch reference sampler (eager, compiled or CUDA graphs), same weights,
 * case, frames, steps and initial noise, on this machine. Prints per-stage seconds, frames/s and
 * speed ratios, the model's FLOPs per frame per step and the achieved TFLOP/s.
 *
 *   node bench/pipeline-vs-torch.js [--frames 8] [--steps 10] [--out /tmp/durian-bench]
 *     [--providers cpu]            onnxruntime-node providers to time, comma-separated (cpu,cuda,webgpu)
 *     [--shapes fixed]             the UNet's sessions: fixed (shapes fixed per window, the default),
 *                                  dynamic, or fixed,dynamic for both
 *     [--torch cpu:fp32]           PyTorch runs, comma-separated device:dtype[:mode] (cpu:fp32,cuda:fp32,cuda:bf16,
 *                                  cuda:bf16:compile,cuda:bf16:cudagraphs; mode: eager, sdpa = fused attention, compile = torch.compile,
 *                                  cudagraphs = torch.compile's reduce-overhead)
 *     [--gpu-attention exported]   on GPU providers, the UNet's attention as exported, or `fused` (onnx/fuse-attention.ts
 *                                  with head sizes padded to 8, for CUDA's memory-efficient/flash kernels), or
 *                                  `default` (the pipeline's own choice, pipeline/memory.ts: fused for a float16 UNet),
 *                                  comma-separated for several
 *     [--precision auto]           what the TypeScript side's UNet computes in (pipeline/precision.ts): auto (float16
 *                                  on GPU providers, float32 on the CPU; the CLI's default), float32, float16 (made
 *                                  from a float32 model at load time), comma-separated for several
 *     [--binding plain]            how the TypeScript side runs the UNet: plain (onnxruntime-node), capi (ONNX Runtime's
 *                                  C API with IOBinding, onnx/capi.ts), capi-graph (the same, captured as CUDA graphs
 *                                  on cuda), comma-separated for several; frames are compared with the first
 *     [--windows-per-call N]       temporal windows per UNet call on both sides (TypeScript's windowsPerCall;
 *                                  default: TypeScript's own default, PyTorch 1)
 *     [--checkpoint RUN --model DIR]  a trained run and the graphs exported from it (same fp16-rounded
 *                                  weights on both sides); default: the base config with seeded weights
 *                                  (exported to OUT/model; --model alone times other graphs, e.g. a
 *                                  float16 variant from `python -m durian_export.half`)
 *     [--eta 0]                    DDIM's fresh noise per step on both sides (the CLI's default is 1; the TypeScript
 *                                  side then draws it on worker threads, pipeline/step-noise.ts); above 0 the two
 *                                  sides draw different noise, so only TypeScript's variants compare frames
 *     [--config tools/export/configs/base.json] [--python tools/export/.venv/bin/python]
 *
 * Run `npm run build` first. Each side gets one warm-up run, then --repeat timed runs (default 1);
 * the fastest is reported.
 */
'use strict';
const { execFileSync } = require('node:child_process');
const { readFileSync } = require('node:fs');
const path = require('node:path');
const os = require('node:os');

const { ROOT, arg, caseRun } = require('./common');

async function timeProvider(modelDir, provider, shapes, c, repeat, windowsPerCall, attention, binding, precision) {
  const { DurianPipeline } = require(path.join(ROOT, 'dist/pipeline/durian-pipeline.js'));
  const t0 = performance.now();
  // the GPU providers' defaults (memory.ts) with the UNet's attention as exported, or fused with head
  // sizes padded to 8; 'default' (and the CPU): the pipeline's own choice
  const gpu = (sessions) => ({ mode: 'custom', sessions, decodeChunk: 8, poseChunk: 16, spillBytes: Infinity });
  const memory = attention === 'fused' ? gpu({ fuseAttention: ['unet'], fuseAttentionOptions: { padHeadTo: 8 } })
    : attention === 'exported' ? gpu({}) : undefined;
  const ioBinding = binding === 'capi' ? true : binding === 'capi-graph' ? 'cuda-graph' : false;
  const p = await DurianPipeline.fromModelDir(modelDir, { executionProviders: [provider], fixedShapes: shapes === 'fixed', memory, ioBinding, precision });
  const fused = p.sessions.fusedAttention().unet ?? 0;
  const unet = p.unetPrecision;
  const decoder = p.precisions.vae_decoder;
  const loadS = (performance.now() - t0) / 1000;
  const { inputs, opts: caseOpts } = caseRun(c);
  const opts = windowsPerCall ? { ...caseOpts, windowsPerCall } : caseOpts;
  // the UNet's two guidance branches: one call of batch 2, or two calls of batch 1
  const runs = {};
  try {
    for (const split of [false, true]) {
      await p.run(inputs, { ...opts, splitBranches: split, numInferenceSteps: 1 }); // warm-up
      for (let i = 0; i < repeat; i++) {
        const t1 = performance.now();
        const r = await p.run(inputs, { ...opts, splitBranches: split });
        const total = (performance.now() - t1) / 1000;
        const key = split ? 'split' : 'batched';
        if (!runs[key] || total < runs[key].total) runs[key] = { t: r.timings, total, frames: r.frames };
      }
    }
    runs.bound = p.sessions.boundGraphs();
  } finally {
    await p.release();
  }
  let maxDiff = 0;
  runs.batched.frames.forEach((f, i) => f.forEach((v, k) => (maxDiff = Math.max(maxDiff, Math.abs(v - runs.split.frames[i][k])))));
  const best = runs.batched.total <= runs.split.total ? 'batched' : 'split';
  const label = `${provider} ${shapes} ${unet.precision}${decoder.precision !== unet.precision ? `/decoder ${decoder.precision}` : ''}`
    + `${fused ? ` fused(${fused})` : ''}${binding !== 'plain' ? ` ${binding}` : ''}`;
  return { provider: label, loadS, best, maxDiff, unet, decoder, ...runs };
}

async function main() {
  const out = path.resolve(arg('out', path.join(os.tmpdir(), 'durian-bench')));
  const checkpoint = arg('checkpoint');
  const modelDir = arg('model') ? path.resolve(arg('model')) : checkpoint ? path.join(ROOT, 'models/durian-synth') : path.join(out, 'model');
  const providers = arg('providers', 'cpu').split(',');
  const repeat = +arg('repeat', '1');
  const python = arg('python', path.join(ROOT, 'tools/export/.venv/bin/python'));
  const pyArgs = ['-m', 'durian_export.bench_sampler', '--config', path.resolve(arg('config', path.join(ROOT, 'tools/export/configs/base.json'))),
    '--out', out, '--frames', arg('frames', '8'), '--steps', arg('steps', '10'), '--runs', arg('torch', 'cpu:fp32'), '--repeat', String(repeat)];
  if (checkpoint) pyArgs.push('--checkpoint', path.resolve(checkpoint));
  const windowsPerCall = arg('windows-per-call') ? +arg('windows-per-call') : undefined;
  if (windowsPerCall) pyArgs.push('--windows-per-call', String(windowsPerCall));
  pyArgs.push('--eta', arg('eta', '0'));
  execFileSync(python, pyArgs, { cwd: path.join(ROOT, 'tools/export'), stdio: ['ignore', 'ignore', 'inherit'] });
  const torch = JSON.parse(readFileSync(path.join(out, 'torch.json'), 'utf8'));
  const c = JSON.parse(readFileSync(path.join(out, 'case.json'), 'utf8'));

  const ts = [];
  for (const provider of providers) {
    for (const shapes of arg('shapes', 'fixed').split(',')) {
      for (const attention of provider === 'cpu' ? ['default'] : arg('gpu-attention', 'exported').split(',')) {
        for (const binding of arg('binding', 'plain').split(',')) {
          for (const precision of arg('precision', 'auto').split(',')) {
            ts.push(await timeProvider(modelDir, provider, shapes, c, repeat, windowsPerCall, attention, binding, precision));
          }
        }
      }
    }
  }

  const sec = (ms) => (ms ?? 0) / 1000;
  const flopsStep = torch.flops_per_frame_step * c.frames;
  const torchName = (r) => `torch ${r.device} ${r.dtype}${r.mode && r.mode !== 'eager' ? ` ${r.mode}` : ''}`;
  const cols = [
    ...torch.runs.map((r) => ({ name: torchName(r), refs: r.references_s, denoise: r.denoise_s, decode: r.decode_s, total: r.total_s })),
    ...ts.flatMap((t) => ['batched', 'split'].map((k) => ({
      name: `TS ${t.provider} ${k}`, refs: sec(t[k].t.references), denoise: sec(t[k].t.pose) + sec(t[k].t.unet), decode: sec(t[k].t.decode), total: t[k].total }))),
  ];
  const w = Math.max(...cols.map((x) => x.name.length), 10) + 1;
  console.log(`frames ${c.frames}, steps ${c.steps}, eta ${c.eta}, CFG on, fastest of ${repeat} timed run(s); ${os.cpus().length} CPUs (${os.cpus()[0].model})`
    + torch.runs.filter((r) => r.gpu).slice(0, 1).map((r) => `; GPU ${r.gpu}`).join(''));
  console.log(`model: ${(torch.flops_per_frame_step / 1e9).toFixed(1)} GFLOP per frame per denoising step (both guidance branches)`
    + (torch.bf16_matmul_tflops ? `; card's measured bf16 matmul rate ${torch.bf16_matmul_tflops.toFixed(0)} TFLOP/s` : ''));
  console.log(`${'stage (s)'.padEnd(16)}${cols.map((x) => x.name.padStart(w)).join('')}`);
  for (const [label, key] of [['references', 'refs'], ['pose + denoise', 'denoise'], ['decode', 'decode'], ['total', 'total']]) {
    console.log(`${label.padEnd(16)}${cols.map((x) => x[key].toFixed(3).padStart(w)).join('')}`);
  }
  console.log(`${'frames/s'.padEnd(16)}${cols.map((x) => (c.frames / x.total).toFixed(3).padStart(w)).join('')}`);
  console.log(`${'denoise TFLOP/s'.padEnd(16)}${cols.map((x) => (flopsStep * c.steps / x.denoise / 1e12).toFixed(3).padStart(w)).join('')}`);
  for (const t of ts) {
    console.log(`TS ${t.provider}: session load ${t.loadS.toFixed(2)} s (outside the totals); batched vs split frames max |Δ| ${t.maxDiff.toExponential(2)}`);
    console.log(`  UNet ${t.unet.precision} (${t.unet.reason})${t.unet.conversion ? `: ${t.unet.conversion}` : ''}`);
    console.log(`  VAE decoder ${t.decoder.precision} (${t.decoder.reason})${t.decoder.conversion ? `: ${t.decoder.conversion}` : ''}`);
    if (t.bound.unet) console.log(`  bound UNet shapes: ${t.bound.unet.made.join(' | ') || '-'}${Object.keys(t.bound.unet.failed).length ? `; not bound: ${JSON.stringify(t.bound.unet.failed)}` : ''}`);
    const first = ts.find((x) => x.provider.split(' ')[0] === t.provider.split(' ')[0]);
    if (first !== t) {
      let d = 0, se = 0, n = 0;
      t.batched.frames.forEach((f, i) => f.forEach((v, k) => { const e = v - first.batched.frames[i][k]; d = Math.max(d, Math.abs(e)); se += e * e; n++; }));
      console.log(`  frames vs TS ${first.provider} (batched): max |Δ| ${d.toExponential(2)}, PSNR ${se ? (10 * Math.log10(n / se)).toFixed(1) : 'inf'} dB`);
    }
    for (const k of ['batched', 'split']) {
      const tt = t[k].t;
      console.log(`  ${k}: pose guider ${sec(tt.pose).toFixed(3)} s, UNet session ${sec(tt['unet session']).toFixed(3)} s, UNet ${sec(tt.unet).toFixed(3)} s `
        + `(${(tt.unet / c.steps).toFixed(1)} ms per step), rest of denoising ${(t[k].total - sec(tt.references) - sec(tt.pose) - sec(tt['unet session']) - sec(tt.unet) - sec(tt.decode)).toFixed(3)} s`);
    }
    for (const r of torch.runs) {
      if ((r.device === 'cpu') !== t.provider.startsWith('cpu ')) continue;
      console.log(`  TS ${t.provider} (${t.best}) / ${torchName(r)} frames/s: ${(r.total_s / t[t.best].total).toFixed(2)}x`);
    }
  }
  for (const r of torch.runs.filter((x) => x.peak_gpu_mb)) console.log(`${torchName(r)}: peak GPU memory ${Math.round(r.peak_gpu_mb)} MiB`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
