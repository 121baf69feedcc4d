/**
 * One generation job, end to end: read and analyse the inputs, extract and retarget the guidance,
 * run the pipeline, encode the output (atomically), optionally write a preview sheet.
 */
import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

import { InputError, throwIfAborted, UsageError } from '../errors';
import { retargetKeypoints } from '../face/retarget';
import { renderKeypoints } from '../media/keypoint-render';
import { readImage, readMask } from '../media/image';
import { previewFrameIndices, writePreview } from '../media/preview';
import { openVideoWriter } from '../media/video-writer';
import { alignPortrait, applyMask, fitAttribute, pickLargestAttribute, unionMask, type AlignedPortrait, type AnalyseOptions, type SourceAnalysis } from '../pipeline/analysis';
import type { DurianPipeline } from '../pipeline/durian-pipeline';
import { readGuide } from './guide-source';
import { isIdentityItself } from './preflight';
import type { JobSpec } from './spec';
import { findKeypointSidecar, findMaskSidecars, readKeypointDoc } from './sidecars';

export interface JobResult {
  output: string;
  frames: number;
  fps: number;
  seed: number;
  steps: number;
  attributes: { path: string; class: string }[];
  analysis: Record<string, string>;
  modelSha256: string;
  timings: Record<string, number>;
  /** Honest caveats about the result (inputs outside the model's training domain); empty when none. */
  warnings: string[];
}

/** Progress callbacks and cancellation of a job; all optional. */
export interface JobHooks {
  /** The stage starting: 'analysing inputs', 'extracting guidance', the pipeline's stages ('references', 'pose', 'unet', 'decode'), 'encoding'. */
  onStage?: (stage: string) => void;
  /** Called once per warning, as soon as it is known (before any frame is generated). */
  onWarning?: (warning: string) => void;
  /** After each denoising step (`step` of `total`). */
  onStep?: (p: { step: number; total: number; timestep: number }) => void;
  /** Aborting stops the job at its next stage, denoising window or ffmpeg write: it rejects with InterruptedError and writes no output. */
  signal?: AbortSignal;
  /** Called once the inputs are analysed and the guide extracted, before generating: the caller may
   * release what only analysis needed (a single job's face front end). */
  beforeGenerate?: () => Promise<void>;
}

type FaceGetter = AnalyseOptions['face'];

async function analyse(p: DurianPipeline, file: string, spec: JobSpec, face: FaceGetter, keypointsFile?: string, maskFile?: string,
  maskClass?: string): Promise<AlignedPortrait> {
  const img = await readImage(file);
  const given: SourceAnalysis = {};
  if (spec.analyser === 'auto' || spec.analyser === 'sidecar') {
    const kpFile = keypointsFile ?? findKeypointSidecar(file);
    if (kpFile) given.keypoints = readKeypointDoc(kpFile).frames[0];
    const classes = p.manifest.mask_classes;
    const found = findMaskSidecars(file, classes);
    if (maskFile && maskClass) found[maskClass] = maskFile;
    if (Object.keys(found).length > 0) {
      given.masks = {};
      for (const [c, f] of Object.entries(found)) {
        const m = await readMask(f, { width: img.width, height: img.height });
        given.masks[c] = m.data;
      }
    }
    if (spec.analyser === 'sidecar' && (!given.keypoints || !given.masks)) {
      throw new InputError(`${file}: --analyser sidecar but no ${given.keypoints ? 'mask' : 'keypoints'} sidecar found`);
    }
  }
  return alignPortrait(p, img, given, { analyser: spec.analyser === 'sidecar' ? 'auto' : spec.analyser, face });
}

const ALIGNER_WORDS = { keypoints: 'keypoint-aligned to the identity', similarity: 'similarity-aligned' } as const;

function describeAnalysis(a: AlignedPortrait): string {
  const check = a.domain ? ` (domain ${a.domain.domain}: parser confidence ${a.domain.parserConfidence.toFixed(3)}, `
    + `landmark disagreement ${a.domain.landmarkDisagreement?.toFixed(3) ?? 'n/a'})` : '';
  return `${a.keypointSource} keypoints, ${a.maskSource} masks${check}`;
}

/**
 * The model only ever saw SynthPortrait faces; a real photo still gets animated (the face front end
 * aligns it), but what comes out is a synthetic look-alike, not the person. Says so per image.
 */
