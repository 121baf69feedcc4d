/**
 * Planar float images and their conversions to the interleaved integer buffers sharp and ffmpeg
 * exchange. No I/O here.
 */
import { DurianError } from '../errors';

/** An RGB image: `data` is [3, H, W] planar, channel-major, values in [0, 1]. */
export interface RgbImage {
  data: Float32Array;
  width: number;
  height: number;
}

/** A single-channel image: `data` is [H, W], values in [0, 1]. */
export interface GreyImage {
  data: Float32Array;
  width: number;
  height: number;
}

/** Throws unless `img.data` holds exactly 3·H·W values for positive integer H and W. */
export function assertRgbImage(img: RgbImage, what = 'image'): void {
  const { width, height, data } = img;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new DurianError(`${what} has an invalid size ${width}×${height}`);
  }
  if (data.length !== 3 * width * height) {
    throw new DurianError(`${what} holds ${data.length} values; ${width}×${height} RGB needs ${3 * width * height}`);
  }
}

/** [3, H, W] floats in [0, 1] → interleaved rgb24 bytes (rounded, clamped; NaN → 0). */
export function toRgb24(img: RgbImage): Buffer {
  return interleave(img, Buffer.allocUnsafe(3 * img.width * img.height), 255);
}

/** Interleaved bytes with `channels` channels (the first 3 are taken as RGB) → [3, H, W] in [0, 1]. */
export function fromRgb24(bytes: Uint8Array, width: number, height: number, channels = 3): RgbImage {
  const plane = width * height;
  const data = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) data[c * plane + i] = (bytes[channels * i + c] as number) / 255;
  }
  return { data, width, height };
}

/** [3, H, W] floats in [0, 1] → interleaved 16-bit RGB (sharp's `rgb16`), for resizing without 8-bit loss. */
export function toRgb48(img: RgbImage): Uint16Array {
  return interleave(img, new Uint16Array(3 * img.width * img.height), 65535);
}

/** Interleaved 16-bit RGB → [3, H, W] in [0, 1]. */
export function fromRgb48(words: Uint16Array, width: number, height: number): RgbImage {
  const plane = width * height;
  const data = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) data[c * plane + i] = (words[3 * i + c] as number) / 65535;
  }
  return { data, width, height };
}

/**
 * Planar [0, 1] → interleaved integers in [0, max], rounding half up.
 * NOTE: no Math.round in this loop: under jest's VM realm it runs ~50× slower than in plain Node.
 */
function interleave<T extends Uint8Array | Uint16Array>(img: RgbImage, out: T, max: number): T {
  const plane = img.width * img.height;
  const { data } = img;
  for (let c = 0; c < 3; c++) {
    const base = c * plane;
    for (let i = 0, o = c; i < plane; i++, o += 3) {
      const v = (data[base + i] as number) * max + 0.5;
      out[o] = v >= 1 ? (v >= max ? max : v) : 0; // integer typed arrays truncate, so this floors
    }
  }
  return out;
}
