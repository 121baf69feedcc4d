/**
 * ffmpeg/ffprobe command lines as pure functions returning argument lists; src/media/video.ts runs
 * them. Pixels cross the pipe as rawvideo rgb24 (interleaved 8-bit RGB).
 */
import { extname, sep } from 'node:path';

import { UsageError } from '../errors';

/** Output kinds: three video containers and a directory of numbered PNG frames. */
export const OUTPUT_FORMATS = ['mp4', 'webm', 'gif', 'png'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];
export type VideoFormat = Exclude<OutputFormat, 'png'>;

/** File extension → video format; a path without extension (or ending in '/') is a PNG directory. */
export const VIDEO_EXTENSIONS: Readonly<Record<string, VideoFormat>> = Object.freeze({
  '.mp4': 'mp4',
  '.webm': 'webm',
  '.gif': 'gif',
});

/** Formats whose encoder works in yuv420p, which needs an even width and height. */
export const EVEN_SIZE_FORMATS: readonly VideoFormat[] = ['mp4', 'webm'];

/** x264 constant rate factor (0–51, lower is better; 18 is near visually lossless). */
export const MP4_CRF = 18;
/** libvpx-vp9 constant quality (0–63; with `-b:v 0`); 24 is close to x264's 18. */
export const WEBM_CRF = 24;

export interface DecodeArgsOptions {
  /** Output frame size; frames are scaled (stretched) to exactly width×height. */
  width: number;
  height: number;
  /** Resample to this frame rate; omitted, every decoded frame is kept as is. */
  fps?: number;
  /** Stop after this many output frames. */
  maxFrames?: number;
  /** Seconds into the input to start at (accurate seek: decoding starts at the frame there). */
  start?: number;
}

export interface EncodeArgsOptions {
  width: number;
  height: number;
  fps: number;
  format: VideoFormat;
}

/** ffprobe → JSON of the first video stream (size, rate, frame count, codec, duration) and the format. */
export function buildProbeArgs(path: string): string[] {
  return [
    '-v', 'error',
    '-select_streams', 'v:0',
    '-show_entries', 'stream=codec_name,width,height,r_frame_rate,nb_frames,duration:format=format_name,duration',
    '-of', 'json',
    path,
  ];
}

/** ffprobe → JSON of the first video stream with its frames counted by decoding them all (output verification). */
export function buildCountFramesArgs(path: string): string[] {
  return [
    '-v', 'error',
    '-select_streams', 'v:0',
    '-count_frames',
    '-show_entries', 'stream=codec_name,width,height,nb_read_frames',
    '-of', 'json',
    path,
  ];
}

/** ffmpeg: decode the first video stream of `input` to rawvideo rgb24 on stdout. */
export function buildDecodeArgs(input: string, options: DecodeArgsOptions): string[] {
  const { width, height, fps, maxFrames, start } = options;
  const filters = [...(fps === undefined ? [] : [`fps=${fps}`]), `scale=${width}:${height}`];
  return [
    '-v', 'error',
    '-nostdin',
    ...(start ? ['-ss', start.toFixed(4)] : []),
    '-i', input,
    '-map', '0:v:0',
    '-vf', filters.join(','),
    // NOTE: rawvideo output defaults to constant-rate sync, which duplicates or drops frames of a
    // variable-rate input (GIFs); passthrough keeps one output frame per decoded (or fps-filtered) frame.
    '-vsync', 'passthrough',
    ...(maxFrames === undefined ? [] : ['-frames:v', String(maxFrames)]),
    '-f', 'rawvideo',
    '-pix_fmt', 'rgb24',
    'pipe:1',
  ];
}

/** ffmpeg: encode rawvideo rgb24 frames read from stdin into `output` (overwritten). */
export function buildEncodeArgs(output: string, options: EncodeArgsOptions): string[] {
  const { width, height, fps, format } = options;
  const input = [
    '-v', 'error',
    '-y',
    '-f', 'rawvideo',
    '-pix_fmt', 'rgb24',
    '-s', `${width}x${height}`,
    '-framerate', String(fps),
    '-i', 'pipe:0',
  ];
  switch (format) {
    case 'mp4':
      return [...input, '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-crf', String(MP4_CRF),
        '-movflags', '+faststart', '-f', 'mp4', output];
    case 'webm':
      return [...input, '-c:v', 'libvpx-vp9', '-pix_fmt', 'yuv420p', '-crf', String(WEBM_CRF), '-b:v', '0',
        '-f', 'webm', output];
    case 'gif':
      // one graph: a palette from all frames, then each frame mapped onto it
      return [...input, '-vf', 'split[a][b];[a]palettegen[p];[b][p]paletteuse', '-loop', '0', '-f', 'gif', output];
  }
}

/**
 * The output format a path asks for: `.mp4`, `.webm`, `.gif` (any case), or a PNG directory for a
 * path ending in '/' or without extension. Throws UsageError for any other extension.
 */
export function outputFormatFor(path: string): OutputFormat {
  if (path.endsWith('/') || path.endsWith(sep)) return 'png';
  const ext = extname(path).toLowerCase();
  if (ext === '') return 'png';
  const format = VIDEO_EXTENSIONS[ext];
  if (format === undefined) {
    const valid = Object.keys(VIDEO_EXTENSIONS).join(', ');
    throw new UsageError(`unknown output extension "${ext}" in ${path}; valid: ${valid}, or a directory for PNG frames`, {
      suggestion: `Name the output with one of ${valid}, or end it with "/" to write numbered PNG frames.`,
    });
  }
  return format;
}