export function getDomainWarnings(identity: AlignedPortrait, attrs: { path: string; aligned: AlignedPortrait }[], identityPath: string): string[] {
  const warnings: string[] = [];
  const real = (a: AlignedPortrait) => a.domain?.domain === 'real';
  const why = (a: AlignedPortrait) => `parser confidence ${a.domain!.parserConfidence.toFixed(2)}, landmark disagreement ${a.domain!.landmarkDisagreement?.toFixed(2) ?? 'n/a'}`;
  if (real(identity)) {
    warnings.push(`--identity ${identityPath} looks like a real photo (${why(identity)}); this model was trained on synthetic `
      + 'SynthPortrait faces only, so the video shows a synthetic look-alike, not this person (docs/cli.md, "Real photos")');
  }
  for (const a of attrs.filter((x) => real(x.aligned))) {
    warnings.push(`--attr ${a.path} looks like a real photo (${why(a.aligned)}); this model learnt attributes from synthetic `
      + 'SynthPortrait faces only, so the transferred attribute may not resemble it (docs/cli.md, "Real photos")');
  }
  return warnings;
}

function alphaWeights(frames: number, alpha: [number, number]): Float32Array {
  const w = new Float32Array(frames * 2);
  for (let f = 0; f < frames; f++) {
    const a = frames === 1 ? alpha[0] : alpha[0] + ((alpha[1] - alpha[0]) * f) / (frames - 1);
    w[2 * f] = 1 - a;
    w[2 * f + 1] = a;
  }
  return w;
}

/** sha256 over the manifest (it holds every graph's hash): the model's identity in --json. */
export function getModelSha256(p: DurianPipeline): string {
  return createHash('sha256').update(readFileSync(path.join(p.sessions.dir, 'manifest.json'))).digest('hex');
}

/** Output pre-checks before any heavy work: not overwriting by accident, a writable directory. */
export function checkOutput(output: string, force: boolean): void {
  const target = output.endsWith('/') ? output.slice(0, -1) : output;
  if (existsSync(target) && !force) throw new UsageError(`output ${output} exists`, { suggestion: 'Pass --force to overwrite it.' });
  const dir = path.dirname(path.resolve(target));
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    throw new UsageError(`cannot write output ${output}: directory ${dir} does not exist or is not writable`);
  }
}

