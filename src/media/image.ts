/**
 * Image I/O through sharp (libvips): files ↔ planar float images ([3, H, W] or [H, W], in [0, 1]).
 */
import { readFile, rename, rm } from 'node:fs/promises';

import sharp from 'sharp';

import { DurianError, InputError, UsageError } from '../errors';
import { assertRgbImage, fromRgb24, fromRgb48, toRgb24, toRgb48, type GreyImage, type RgbImage } from './pixels';

export type { GreyImage, RgbImage } from './pixels';

/** Optional target size; with both given the image is stretched to exactly width×height. */
export interface ImageSize {
  width?: number;
  height?: number;
}

/** A square in pixels of the source image: top-left corner (x, y) and side `size`. */
export interface CropBox {
  x: number;
  y: number;
  size: number;
}

/** sharp's and libvips' versions. */
export function getSharpVersions(): { sharp: string; libvips: string } {
  const versions = sharp.versions as Record<string, string | undefined>;
  return { sharp: versions.sharp ?? 'unknown', libvips: versions.vips ?? 'unknown' };
}

/**
 * Reads an image file as RGB [3, H, W] in [0, 1]: EXIF orientation applied, alpha dropped, grey
 * expanded to RGB, and resized ('fill', lanczos3) when a size is given.
 * Throws InputError for a missing, unreadable or non-image file.
 */
export async function readImage(path: string, size: ImageSize = {}): Promise<RgbImage> {
  const input = await openImage(path, size);
  const { data, info } = await decodeOrThrow(path, input.toColourspace('srgb').raw({ depth: 'uchar' }));
  return fromRgb24(data, info.width, info.height, info.channels);
}

/**
 * Reads a mask as greyscale [H, W] in [0, 1] (alpha dropped, colour converted to luminance),
 * resized ('fill') when a size is given. Throws InputError like readImage.
 */
export async function readMask(path: string, size: ImageSize = {}): Promise<GreyImage> {
  const input = await openImage(path, size);
  const { data, info } = await decodeOrThrow(path, input.toColourspace('b-w').raw({ depth: 'uchar' }));
  const plane = info.width * info.height;
  const out = new Float32Array(plane);
  for (let i = 0; i < plane; i++) out[i] = (data[info.channels * i] as number) / 255;
  return { data: out, width: info.width, height: info.height };
}

/** Writes `img` as an 8-bit PNG: to `${path}.tmp-<pid>` first, renamed into place when complete. */
export async function writePng(path: string, img: RgbImage): Promise<void> {
  assertRgbImage(img);
  const temp = `${path}.tmp-${process.pid}`;
  try {
    await sharp(toRgb24(img), { raw: { width: img.width, height: img.height, channels: 3 } })
      .png()
      .toFile(temp);
    await rename(temp, path);
  } catch (cause) {
    await rm(temp, { force: true });
    throw new DurianError(`cannot write ${path}: ${firstLine(cause)}`, { cause });
  }
}

/** Writes a mask [H, W] in [0, 1] as an 8-bit greyscale PNG, through a temporary name like writePng. */
export async function writeMask(path: string, mask: GreyImage): Promise<void> {
  const { data, width, height } = mask;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0 || data.length !== width * height) {
    throw new DurianError(`mask for ${path}: ${data.length} values do not make ${width}×${height}`);
  }
  const bytes = Buffer.allocUnsafe(data.length);
  for (let i = 0; i < data.length; i++) {
    const v = (data[i] as number) * 255 + 0.5; // rounded and clamped as toRgb24 does; NaN → 0
    bytes[i] = v >= 1 ? (v >= 255 ? 255 : v) : 0;
  }
  const temp = `${path}.tmp-${process.pid}`;
  try {
    await sharp(bytes, { raw: { width, height, channels: 1 } }).toColourspace('b-w').png().toFile(temp);
    await rename(temp, path);
  } catch (cause) {
    await rm(temp, { force: true });
    throw new DurianError(`cannot write ${path}: ${firstLine(cause)}`, { cause });
  }
}

