/**
 * Videos ↔ frame lists: probe with ffprobe, decode and encode through ffmpeg's rawvideo rgb24
 * pipes, and PNG directories through sharp. Frames are RgbImage ([3, H, W] in [0, 1]).
 */
import { mkdir, readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';

import { DurianError, InputError, InterruptedError, UsageError } from '../errors';
import {
  buildCountFramesArgs,
  buildDecodeArgs,
  buildEncodeArgs,
  buildProbeArgs,
  EVEN_SIZE_FORMATS,
  outputFormatFor,
} from './ffmpeg-args';
import { BinaryFailedError, resolveFfmpegPath, resolveFfprobePath, runBinary, streamBinary } from './ffmpeg';
import { readImage, readImageSize, writePng } from './image';
import { commitOutput, getPartialPath, prepareOutput, removePartial, type OutputKind } from './output-file';
import { assertRgbImage, fromRgb24, toRgb24, type RgbImage } from './pixels';

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

export interface EncodeVideoOptions {
  fps: number;
  /** Replace an existing output. */
  force?: boolean;
  /** Aborting stops ffmpeg and removes the partial output; rejects with InterruptedError. */
  signal?: AbortSignal;
  /** ffmpeg binary; the bundled one by default. */
  ffmpegPath?: string;
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

/**
 * Writes frames as .mp4 (H.264), .webm (VP9), .gif, or numbered PNGs (`0000.png`…) for a path
 * ending in '/' or without extension. Written under a temporary name and renamed when complete;
 * nothing is left behind on failure. mp4 and webm need an even width and height.
 */
export async function encodeVideo(frames: readonly RgbImage[], path: string, options: EncodeVideoOptions): Promise<void> {
  // 1. Check the frames and options
  const first = frames[0];
  if (first === undefined) throw new DurianError(`no frames to write to ${path}`);
  frames.forEach((frame, i) => {
    assertRgbImage(frame, `frame ${i}`);
    if (frame.width !== first.width || frame.height !== first.height) {
      throw new DurianError(`frame ${i} is ${frame.width}×${frame.height}, frame 0 is ${first.width}×${first.height}`);
    }
  });
  // 2. The frames through a writer, all known in advance
  const writer = await openVideoWriter(path, { ...options, width: first.width, height: first.height, frames: frames.length });
  try {
    for (const frame of frames) await writer.write(frame);
  } catch (error) {
    await writer.abort();
    throw error;
  }
  await writer.close();
}

export interface VideoWriterOptions extends EncodeVideoOptions {
  width: number;
  height: number;
  /** The number of frames that will be written, when known: PNG names are padded for it (at least
   * 4 digits) and close() checks it. */
  frames?: number;
}

/** A video being written frame by frame (openVideoWriter). */
export interface VideoWriter {
  /** Hands one frame over; resolves when the encoder has taken it (at most a frame or two are queued). */
  write(frame: RgbImage): Promise<void>;
  /** Finishes the file, reads it back, and renames it into place; rejects (leaving nothing) if it is broken. */
  close(): Promise<void>;
  /** Stops the encoder and removes the partial output. */
  abort(): Promise<void>;
  /** Frames written so far. */
  readonly written: number;
}

/**
 * Opens a video output for frames that arrive one at a time (a generation streaming its decoded
 * frames), so that they need not all be held until encoding: the same formats, temporary name,
 * read-back check and rename as encodeVideo, and the same bytes for the same frames.
 */
export async function openVideoWriter(path: string, options: VideoWriterOptions): Promise<VideoWriter> {
  // 1. Check the options, refuse to overwrite unless forced
  const { width, height } = options;
  assertRgbImage({ data: new Float32Array(3 * width * height), width, height }, 'a video frame');
  assertFps(options.fps);
  const format = outputFormatFor(path);
  if (format !== 'png' && EVEN_SIZE_FORMATS.includes(format) && (width % 2 !== 0 || height % 2 !== 0)) {
    throw new UsageError(`${format} output needs an even width and height (yuv420p), got ${width}×${height}`, {
      suggestion: 'Choose an even --width and --height, or write a .gif or a PNG directory.',
    });
  }
  const target = resolve(path);
  const kind: OutputKind = format === 'png' ? 'directory' : 'file';
  await prepareOutput(target, kind, options.force ?? false);

  // 2. Frames go under a temporary name: PNG files one by one, or ffmpeg's stdin through a queue
  const partial = getPartialPath(target, kind);
  const digits = Math.max(4, String(Math.max(0, (options.frames ?? 0) - 1)).length);
  let written = 0;
  let state: 'open' | 'closed' | 'aborted' = 'open';
  const queue = new FrameQueue();
  let encoder: Promise<void> | undefined;
  if (format === 'png') await mkdir(partial);
  else {
    const args = buildEncodeArgs(partial, { width, height, fps: options.fps, format });
    encoder = streamBinary(options.ffmpegPath ?? resolveFfmpegPath(), args, { stdin: queue.chunks(), ...(options.signal ? { signal: options.signal } : {}) });
    // a failed encoder (or one that stops reading) surfaces at the next write or at close
    encoder.then(() => queue.fail(new DurianError(`ffmpeg stopped before ${path} was complete`)), (error: unknown) => queue.fail(error));
  }
  const abort = async (): Promise<void> => {
    if (state !== 'open') return;
    state = 'aborted';
    queue.end();
    await encoder?.catch(() => undefined);
    await removePartial(partial);
  };
  return {
    get written() {
      return written;
    },
    async write(frame: RgbImage): Promise<void> {
      if (state !== 'open') throw new DurianError(`${path}: write after the video was ${state}`);
      assertRgbImage(frame, `frame ${written}`);
      if (frame.width !== width || frame.height !== height) throw new DurianError(`frame ${written} is ${frame.width}×${frame.height}, the video ${width}×${height}`);
      if (options.signal?.aborted) throw new InterruptedError(`writing ${path} stopped: interrupted`, { cause: options.signal.reason });
      const index = written++;
      if (format === 'png') await writePng(join(partial, `${String(index).padStart(digits, '0')}.png`), frame);
      else await queue.push(toRgb24(frame));
    },
    async close(): Promise<void> {
      if (state !== 'open') throw new DurianError(`${path}: close after the video was ${state}`);
      state = 'closed';
      try {
        if (written === 0) throw new DurianError(`no frames to write to ${path}`);
        if (options.frames !== undefined && written !== options.frames) throw new DurianError(`${path}: ${written} frames written, ${options.frames} expected`);
        queue.end();
        await encoder;
        const problem = await verifyVideo(partial, { frames: written, width, height });
        if (problem) throw new DurianError(`the encoded ${path} is broken (${problem}); nothing was written`);
        await commitOutput(partial, target, kind, options.force ?? false);
      } catch (error) {
        queue.end();
        await encoder?.catch(() => undefined);
        await removePartial(partial);
        throw error;
      }
    },
    abort,
  };
}

/**
 * Frames on their way to ffmpeg's stdin: push() resolves once the pump has taken the frame, so
 * at most one frame waits here while another is in the pipe.
 */
class FrameQueue {
  private pending: { chunk: Buffer; taken: () => void; refused: (error: Error) => void }[] = [];
  private wake?: () => void;
  private ended = false;
  private failure?: Error;

  push(chunk: Buffer): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.ended) return Promise.resolve();
    return new Promise((taken, refused) => {
      this.pending.push({ chunk, taken, refused });
      this.wake?.();
    });
  }

  end(): void {
    this.ended = true;
    this.wake?.();
  }

  /** Refuses the frames still waiting and every later one (once the queue has ended, nothing). */
  fail(error: unknown): void {
    if (this.ended && this.pending.length === 0) return;
    this.failure = error instanceof Error ? error : new DurianError(String(error));
    this.end();
    for (const p of this.pending.splice(0)) p.refused(this.failure);
  }

  async *chunks(): AsyncGenerator<Uint8Array> {
    for (;;) {
      const next = this.pending.shift();
      if (next) {
        next.taken();
        yield next.chunk;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
  }
}

export interface VideoExpectation {
  frames?: number;
  width?: number;
  height?: number;
}

/**
 * Checks a written video (or PNG directory) by reading it back: ffprobe decodes every frame and
 * counts them; a directory's PNGs are counted and their headers read. Returns what is wrong, or
 * undefined when it is complete (and, where given, has the expected frames and size).
 */
export async function verifyVideo(path: string, expect: VideoExpectation = {}): Promise<string | undefined> {
  let info;
  try {
    info = await stat(path);
  } catch {
    return 'missing';
  }
  let frames: number, width: number | undefined, height: number | undefined;
  if (info.isDirectory()) {
    const names = (await readdir(path)).filter((n) => /^\d+\.png$/i.test(n)).sort();
    frames = names.length;
    for (const name of names) {
      try {
        const meta = await readImageSize(join(path, name));
        width = meta.width;
        height = meta.height;
      } catch {
        return `frame ${name} is not a readable PNG`;
      }
    }
  } else if (info.isFile()) {
    if (info.size === 0) return 'empty file';
    let json: { streams?: { width?: number; height?: number; nb_read_frames?: string }[] };
    try {
      json = JSON.parse(await runBinary(resolveFfprobePath(), buildCountFramesArgs(resolve(path)), 300_000)) as typeof json;
    } catch (cause) {
      return `ffprobe cannot read it: ${reasonOf(cause, resolve(path))}`;
    }
    const s = json.streams?.[0];
    if (!s) return 'no video stream';
    frames = Number.parseInt(s.nb_read_frames ?? '', 10);
    width = s.width;
    height = s.height;
    if (!Number.isFinite(frames)) return 'its frames cannot be counted';
  } else {
    return 'not a regular file or directory';
  }
  if (frames === 0) return 'no frames';
  if (expect.frames !== undefined && frames !== expect.frames) return `${frames} frames, expected ${expect.frames}`;
  if ((expect.width !== undefined && width !== expect.width) || (expect.height !== undefined && height !== expect.height)) {
    return `${width}×${height}, expected ${expect.width}×${expect.height}`;
  }
  return undefined;
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

function assertFps(fps: number): void {
  if (!(Number.isFinite(fps) && fps > 0)) throw new UsageError(`fps must be a positive number, got ${fps}`);
}

/** "25/1" → 25, "30000/1001" → 29.97…; NaN when unparsable. */
function parseRate(rate: string | undefined): number {
  const [num, den] = (rate ?? '').split('/').map(Number);
  if (num === undefined || !Number.isFinite(num)) return Number.NaN;
  return den === undefined ? num : num / den;
}

/** The first line of an error, less runBinary's "<binary> failed: " and ffmpeg's "<input>: " prefixes. */
function reasonOf(error: unknown, input?: string): string {
  const message = error instanceof Error ? error.message : String(error);
  const reason = (message.split('\n', 1)[0] ?? message).replace(/^.*? failed: /, '');
  return input !== undefined && reason.startsWith(`${input}: `) ? reason.slice(input.length + 2) : reason;
}
