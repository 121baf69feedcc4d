/**
 * A guide job: the keypoint guidance of a video (retargeted onto an identity when one is given),
 * written for inspection or reuse as a keypoint JSON or as a video of the rendered keypoint images;
 * optionally also the face front end's per-frame class masks (training clips from real videos).
 */
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';

import { UsageError } from '../errors';
import type { FaceFrontEnd } from '../face/front-end';
import { createFaceMasks, FACE_MASK_CLASSES, type FaceMaskClass } from '../face/masks';
import { retargetKeypoints } from '../face/retarget';
import { outputFormatFor } from '../media/ffmpeg-args';
import { readImage, writeMask } from '../media/image';
import { renderKeypoints } from '../media/keypoint-render';
import { claimOutput, commitOutput, getPartialPath, prepareOutput, removePartial } from '../media/output-file';
import { probeFrames } from '../media/video';
import { encodeVideo } from '../media/video-writer';
import { alignPortrait, type AnalyseOptions } from '../pipeline/analysis';
import type { DurianPipeline } from '../pipeline/durian-pipeline';
import { readGuide, type GuideKeypoints, type GuideTrack } from './guide-source';
import { checkPortrait } from './preflight';
import { findKeypointSidecar, readKeypointDoc } from './sidecars';
import type { Analyser } from './spec';

export interface GuideJobSpec {
  /** Driving video (mp4, webm, gif, a PNG directory) or keypoint sequence (.json). */
  video: string;
  /** guide.json (keypoints), or a video of the rendered guidance (.mp4, .webm, .gif) or a PNG directory. */
  output: string;
  /** Retarget the motion onto this portrait. */
  identity?: string;
  /** At most this many frames. */
  frames?: number;
  /** Also write the face front end's class masks of every frame into this directory. */
  masks?: string;
  analyser: Analyser;
  overwrite: boolean;
}

export interface GuideJobResult {
  output: string;
  frames: number;
  fps: number;
  source: GuideKeypoints['source'];
  /** Face tracking: share of frames with a face. */
  trackedFraction?: number;
  retargeted: boolean;
  masks?: string;
}

type FaceGetter = NonNullable<AnalyseOptions['face']>;

function isJson(file: string): boolean {
  return file.toLowerCase().endsWith('.json');
}

function masksNeedFace(source: string): UsageError {
  return new UsageError(`--masks needs the video analysed by the face front end, but its keypoints come from ${source}`, {
    suggestion: 'Pass --analyser face with a video of a real face.',
  });
}

/** Mask files of a frame: `0000_face.png`. A --force run replaces a directory holding only these. */
const MASK_FILE = /^\d+_[a-z]+\.png$/;

async function prepareMaskDir(dir: string, force: boolean): Promise<void> {
  if (!force || !existsSync(dir)) return prepareOutput(dir, 'directory', force);
  const others = readdirSync(dir).filter((name) => !MASK_FILE.test(name));
  if (others.length > 0) throw new UsageError(`${dir} holds files other than masks (${others.slice(0, 3).join(', ')}); refusing to replace it`);
}

/**
 * Everything about a guide job that can be checked before the model loads: the output is not
 * replaced by accident, masks are asked of an analyser that makes them, the video (or keypoint
 * file) reads, the identity is a portrait. Then claims the output; returns the claim's release.
 */
export async function preflightGuideJob(spec: GuideJobSpec, face: FaceGetter): Promise<() => void> {
  if (existsSync(spec.output) && !spec.overwrite) throw new UsageError(`${spec.output} exists`, { suggestion: 'Pass --force to overwrite it.' });
  if (spec.masks !== undefined) {
    if (spec.analyser === 'parser' || spec.analyser === 'sidecar' || isJson(spec.video)) throw masksNeedFace(spec.analyser === 'parser' ? 'parser' : 'a keypoint file');
    await prepareMaskDir(path.resolve(spec.masks), spec.overwrite);
  }
  if (isJson(spec.video)) readKeypointDoc(spec.video);
  else await probeFrames(spec.video);
  if (spec.identity) await checkPortrait(spec.identity, '--identity', face);
  const target = path.resolve(spec.output.replace(/\/+$/, ''));
  await prepareOutput(target, isJson(spec.output) || outputFormatFor(spec.output) !== 'png' ? 'file' : 'directory', spec.overwrite);
  return claimOutput(target);
}

