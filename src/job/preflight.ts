/**
 * Everything about a job that can be checked before the model is loaded or any frame generated:
 * every input file is read and checked (images hold exactly one usable face, masks are not
 * empty, keypoint files are complete, the guide has frames), the output can be written and is
 * claimed for this run. Each failure is one InputError (exit 3) or UsageError (exit 2) naming the
 * file and what is wrong.
 */
import path from 'node:path';

import { InputError, UsageError } from '../errors';
import type { FaceFrontEnd } from '../face/front-end';
import { outputFormatFor } from '../media/ffmpeg-args';
import { readImage, readMask, type RgbImage } from '../media/image';
import { claimOutput, prepareOutput } from '../media/output-file';
import { probeFrames } from '../media/video';
import type { JobSpec } from './spec';
import { findKeypointSidecar, readKeypointDoc } from './sidecars';

/**
 * Smallest image side, and smallest detected face side, in pixels, that can be animated. The face
 * limit sits between the 14 px face of a 48×48 thumbnail (refused) and the 20–26 px faces of the
 * 64×64 SynthPortrait renders the tiny test model works at (accepted).
 */
export const MIN_IMAGE_SIDE = 32;
export const MIN_FACE_SIDE = 16;
/** A mask with no pixel above this is empty. */
const EMPTY_MASK_MAX = 0.02;

type FaceGetter = () => Promise<FaceFrontEnd | undefined>;

/** What an image looks like when no face is found in it, for the message. */
function describeFaceless(img: RgbImage): string {
  const { data } = img;
  const plane = img.width * img.height;
  const lo = [1, 1, 1], hi = [0, 0, 0];
  let blackOrWhite = 0;
  for (let i = 0; i < plane; i++) {
    const r = data[i]!, g = data[plane + i]!, b = data[2 * plane + i]!;
    [r, g, b].forEach((v, c) => {
      lo[c] = Math.min(lo[c]!, v);
      hi[c] = Math.max(hi[c]!, v);
    });
    if (Math.max(r, g, b) < 0.05 || Math.min(r, g, b) > 0.95) blackOrWhite++;
  }
  if (hi.every((h, c) => h - lo[c]! < 0.02)) return 'it is a single flat colour';
  if (blackOrWhite >= 0.97 * plane) return 'it holds only black and white pixels, like a mask';
  return 'the face detector found nothing';
}

/**
 * Reads `file` and checks it is a portrait: big enough, and (with the face front end) exactly one
 * face of at least MIN_FACE_SIDE pixels. `what` names it in messages (`--identity`, `--attr`).
 */
export async function checkPortrait(file: string, what: string, face: FaceGetter): Promise<void> {
  const img = await readImage(file);
  if (img.width < MIN_IMAGE_SIDE || img.height < MIN_IMAGE_SIDE) {
    throw new InputError(`${what} ${file}: a ${img.width}×${img.height} image is too small to hold a face (at least ${MIN_IMAGE_SIDE}×${MIN_IMAGE_SIDE})`);
  }
  const front = await face();
  if (!front) return; // models/face not installed: the parser is all there is
  const found = await front.detectFaces(img);
  if (found.length === 0) {
    throw new InputError(`${what} ${file}: no face found in the ${img.width}×${img.height} image (${describeFaceless(img)})`, {
      suggestion: 'Use a portrait with one clearly visible face.',
    });
  }
  if (found.length > 1) {
    throw new InputError(`${what} ${file}: ${found.length} faces found (detector scores ${found.map((d) => d.score.toFixed(2)).join(', ')}); durian animates one`, {
      suggestion: 'Crop the image to the one face to use.',
    });
  }
  const box = found[0]!.box;
  const side = Math.min(box.width, box.height);
  if (side < MIN_FACE_SIDE) {
    throw new InputError(`${what} ${file}: the face found is ${Math.round(box.width)}×${Math.round(box.height)} px, smaller than the ${MIN_FACE_SIDE} px minimum`, {
      suggestion: 'Use a larger image of the face, or crop closer to it.',
    });
  }
}

/** Reads a mask and checks it marks something. */
async function checkMask(file: string, what: string): Promise<void> {
  const m = await readMask(file);
  let max = 0;
  for (let i = 0; i < m.data.length; i++) if (m.data[i]! > max) max = m.data[i]!;
  if (max <= EMPTY_MASK_MAX) throw new InputError(`${what} ${file}: the mask is all black, so there is nothing to transfer`);
}

/** Checks the guide has frames: a complete keypoint JSON, or a video / PNG directory ffprobe or sharp can read. */
async function checkGuide(spec: JobSpec): Promise<void> {
  if (spec.guide.toLowerCase().endsWith('.json')) {
    readKeypointDoc(spec.guide);
    return;
  }
  const info = await probeFrames(spec.guide);
  if (info.width <= 0 || info.height <= 0) throw new InputError(`cannot read video ${spec.guide}: its frames have no size`);
  if (spec.analyser === 'auto' || spec.analyser === 'sidecar') {
    const sidecar = findKeypointSidecar(spec.guide);
    if (sidecar) readKeypointDoc(sidecar);
  }
}

/** Whether an attribute image is the identity image itself. */
export function isIdentityItself(spec: JobSpec, attrPath: string): boolean {
  return path.resolve(attrPath) === path.resolve(spec.identity);
}

/**
 * Checks a job's inputs and output, then claims the output. Returns the claim's release; the
 * caller releases it when the job ends (its output is then in place, or nothing is).
 */
export async function preflightJob(spec: JobSpec, face: FaceGetter): Promise<() => void> {
  // 1. Flags that need no file
  const format = outputFormatFor(spec.output);
  if (spec.preview && path.extname(spec.preview).toLowerCase() !== '.png') throw new UsageError(`--preview must name a .png file, got ${spec.preview}`);
  // 2. Inputs, cheapest first
  const sidecarsToo = spec.analyser === 'auto' || spec.analyser === 'sidecar';
  if (spec.identityKeypoints) readKeypointDoc(spec.identityKeypoints);
  else if (sidecarsToo) {
    const sidecar = findKeypointSidecar(spec.identity);
    if (sidecar) readKeypointDoc(sidecar);
  }
  await checkGuide(spec);
  await checkPortrait(spec.identity, '--identity', face);
  for (const a of spec.attributes) {
    await checkPortrait(a.image, '--attr', face);
    // an empty mask on the identity itself asks for plain animation (nothing transferred), as the
    // benchmark's plain-animator baseline does; on any other image it would silently do nothing
    if (a.mask && !isIdentityItself(spec, a.image)) await checkMask(a.mask, '--attr-mask');
  }
  // 3. The output (and preview): writable, not replacing anything by accident; then claimed
  const target = path.resolve(spec.output.replace(/\/+$/, ''));
  await prepareOutput(target, format === 'png' ? 'directory' : 'file', spec.overwrite);
  if (spec.preview) await prepareOutput(path.resolve(spec.preview), 'file', true);
  return claimOutput(target);
}
