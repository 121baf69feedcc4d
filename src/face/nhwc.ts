/**
 * Model inputs for the MediaPipe graphs: a planar RGB image warped by an affine transform into an
 * NHWC float tensor [1, S, S, 3] with a linear value mapping.
 */
import type { RgbImage } from '../media/pixels';
import { warpPlanar, type Affine } from './align';

/** Value mapping applied after the warp: v' = v · scale + offset (v in [0, 1]). */
export interface ValueRange {
  scale: number;
  offset: number;
}

/** [0, 1] as is (face mesh, selfie segmenter). */
export const UNIT_RANGE: ValueRange = Object.freeze({ scale: 1, offset: 0 });
/** [-1, 1] (BlazeFace: x/127.5 − 1). */
export const SIGNED_RANGE: ValueRange = Object.freeze({ scale: 2, offset: -1 });

/**
 * Warps `img` by `m` (image → tensor pixel coordinates, pixel centres at +0.5) into an NHWC tensor
 * [1, height, width, 3]; bilinear, zero (before the value mapping) outside the image, as MediaPipe's
 * ImageToTensor does with a zero border.
 */
export function warpToNhwc(img: RgbImage, m: Affine, height: number, width: number, range: ValueRange): Float32Array {
  const planar = warpPlanar(img.data, 3, img.height, img.width, m, height, width);
  const plane = height * width;
  const out = new Float32Array(3 * plane);
  const { scale, offset } = range;
  for (let i = 0, o = 0; i < plane; i++, o += 3) {
    out[o] = planar[i]! * scale + offset;
    out[o + 1] = planar[plane + i]! * scale + offset;
    out[o + 2] = planar[2 * plane + i]! * scale + offset;
  }
  return out;
}
