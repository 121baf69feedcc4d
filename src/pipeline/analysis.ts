/**
 * Image analysis for references: keypoints and class masks from sidecar data when given, else
 * from the model's parser graph; alignment of image, masks and keypoints to the model's face
 * template (similarity transform). Real photos go to the face front end (src/face) instead: chosen
 * per image by a domain check (domain.ts) or forced by the caller.
 */
import { InputError } from '../errors';
import { applyAffine, estimateSimilarity, warpPlanar, type Affine } from '../face/align';
import { alignAttribute, getHeadFrame, isAlignedClass } from '../face/attribute-align';
import type { FaceAnalysis, FaceFrontEnd } from '../face/front-end';
import type { DurianPipeline } from './durian-pipeline';
import { classifyDomain, getLandmarkDisagreement, getParserConfidence, type DomainCheck } from './domain';
import { toSignedRange } from './latents';

/** An image as decoded: planar RGB [3, H, W] in [0, 1]. */
export interface SourceImage {
  data: Float32Array;
  width: number;
  height: number;
}

export interface SourceAnalysis {
  /** 68 keypoints in the source image's pixels, flat [x0, y0, …]. */
  keypoints?: Float32Array;
  /** Per-class soft masks [H, W] in the source image's pixels, keyed by mask class name. */
  masks?: Record<string, Float32Array>;
}

/** An image aligned to the model's face template, with keypoints and every class mask. */
export interface AlignedPortrait {
  image: Float32Array;
  keypoints: Float32Array;
  masks: Record<string, Float32Array>;
  /** Source → model pixel transform. */
  transform: Affine;
  keypointSource: 'sidecar' | 'parser' | 'face';
  maskSource: 'sidecar' | 'parser' | 'face';
  /** The domain check, when one was made (auto, no sidecar keypoints). */
  domain?: DomainCheck;
}

/**
 * How keypoints and masks are found when no sidecar gives them: `auto` checks the domain, `parser`
 * and `face` force one analyser. `face` loads the front end on first use (undefined: not installed).
 */
export interface AnalyseOptions {
  analyser?: 'auto' | 'parser' | 'face';
  face?: () => Promise<FaceFrontEnd | undefined>;
}

function scaleAffine(sx: number, sy: number): Affine {
  return [sx, 0, 0, 0, sy, 0];
}

/** Runs the parser graph on a model-size image → keypoints (model pixels) and class masks. */
export async function forwardParser(p: DurianPipeline, image: Float32Array): Promise<{ keypoints: Float32Array; masks: Record<string, Float32Array> }> {
  const out = await p.sessions.run('parser', { image: { data: toSignedRange(image), dims: [1, 3, p.height, p.width] } });
  const classes = p.manifest.mask_classes;
  const plane = p.height * p.width;
  const masks: Record<string, Float32Array> = {};
  classes.forEach((c, i) => (masks[c] = out.masks!.data.slice(i * plane, (i + 1) * plane)));
  return { keypoints: out.keypoints!.data.slice(), masks };
}

/** Face-template keypoints of the model in model pixels. */
export function getTemplateKeypoints(p: DurianPipeline): Float32Array {
  return Float32Array.from(p.manifest.face_template, (v, i) => v * (i % 2 === 0 ? p.width : p.height));
}

/**
 * Aligns a source image to the model's template. Keypoints: sidecar, else the parser on the image
 * resized to the model size. Masks: sidecar (warped), else the parser on the aligned image.
 */
export async function alignPortrait(p: DurianPipeline, src: SourceImage, given: SourceAnalysis = {},
  options: AnalyseOptions = {}): Promise<AlignedPortrait> {
  const analyser = options.analyser ?? 'auto';
  let kp = given.keypoints;
  let keypointSource: AlignedPortrait['keypointSource'] = 'sidecar';
  let domain: DomainCheck | undefined;
  if (!kp || analyser === 'face') {
    const face = analyser === 'parser' ? undefined : await options.face?.();
    if (analyser === 'face') {
      if (!face) throw new InputError('--analyser face needs the face models (models/face), which are not installed');
      const real = await face.analyseImage(src);
      return alignWith(p, src, real.keypoints68, real.masks, 'face', 'face');
    }
    const check = await checkDomain(p, src, face);
    if (check.real && check.domain?.domain === 'real') {
      return alignWith(p, src, check.real.keypoints68, check.real.masks, 'face', 'face', check.domain);
    }
    kp = check.parserKeypoints;
    keypointSource = 'parser';
    domain = check.domain;
  }
  const givenMasks = given.masks && Object.keys(given.masks).length > 0 ? given.masks : undefined;
  return alignWith(p, src, kp, givenMasks, keypointSource, givenMasks ? 'sidecar' : 'parser', domain);
}

/**
 * The model's parser and, when it is given and finds a face, the face front end on one image, with
 * the domain check between them (domain.ts). Keypoints are in the image's pixels; without a face
 * there is no check and the parser's keypoints are all there is.
 */
