/**
 * MediaPipe selfie segmentation (general model, 256×256): person probability for a whole image.
 * The image is stretched to the square input (no letterbox) and the mask stretched back.
 */
import type { RgbImage } from '../media/pixels';
import { warpPlanar, type Affine } from './align';
import { warpToNhwc, type ValueRange } from './nhwc';

/** Input side of the general selfie model, in pixels. */
export const SEGMENTER_INPUT_SIZE = 256;

/** Image pixels → input pixels: a plain stretch to side×side. */
export function getStretch(width: number, height: number, side: number): Affine {
  return [side / width, 0, 0, 0, side / height, 0];
}

/** The whole image as the segmenter input [1, S, S, 3] NHWC. */
export function prepareSegmenterInput(img: RgbImage, range: ValueRange, side = SEGMENTER_INPUT_SIZE): Float32Array {
  return warpToNhwc(img, getStretch(img.width, img.height, side), side, side, range);
}

/** The [S, S] probability output (NHWC, one channel) → [H, W] in the image's pixels, clamped to [0, 1]. */
export function normalizeSegmenterOutput(mask: Float32Array, width: number, height: number, side = SEGMENTER_INPUT_SIZE): Float32Array {
  const back: Affine = [width / side, 0, 0, 0, height / side, 0];
  const out = warpPlanar(mask, 1, side, side, back, height, width);
  for (let i = 0; i < out.length; i++) out[i] = Math.min(1, Math.max(0, out[i]!));
  return out;
}
