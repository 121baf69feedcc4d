/**
 * Videos → frame lists: probe with ffprobe, decode through ffmpeg's rawvideo rgb24 pipe, and PNG
 * directories through sharp. Frames are RgbImage ([3, H, W] in [0, 1]). Writing is video-writer.ts.
 */
import { readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';

import { InputError, UsageError } from '../errors';
import { buildDecodeArgs, buildProbeArgs } from './ffmpeg-args';
import { BinaryFailedError, resolveFfmpegPath, resolveFfprobePath, runBinary, streamBinary } from './ffmpeg';
import { readImage, readImageSize } from './image';
import { fromRgb24, type RgbImage } from './pixels';

/** What ffprobe says about a video's first video stream. */
export interface VideoInfo {
  width: number;
  height: number;
  /** Frames per second (r_frame_rate). */
  fps: number;
  /** Frame count: the container's, or duration × fps rounded where it has none (webm). */
  frames: number;
  /** ffmpeg codec name, e.g. 'h264', 'vp9', 'gif'. */
  codec: string;
}

export interface DecodeVideoOptions {
  /** Frames are scaled (stretched) to exactly width×height. */
  width: number;
  height: number;
  /** Resample to this frame rate (ignored for PNG directories, which have none). */
  fps?: number;
  /** Keep at most this many frames. */
  maxFrames?: number;
  /** Start at this frame index (videos: seeks to startFrame / the video's frame rate). */
  startFrame?: number;
  /** Aborting stops ffmpeg; the promise rejects with InterruptedError. */
  signal?: AbortSignal;
}

interface ProbeJson {
  streams?: { codec_name?: string; width?: number; height?: number; r_frame_rate?: string; nb_frames?: string; duration?: string }[];
  format?: { duration?: string };
}

/** Size, frame rate, frame count and codec of a video file. Throws InputError if it has no readable video stream. */
export async function probeVideo(path: string): Promise<VideoInfo> {
  await assertReadableFile(path, 'video');
  const ffprobe = resolveFfprobePath();
  let json: ProbeJson;
  try {
    json = JSON.parse(await runBinary(ffprobe, buildProbeArgs(resolve(path)))) as ProbeJson;
  } catch (cause) {
    throw new InputError(`cannot read video ${path}: ${reasonOf(cause, resolve(path))}`, { cause });
  }
  const stream = json.streams?.[0];
  if (stream?.width === undefined || stream.height === undefined || stream.codec_name === undefined) {
    throw new InputError(`cannot read video ${path}: no video stream`);
  }
  const fps = parseRate(stream.r_frame_rate);
  if (!(fps > 0)) throw new InputError(`cannot read video ${path}: no frame rate (r_frame_rate ${stream.r_frame_rate})`);
  const counted = Number.parseInt(stream.nb_frames ?? '', 10);
  const duration = Number.parseFloat(stream.duration ?? json.format?.duration ?? '');
  const frames = Number.isFinite(counted) ? counted : Number.isFinite(duration) ? Math.round(duration * fps) : 0;
  return { width: stream.width, height: stream.height, fps, frames, codec: stream.codec_name };
}

/** Frame rate given to a directory of PNG frames, which has none of its own. */
export const PNG_DIRECTORY_FPS = 25;

/**
 * Like probeVideo, and a directory of PNG frames too: their count, the first one's size,
 * PNG_DIRECTORY_FPS and codec 'png'. Throws InputError for a directory without PNG frames.
 */
export async function probeFrames(path: string): Promise<VideoInfo> {
  const kind = await assertReadableFile(path, 'video', true);
  if (kind === 'file') return probeVideo(path);
  const names = await listPngFrames(path);
  if (names.length === 0) throw new InputError(`cannot read video ${path}: a directory without PNG frames`);
  const { width, height } = await readImageSize(join(path, names[0]!));
  return { width, height, fps: PNG_DIRECTORY_FPS, frames: names.length, codec: 'png' };
}

async function listPngFrames(dir: string): Promise<string[]> {
  const collator = new Intl.Collator('en', { numeric: true });
  return (await readdir(dir)).filter((name) => /\.png$/i.test(name) && !name.startsWith('.')).sort(collator.compare);
}

/**
 * Decodes a video file (anything ffmpeg reads, .gif included) or a directory of PNG frames (sorted
 * by name, numbers compared as numbers) into frames of exactly width×height.
 * Throws InputError for a missing or unreadable input, or one that yields no frames.
 */
function checkDecodeOptions({ width, height, fps, maxFrames }: DecodeVideoOptions): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new UsageError(`frame size must be positive whole pixels, got ${width}×${height}`);
  }
  if (fps !== undefined) assertFps(fps);
  if (maxFrames !== undefined && !(Number.isInteger(maxFrames) && maxFrames > 0)) {
    throw new UsageError(`maxFrames must be a positive integer, got ${maxFrames}`);
  }
}

export async function decodeVideo(path: string, options: DecodeVideoOptions): Promise<RgbImage[]> {
  const { width, height, fps, maxFrames, signal, startFrame = 0 } = options;
  checkDecodeOptions(options);
  if (!(Number.isInteger(startFrame) && startFrame >= 0)) throw new UsageError(`startFrame must be a whole number ≥ 0, got ${startFrame}`);
  const kind = await assertReadableFile(path, 'video', true);
  const start = startFrame > 0 && kind !== 'directory' ? startFrame / (fps ?? (await probeVideo(path)).fps) : undefined;
  const frames = kind === 'directory'
    ? await decodePngDirectory(path, { width, height }, maxFrames, startFrame)
    : await decodeWithFfmpeg(path, { width, height, fps, maxFrames, start }, signal);
  if (frames.length === 0) throw new InputError(`${path} holds no video frames`);
  return frames;
}

