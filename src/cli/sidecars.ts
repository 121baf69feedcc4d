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

/** Reads a keypoints JSON (`points` for an image, `frames` for a sequence). */
export function readKeypointDoc(file: string): KeypointDoc {
  let json: { layout?: string; size?: [number, number]; fps?: number | null; points?: number[][]; frames?: number[][][] };
  try {
    json = JSON.parse(readFileSync(file, 'utf8')) as typeof json; // its fields are checked below
  } catch (cause) {
    throw new InputError(`${file}: not a readable keypoints JSON file`, { cause });
  }
  if (json.layout !== 'ibug68') throw new InputError(`${file}: keypoint layout must be "ibug68", got ${JSON.stringify(json.layout)}`);
  const seq = json.frames ?? (json.points ? [json.points] : undefined);
  if (!seq || seq.length === 0) throw new InputError(`${file}: no keypoints`);
  const frames = seq.map((pts, i) => {
    if (!Array.isArray(pts) || pts.length !== 68) throw new InputError(`${file}: frame ${i} has ${pts?.length} points, expected 68`);
    return Float32Array.from(pts.flat());
  });
  return { size: json.size ?? [0, 0], fps: json.fps ?? null, frames };
}