export async function checkDomain(p: DurianPipeline, src: SourceImage, face?: FaceFrontEnd): Promise<{
  parserKeypoints: Float32Array; real?: FaceAnalysis; domain?: DomainCheck;
}> {
  const W = p.width, H = p.height;
  const parsed = await forwardParser(p, warpPlanar(src.data, 3, src.height, src.width, scaleAffine(W / src.width, H / src.height), H, W));
  const parserKeypoints = applyAffine(scaleAffine(src.width / W, src.height / H), parsed.keypoints);
  const real = face ? await face.analyseImage(src).catch((error: unknown) => {
    if (!(error instanceof InputError)) throw error;
    return undefined; // no face the front end accepts
  }) : undefined;
  if (!real) return { parserKeypoints };
  return { parserKeypoints, real, domain: classifyDomain(getParserConfidence(parsed.masks), getLandmarkDisagreement(parserKeypoints, real.keypoints68)) };
}

/** Aligns image, keypoints and (source-pixel) masks; masks undefined: the parser on the aligned image. */
async function alignWith(p: DurianPipeline, src: SourceImage, kp: Float32Array, sourceMasks: Record<string, Float32Array> | undefined,
  keypointSource: AlignedPortrait['keypointSource'], maskSource: AlignedPortrait['maskSource'], domain?: DomainCheck): Promise<AlignedPortrait> {
  const W = p.width, H = p.height;
  if (kp.length !== 136) throw new InputError(`expected 68 keypoints, got ${kp.length / 2}`);
  const transform = estimateSimilarity(kp, getTemplateKeypoints(p));
  const image = warpPlanar(src.data, 3, src.height, src.width, transform, H, W);
  const keypoints = applyAffine(transform, kp);
  let masks: Record<string, Float32Array>;
  if (sourceMasks) {
    masks = {};
    for (const [c, m] of Object.entries(sourceMasks)) masks[c] = warpPlanar(m, 1, src.height, src.width, transform, H, W);
  } else {
    masks = (await forwardParser(p, image)).masks;
  }
  return { image, keypoints, masks, transform, keypointSource, maskSource, domain };
}

/** The attribute class with the largest mask area (for `--attr IMG:auto`). */
export function pickLargestAttribute(masks: Record<string, Float32Array>, classes: readonly string[]): string {
  let best = classes[0]!;
  let bestArea = -1;
  for (const c of classes) {
    const m = masks[c];
    if (!m) continue;
    let area = 0;
    for (let i = 0; i < m.length; i++) area += m[i]!;
    if (area > bestArea) {
      best = c;
      bestArea = area;
    }
  }
  if (bestArea <= 0) throw new InputError(`no attribute region (${classes.join(', ')}) found in the image`);
  return best;
}

/** An attribute reference and its class mask as the model sees them, in the identity's aligned frame. */
export interface FittedAttribute {
  image: Float32Array;
  mask: Float32Array;
  /** `keypoints`: warped onto the identity's face; `similarity`: left at the template alignment. */
  aligner: 'keypoints' | 'similarity';
}

/** 68 finite keypoints whose head frame (temples 0, 16 and chin 8) spans at least a pixel each way. */
function hasUsableKeypoints(kp: Float32Array | undefined): kp is Float32Array {
  if (!kp || kp.length !== 136 || !kp.every(Number.isFinite)) return false;
  const { ex, ey } = getHeadFrame(kp);
  return Math.hypot(ex[0], ex[1]) >= 1 && Math.hypot(ey[0], ey[1]) >= 1;
}

/**
 * Fits an attribute reference onto the identity: the template-aligned attribute image
 * and its `cls` mask are warped by the keypoint aligner (face/attribute-align.ts) from the
 * attribute's keypoints onto the identity's, so a donor of another head shape, pose or position
 * gives a mask that fits. Where either side has no usable keypoints (or the class is one the
 * aligner has no control points for) the template alignment — one similarity per image — stays.
 */
export function fitAttribute(attr: AlignedPortrait, identity: AlignedPortrait, cls: string, width: number, height: number): FittedAttribute {
  const mask = attr.masks[cls];
  if (!mask) throw new InputError(`no ${cls} mask for an attribute reference`);
  if (!isAlignedClass(cls) || !hasUsableKeypoints(attr.keypoints) || !hasUsableKeypoints(identity.keypoints)) {
    return { image: attr.image, mask, aligner: 'similarity' };
  }
  const out = alignAttribute(attr.image, mask, height, width, attr.keypoints, identity.keypoints, cls);
  return { ...out, aligner: 'keypoints' };
}

/**
 * The inference portrait mask, of the paper's form M_port = M_init ∪ M_align: the identity's own
 * class mask ∪ the attribute mask fitted onto the identity (fitAttribute; the paper's aligned mask
 * comes from a 3-D head-avatar model instead).
 */
export function unionMask(a: Float32Array | undefined, b: Float32Array): Float32Array {
  const out = new Float32Array(b.length);
  for (let i = 0; i < b.length; i++) out[i] = Math.max(a ? a[i]! : 0, b[i]!);
  return out;
}

/** Complementary masking: keep (mask) or remove (1 − mask) a region of a [3, H, W] image. */
export function applyMask(image: Float32Array, mask: Float32Array, keep: boolean): Float32Array {
  const plane = mask.length;
  const out = new Float32Array(image.length);
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < plane; i++) out[c * plane + i] = image[c * plane + i]! * (keep ? mask[i]! : 1 - mask[i]!);
  }
  return out;
}
