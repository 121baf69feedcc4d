/**
 * Sidecar files written by SynthPortrait (and the real-face annotator): `NAME.keypoints.json`
 * beside an image or video, `NAME.mask-<class>.png` beside an image.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

import { InputError } from '../errors';

export interface KeypointDoc {
  size: [number, number];
  fps: number | null;
  /** One flat [x0, y0, …] (68 points) per frame. */
  frames: Float32Array[];
}

function stem(file: string): string {
  return file.slice(0, file.length - path.extname(file).length);
}

export function findKeypointSidecar(file: string): string | undefined {
  const p = `${stem(file)}.keypoints.json`;
  return existsSync(p) ? p : undefined;
}

export function findMaskSidecars(file: string, classes: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const c of classes) {
    const p = `${stem(file)}.mask-${c}.png`;
    if (existsSync(p)) out[c] = p;
  }
  return out;
}

/** 68 iBUG points a frame. */
const POINTS = 68;
/** Coordinates beyond this many pixels are taken for garbage rather than a face partly out of frame. */
const MAX_COORDINATE = 1e5;
/** A frame whose points span less than this (pixels), or whose eye centres are closer, is collapsed. */
const MIN_SPREAD = 1;

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 20 ? `${v.slice(0, 20)}…` : v)}`;
  return `${typeof v} ${JSON.stringify(v)}`;
}

/** One frame's 68 [x, y] pairs → flat Float32Array; throws InputError saying which point is wrong. */
function readFrame(file: string, where: string, pts: unknown): Float32Array {
  if (!Array.isArray(pts)) throw new InputError(`${file}: ${where} must be a list of ${POINTS} [x, y] points, got ${describe(pts)}`);
  if (pts.length !== POINTS) throw new InputError(`${file}: ${where} has ${pts.length} points, expected ${POINTS} (ibug68)`);
  const flat = new Float32Array(2 * POINTS);
  pts.forEach((pt: unknown, j) => {
    if (!Array.isArray(pt) || pt.length !== 2) {
      throw new InputError(`${file}: ${where}, point ${j} must be [x, y], got ${describe(pt)}`);
    }
    for (const [k, v] of pt.entries()) {
      if (typeof v !== 'number') throw new InputError(`${file}: ${where}, point ${j} has a non-numeric coordinate (${describe(v)})`);
      if (!Number.isFinite(v) || Math.abs(v) > MAX_COORDINATE) throw new InputError(`${file}: ${where}, point ${j} has a non-finite or out-of-range coordinate (${v})`);
      flat[2 * j + k] = v;
    }
  });
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (let j = 0; j < POINTS; j++) {
    x0 = Math.min(x0, flat[2 * j]!); x1 = Math.max(x1, flat[2 * j]!);
    y0 = Math.min(y0, flat[2 * j + 1]!); y1 = Math.max(y1, flat[2 * j + 1]!);
  }
  const eye = (from: number) => [0, 1].map((c) => flat.subarray(2 * from, 2 * (from + 6)).filter((_, i) => i % 2 === c).reduce((a, b) => a + b, 0) / 6);
  const [l, r] = [eye(36), eye(42)];
  if (Math.max(x1 - x0, y1 - y0) < MIN_SPREAD || Math.hypot(l[0]! - r[0]!, l[1]! - r[1]!) < MIN_SPREAD) {
    throw new InputError(`${file}: ${where} is collapsed (its points span ${Math.max(x1 - x0, y1 - y0).toFixed(2)} px, eyes ${Math.hypot(l[0]! - r[0]!, l[1]! - r[1]!).toFixed(2)} px apart)`);
  }
  return flat;
}

/**
 * Reads a keypoints JSON (`points` for an image, `frames` for a sequence) and checks all of it:
 * the layout, `size` and `fps` when present, and every frame's 68 finite [x, y] points, not
 * collapsed onto one spot. Throws InputError naming the file and what is wrong.
 */
export function readKeypointDoc(file: string): KeypointDoc {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8')) as typeof json; // its fields are checked below
  } catch (cause) {
    const reason = (cause as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file'
      : (cause as NodeJS.ErrnoException).code === 'EISDIR' ? 'is a directory' : 'not valid JSON';
    throw new InputError(`${file}: not a readable keypoints JSON file (${reason})`, { cause });
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new InputError(`${file}: a keypoints file must hold a JSON object, got ${describe(json)}`);
  const doc = json as Record<string, unknown>;
  if (doc.layout !== 'ibug68') throw new InputError(`${file}: keypoint layout must be "ibug68", got ${JSON.stringify(doc.layout)}`);
  let size: [number, number] = [0, 0];
  if (doc.size !== undefined) {
    const v = doc.size;
    if (!Array.isArray(v) || v.length !== 2 || !v.every((n) => typeof n === 'number' && Number.isFinite(n) && n > 0 && n <= MAX_COORDINATE)) {
      throw new InputError(`${file}: "size" must be [width, height] in pixels, got ${JSON.stringify(v)}`);
    }
    size = [v[0] as number, v[1] as number];
  }
  if (doc.fps !== undefined && doc.fps !== null && !(typeof doc.fps === 'number' && doc.fps > 0 && doc.fps <= 240)) {
    throw new InputError(`${file}: "fps" must be a number in (0, 240], got ${JSON.stringify(doc.fps)}`);
  }
  let seq: unknown[];
  if (doc.frames !== undefined) {
    if (!Array.isArray(doc.frames)) throw new InputError(`${file}: "frames" must be a list of frames, got ${describe(doc.frames)}`);
    seq = doc.frames;
  } else if (doc.points !== undefined) {
    seq = [doc.points];
  } else {
    throw new InputError(`${file}: no keypoints (neither "frames" nor "points")`);
  }
  if (seq.length === 0) throw new InputError(`${file}: no keypoints ("frames" is empty)`);
  const frames = seq.map((pts, i) => readFrame(file, doc.frames !== undefined ? `frame ${i}` : '"points"', pts));
  return { size, fps: doc.fps ?? null, frames };
}
