/**
 * Driving keypoints from a guide: a keypoint JSON, a video's `NAME.keypoints.json` sidecar, or the
 * model's parser on every decoded frame. Shared by `animate`/`interpolate`/`batch` and `guide`.
 */
import { InputError } from '../errors';
import { decodeVideo, probeVideo } from '../media/video';
import { forwardParser } from '../pipeline/analysis';
import type { DurianPipeline } from '../pipeline/durian-pipeline';
import { findKeypointSidecar, readKeypointDoc } from './sidecars';

export interface GuideKeypoints {
  /** One flat [x0, y0, …] (68 points) per frame, in the pixels of `size`. */
  keypoints: Float32Array[];
  fps: number;
  size: [number, number];
  source: 'json' | 'sidecar' | 'parser';
}

export async function readGuide(p: DurianPipeline, guide: string, maxFrames?: number): Promise<GuideKeypoints> {
  let result: GuideKeypoints;
  if (guide.toLowerCase().endsWith('.json')) {
    const doc = readKeypointDoc(guide);
    result = { keypoints: doc.frames.slice(0, maxFrames), fps: doc.fps ?? 25, size: doc.size, source: 'json' };
  } else {
    const info = await probeVideo(guide);
    const sidecar = findKeypointSidecar(guide);
    if (sidecar) {
      const doc = readKeypointDoc(sidecar);
      result = { keypoints: doc.frames.slice(0, maxFrames), fps: info.fps, size: doc.size, source: 'sidecar' };
    } else {
      const frames = await decodeVideo(guide, { width: p.width, height: p.height, maxFrames });
      const keypoints: Float32Array[] = [];
      for (const f of frames) keypoints.push((await forwardParser(p, f.data)).keypoints);
      result = { keypoints, fps: info.fps, size: [p.width, p.height], source: 'parser' };
    }
  }
  if (result.keypoints.length === 0) throw new InputError(`${guide}: no frames`);
  return result;
}