/** Resizes to exactly width×height (lanczos3, through 16-bit so no 8-bit rounding is added). */
export async function resizeRgb(img: RgbImage, width: number, height: number): Promise<RgbImage> {
  assertRgbImage(img);
  assertSize(width, height);
  if (width === img.width && height === img.height) return { ...img, data: img.data.slice() };
  const { data, info } = await sharp(toRgb48(img), { raw: { width: img.width, height: img.height, channels: 3 } })
    .toColourspace('rgb16')
    .resize(width, height, { fit: 'fill' })
    .raw({ depth: 'ushort' })
    .toBuffer({ resolveWithObject: true });
  const words = new Uint16Array(data.buffer, data.byteOffset, data.byteLength / 2);
  return fromRgb48(words, info.width, info.height);
}

/**
 * Crops the square `box` (rounded to whole pixels; parts outside the image are black) and resizes
 * it to outSize×outSize. Used for face alignment.
 */
export async function cropResize(img: RgbImage, box: CropBox, outSize: number): Promise<RgbImage> {
  assertRgbImage(img);
  const x0 = Math.round(box.x);
  const y0 = Math.round(box.y);
  const size = Math.round(box.size);
  if (!Number.isFinite(x0) || !Number.isFinite(y0) || !(size > 0)) {
    throw new DurianError(`invalid crop box ${JSON.stringify(box)}`);
  }
  const { width, height } = img;
  const inPlane = width * height;
  const outPlane = size * size;
  const crop = new Float32Array(3 * outPlane);
  const xStart = Math.max(0, -x0);
  const xEnd = Math.min(size, width - x0);
  for (let y = Math.max(0, -y0); y < Math.min(size, height - y0); y++) {
    if (xEnd <= xStart) break;
    for (let c = 0; c < 3; c++) {
      const src = c * inPlane + (y0 + y) * width + x0;
      crop.set(img.data.subarray(src + xStart, src + xEnd), c * outPlane + y * size + xStart);
    }
  }
  return resizeRgb({ data: crop, width: size, height: size }, outSize, outSize);
}

/**
 * An image file's size from its header (oriented as readImage returns it), without decoding the
 * pixels. Throws InputError like readImage.
 */
export async function readImageSize(path: string): Promise<{ width: number; height: number }> {
  const input = await openImage(path, {});
  let meta: sharp.Metadata;
  try {
    meta = await input.metadata();
  } catch (cause) {
    throw new InputError(`cannot read image ${path}: ${firstLine(cause)}`, { cause });
  }
  if (!meta.width || !meta.height) throw new InputError(`cannot read image ${path}: no image size in its header`);
  const swapped = (meta.orientation ?? 1) >= 5;
  return swapped ? { width: meta.height, height: meta.width } : { width: meta.width, height: meta.height };
}

async function openImage(path: string, size: ImageSize): Promise<sharp.Sharp> {
  if (size.width !== undefined || size.height !== undefined) assertSize(size.width ?? 1, size.height ?? 1);
  let bytes: Buffer;
  try {
    // NOTE: read the bytes ourselves: sharp caches by file name, and a file rewritten between
    // two reads would come back stale.
    bytes = await readFile(path);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : firstLine(cause);
    throw new InputError(`cannot read image ${path}: ${reason}`, { cause });
  }
  if (bytes.length === 0) throw new InputError(`cannot read image ${path}: the file is empty (0 bytes)`);
  let pipeline = sharp(bytes).autoOrient().removeAlpha();
  if (size.width !== undefined || size.height !== undefined) {
    pipeline = pipeline.resize(size.width ?? null, size.height ?? null, { fit: 'fill' });
  }
  return pipeline;
}

async function decodeOrThrow(path: string, pipeline: sharp.Sharp): Promise<{ data: Buffer; info: sharp.OutputInfo }> {
  try {
    return await pipeline.toBuffer({ resolveWithObject: true });
  } catch (cause) {
    throw new InputError(`cannot read image ${path}: ${firstLine(cause)}`, { cause });
  }
}

function assertSize(width: number, height: number): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new UsageError(`image size must be positive whole pixels, got ${width}×${height}`);
  }
}

function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n', 1)[0] ?? message;
}
