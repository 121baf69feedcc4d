/**
 * Frames → videos: .mp4 (H.264), .webm (VP9), .gif through ffmpeg's rawvideo rgb24 pipe, or PNG
 * directories through sharp, written under a temporary name and renamed when complete and read
 * back; and the read-back check itself (verifyVideo). Frames are RgbImage ([3, H, W] in [0, 1]).
 */
import { mkdir, readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';

import { DurianError, InterruptedError, UsageError } from '../errors';
import { buildCountFramesArgs, buildEncodeArgs, EVEN_SIZE_FORMATS, outputFormatFor } from './ffmpeg-args';
import { resolveFfmpegPath, resolveFfprobePath, runBinary, streamBinary } from './ffmpeg';
import { readImageSize, writePng } from './image';
import { commitOutput, getPartialPath, prepareOutput, removePartial, type OutputKind } from './output-file';
import { assertRgbImage, toRgb24, type RgbImage } from './pixels';
import { assertFps, reasonOf } from './video';

export interface EncodeVideoOptions {
  fps: number;
  /** Replace an existing output. */
  force?: boolean;
  /** Aborting stops ffmpeg and removes the partial output; rejects with InterruptedError. */
  signal?: AbortSignal;
  /** ffmpeg binary; the bundled one by default. */
  ffmpegPath?: string;
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