/**
 * The frames of a video (or PNG directory) as they decode, `chunkFrames` at a time, so a long video
 * never sits in memory whole (a float frame is 12 bytes a pixel). Each chunk is an accurate seek to
 * its first frame. Options as decodeVideo.
 */
export async function* streamVideoFrames(path: string, options: DecodeVideoOptions & { chunkFrames?: number }): AsyncGenerator<RgbImage> {
  const { chunkFrames = 120, maxFrames, startFrame = 0, ...rest } = options;
  checkDecodeOptions(options);
  if (!(Number.isInteger(startFrame) && startFrame >= 0)) throw new UsageError(`startFrame must be a whole number ≥ 0, got ${startFrame}`);
  if (!(Number.isInteger(chunkFrames) && chunkFrames > 0)) throw new UsageError(`chunkFrames must be a positive integer, got ${chunkFrames}`);
  const kind = await assertReadableFile(path, 'video', true);
  const fps = rest.fps ?? (kind === 'directory' ? PNG_DIRECTORY_FPS : (await probeVideo(path)).fps);
  let done = 0;
  for (;;) {
    const count = maxFrames === undefined ? chunkFrames : Math.min(chunkFrames, maxFrames - done);
    if (count <= 0) return;
    const at = startFrame + done;
    const chunk = kind === 'directory'
      ? await decodePngDirectory(path, rest, count, at)
      : await decodeWithFfmpeg(path, { width: rest.width, height: rest.height, fps: rest.fps, maxFrames: count, start: at > 0 ? at / fps : undefined }, rest.signal);
    if (done === 0 && chunk.length === 0) throw new InputError(`${path} holds no video frames`);
    for (const frame of chunk) yield frame;
    done += chunk.length;
    if (chunk.length < count) return;
  }
}

async function decodeWithFfmpeg(
  path: string,
  options: { width: number; height: number; fps: number | undefined; maxFrames: number | undefined; start: number | undefined },
  signal: AbortSignal | undefined,
): Promise<RgbImage[]> {
  const { width, height } = options;
  const frameBytes = width * height * 3;
  const frames: RgbImage[] = [];
  let pending = Buffer.allocUnsafe(frameBytes);
  let filled = 0;
  const onStdout = (chunk: Buffer): void => {
    let offset = 0;
    while (offset < chunk.length) {
      const n = Math.min(frameBytes - filled, chunk.length - offset);
      chunk.copy(pending, filled, offset, offset + n);
      filled += n;
      offset += n;
      if (filled === frameBytes) {
        frames.push(fromRgb24(pending, width, height));
        pending = Buffer.allocUnsafe(frameBytes);
        filled = 0;
      }
    }
  };
  const input = resolve(path);
  const args = buildDecodeArgs(input, {
    width,
    height,
    ...(options.fps === undefined ? {} : { fps: options.fps }),
    ...(options.maxFrames === undefined ? {} : { maxFrames: options.maxFrames }),
    ...(options.start === undefined ? {} : { start: options.start }),
  });
  try {
    await streamBinary(resolveFfmpegPath(), args, { onStdout, ...(signal ? { signal } : {}) });
  } catch (cause) {
    if (cause instanceof BinaryFailedError) throw new InputError(`cannot decode video ${path}: ${reasonOf(cause, input)}`, { cause });
    throw cause;
  }
  return frames;
}

async function decodePngDirectory(dir: string, size: { width: number; height: number }, maxFrames?: number, startFrame = 0): Promise<RgbImage[]> {
  const names = await listPngFrames(dir);
  const frames: RgbImage[] = [];
  const end = maxFrames === undefined ? undefined : startFrame + maxFrames;
  for (const name of names.slice(startFrame, end)) frames.push(await readImage(join(dir, name), size));
  return frames;
}

/** Throws InputError unless `path` exists; returns whether it is a file or (when allowed) a directory. */
async function assertReadableFile(path: string, what: string, allowDirectory = false): Promise<'file' | 'directory'> {
  let info;
  try {
    info = await stat(path);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    throw new InputError(`cannot read ${what} ${path}: ${code === 'ENOENT' ? 'no such file' : reasonOf(cause)}`, { cause });
  }
  if (info.isDirectory()) {
    if (allowDirectory) return 'directory';
    throw new InputError(`cannot read ${what} ${path}: is a directory`);
  }
  return 'file';
}

/** Refuses a frame rate that is not a positive number (UsageError). */
export function assertFps(fps: number): void {
  if (!(Number.isFinite(fps) && fps > 0)) throw new UsageError(`fps must be a positive number, got ${fps}`);
}

/** "25/1" → 25, "30000/1001" → 29.97…; NaN when unparsable. */
function parseRate(rate: string | undefined): number {
  const [num, den] = (rate ?? '').split('/').map(Number);
  if (num === undefined || !Number.isFinite(num)) return Number.NaN;
  return den === undefined ? num : num / den;
}

/** The first line of an error, less runBinary's "<binary> failed: " and ffmpeg's "<input>: " prefixes. */
export function reasonOf(error: unknown, input?: string): string {
  const message = error instanceof Error ? error.message : String(error);
  const reason = (message.split('\n', 1)[0] ?? message).replace(/^.*? failed: /, '');
  return input !== undefined && reason.startsWith(`${input}: `) ? reason.slice(input.length + 2) : reason;
}