/** `face`: the real-face front end, loaded on first use (FaceLoader.get); without it only sidecars and the parser analyse. */
export async function runJob(p: DurianPipeline, spec: JobSpec, hooks: JobHooks = {}, face?: FaceGetter): Promise<JobResult> {
  checkOutput(spec.output, spec.overwrite);
  const t0 = performance.now();
  const timings: Record<string, number> = {};
  const W = p.width, H = p.height;
  const classes: readonly string[] = p.manifest.attribute_classes;
  for (const a of spec.attributes) {
    if (a.class !== 'auto' && !classes.includes(a.class)) {
      throw new UsageError(`unknown attribute class "${a.class}"; the model knows ${classes.join(', ')} (or auto)`);
    }
  }
  // 1. Analyse and align the identity and attribute images
  throwIfAborted(hooks.signal, 'the job');
  hooks.onStage?.('analysing inputs');
  let t = performance.now();
  const identity = await analyse(p, spec.identity, spec, face, spec.identityKeypoints);
  const attrs: { aligned: AlignedPortrait; cls: string }[] = [];
  for (const a of spec.attributes) {
    const aligned = await analyse(p, a.image, spec, face, undefined, a.mask, a.class === 'auto' ? undefined : a.class);
    attrs.push({ aligned, cls: a.class === 'auto' ? pickLargestAttribute(aligned.masks, classes) : a.class });
  }
  const warnings = getDomainWarnings(identity, attrs.map((a, i) => ({ path: spec.attributes[i]!.image, aligned: a.aligned })), spec.identity);
  if (spec.strict && warnings.length > 0) throw new InputError(`${warnings[0]!.replace(/ \(docs\/cli\.md.*\)$/, '')}; refused (--strict)`);
  warnings.forEach((w) => hooks.onWarning?.(w));
  // 2. Attributes fitted onto the identity's face, inference masks and complementary masking
  let portraitMask: Float32Array = new Float32Array(W * H);
  const fitted = attrs.map(({ aligned, cls }, i) => {
    if (!aligned.masks[cls]) throw new InputError(`--attr ${spec.attributes[i]!.image}: no ${cls} mask`);
    return fitAttribute(aligned, identity, cls, W, H);
  });
  const attributes = fitted.map(({ image, mask }, i) => {
    const cls = attrs[i]!.cls;
    if (!isIdentityItself(spec, spec.attributes[i]!.image) && !mask.some((v) => v > 0.02)) {
      throw new InputError(`--attr ${spec.attributes[i]!.image}: its ${cls} mask is empty after alignment to the face, so there is nothing to transfer`);
    }
    portraitMask = unionMask(portraitMask, unionMask(identity.masks[cls], mask));
    return { image: applyMask(image, mask, true), mask };
  });
  const portrait = { image: applyMask(identity.image, portraitMask, false), mask: portraitMask };
  timings.analyse = performance.now() - t;

  // 3. Guidance: driving keypoints, retargeted onto the identity's face, rendered
  throwIfAborted(hooks.signal, 'the job');
  hooks.onStage?.('extracting guidance');
  t = performance.now();
  const guide = await readGuide(p, spec.guide, spec.frames, { analyser: spec.analyser, face });
  const moved = retargetKeypoints(identity.keypoints, guide.keypoints, { driving3d: guide.points3d });
  const kpSpec = p.manifest.keypoint_image;
  // drawn when the pose guider asks for them, a chunk at a time: a long guide is never held rendered
  // whole, and the event loop (signals included) runs between chunks
  const poseImages = { length: moved.length, at: (i: number) => (moved[i] ? renderKeypoints(moved[i], H, W, kpSpec) : undefined) };
  timings.guide = performance.now() - t;

  // 4. Generate; each frame goes to the encoder (temporary name, renamed when complete) as soon as
  // it is decoded, so a long video's frames are never held — only the preview's few
  const F = poseImages.length;
  const groups = spec.mode === 'interpolate' ? [[0], [1]] : [attributes.map((_, i) => i)];
  const weights = spec.mode === 'interpolate' ? alphaWeights(F, spec.alpha) : new Float32Array(F).fill(1);
  const fps = spec.fps ?? guide.fps;
  await hooks.beforeGenerate?.();
  const writer = await openVideoWriter(spec.output, { fps, force: spec.overwrite, signal: hooks.signal, width: W, height: H, frames: F });
  const shown = new Set(spec.preview ? previewFrameIndices(F, attributes.length) : []);
  const kept: Float32Array[] = new Array<Float32Array>(F);
  try {
    const result = await p.run(
      { portrait, attributes, groups, weights, poseImages },
      { numInferenceSteps: spec.steps, guidanceScale: spec.guidanceScale, seed: spec.seed, scheduler: spec.scheduler, eta: spec.eta, noiseCorrelation: spec.noiseCorrelation,
        window: spec.window, overlap: spec.overlap, splitBranches: spec.splitBranches, windowsPerCall: spec.windowsPerCall, onStep: hooks.onStep, onStage: hooks.onStage,
        signal: hooks.signal,
        onFrame: async (data, i) => {
          if (shown.has(i)) kept[i] = data;
          await writer.write({ data, width: W, height: H });
        } },
    );
    Object.assign(timings, result.timings);
  } catch (error) {
    await writer.abort();
    throw error;
  }

  // 5. Finish the video (read back, renamed into place) and the preview
  if (hooks.signal?.aborted) {
    await writer.abort();
    throwIfAborted(hooks.signal, 'the job');
  }
  hooks.onStage?.('encoding');
  t = performance.now();
  await writer.close();
  if (spec.preview) await writePreview(spec.preview, { identity: identity.image, portrait, attributes, poses: poseImages, frames: kept, width: W, height: H });
  timings.encode = performance.now() - t;
  timings.total = performance.now() - t0;
  return {
    output: path.resolve(spec.output),
    frames: F,
    fps,
    seed: spec.seed,
    steps: spec.steps,
    attributes: attrs.map((a, i) => ({ path: spec.attributes[i]!.image, class: a.cls })),
    analysis: {
      identity: describeAnalysis(identity),
      ...Object.fromEntries(attrs.map((a, i) => [`attr${i + 1}`, `${describeAnalysis(a.aligned)}, ${ALIGNER_WORDS[fitted[i]!.aligner]}`])),
      guide: `${guide.source} keypoints`,
    },
    modelSha256: getModelSha256(p),
    warnings,
    timings: Object.fromEntries(Object.entries(timings).map(([k, v]) => [k, Math.round(v)])),
  };
}