/** Runs a guide job whose preflight passed: reads the guide, writes masks and the output. */
export async function runGuideJob(p: DurianPipeline, spec: GuideJobSpec, face: FaceGetter): Promise<GuideJobResult> {
  const guide = await readGuide(p, spec.video, spec.frames, { analyser: spec.analyser, face, keepTrack: spec.masks !== undefined });
  if (spec.masks !== undefined) {
    const fe = await face();
    if (guide.source !== 'face' || !guide.track || !fe) throw masksNeedFace(guide.source);
    await writeMasks(fe, guide.track, guide.size, path.resolve(spec.masks));
  }
  let kps = guide.keypoints;
  let size = guide.size;
  if (spec.identity) {
    const sidecar = findKeypointSidecar(spec.identity);
    const useSidecar = spec.analyser === 'auto' || spec.analyser === 'sidecar';
    const id = await alignPortrait(p, await readImage(spec.identity), {
      keypoints: sidecar && useSidecar ? readKeypointDoc(sidecar).frames[0] : undefined,
    }, { analyser: spec.analyser === 'sidecar' ? 'auto' : spec.analyser, face });
    kps = retargetKeypoints(id.keypoints, kps, { driving3d: guide.points3d });
    size = [p.width, p.height];
  }
  const target = path.resolve(spec.output.replace(/\/+$/, ''));
  if (isJson(spec.output)) {
    const doc = { layout: 'ibug68', size, fps: guide.fps, source: guide.source, retargeted: Boolean(spec.identity),
      ...(guide.tracked === undefined ? {} : { tracked: guide.tracked }),
      frames: kps.map((k) => Array.from({ length: 68 }, (_, i) => [+k[2 * i]!.toFixed(3), +k[2 * i + 1]!.toFixed(3)])) };
    const tmp = getPartialPath(target, 'file');
    try {
      writeFileSync(tmp, JSON.stringify(doc));
      await commitOutput(tmp, target, 'file', spec.overwrite);
    } finally {
      await removePartial(tmp);
    }
  } else {
    const kpSpec = p.manifest.keypoint_image;
    const [w, h] = size;
    const scale = [p.width / w, p.height / h];
    const images = kps.map((k) => {
      const moved = Float32Array.from(k, (v, i) => v * scale[i % 2]!);
      return { data: renderKeypoints(moved, p.height, p.width, kpSpec), width: p.width, height: p.height };
    });
    await encodeVideo(images, spec.output, { fps: guide.fps, force: spec.overwrite });
  }
  return { output: path.resolve(spec.output), frames: kps.length, fps: guide.fps, source: guide.source,
    ...(guide.trackedFraction === undefined ? {} : { trackedFraction: guide.trackedFraction }), retargeted: Boolean(spec.identity),
    ...(spec.masks === undefined ? {} : { masks: path.resolve(spec.masks) }) };
}

/**
 * Per-frame class masks of a tracked video, as FaceFrontEnd.analyseImage makes them for a photo:
 * createFaceMasks over the frame's mesh and the selfie segmenter's person mask. A lost frame holds
 * the previous frame's masks (the first tracked frame's before any). Written into a temporary
 * directory that is renamed onto `dir` when complete.
 */
async function writeMasks(face: FaceFrontEnd, track: GuideTrack, size: [number, number], dir: string): Promise<void> {
  const [width, height] = size;
  const first = track.points.findIndex((p) => p !== null);
  const maskFrame = async (i: number): Promise<Record<FaceMaskClass, Float32Array>> =>
    createFaceMasks(width, height, track.points[i]!, await face.segmentPerson(track.frames[i]!));
  const partial = getPartialPath(dir, 'directory');
  try {
    await mkdir(partial);
    let masks: Record<FaceMaskClass, Float32Array> | undefined;
    for (let i = 0; i < track.frames.length; i++) {
      if (track.points[i] !== null) masks = await maskFrame(i);
      else masks ??= await maskFrame(first);
      for (const c of FACE_MASK_CLASSES) {
        await writeMask(path.join(partial, `${String(i).padStart(4, '0')}_${c}.png`), { data: masks[c], width, height });
      }
    }
    await commitOutput(partial, dir, 'directory');
  } catch (error) {
    await removePartial(partial);
    throw error;
  }
}
