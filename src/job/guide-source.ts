/**
 * Driving keypoints from a guide: a keypoint JSON, a video's `NAME.keypoints.json` sidecar, the
 * model's parser on every decoded frame (synthetic videos), or the real-face front end tracking
 * the video (real talking heads). Shared by `animate`/`interpolate`/`batch` and `guide`.
 */
import { InputError } from '../errors';
import type { FaceFrontEnd } from '../face/front-end';
import { toIbug68Points3d } from '../face/ibug68';
import type { RgbImage } from '../media/pixels';
import { decodeVideo, probeFrames, streamVideoFrames, type VideoInfo } from '../media/video';
import { checkDomain, forwardParser, type AnalyseOptions } from '../pipeline/analysis';
import type { DurianPipeline } from '../pipeline/durian-pipeline';
import type { Analyser } from './spec';
import { findKeypointSidecar, readKeypointDoc } from './sidecars';

export interface GuideKeypoints {
  /** One flat [x0, y0, …] (68 points) per frame, in the pixels of `size`. */
  keypoints: Float32Array[];
  fps: number;
  size: [number, number];
  source: 'json' | 'sidecar' | 'parser' | 'face';
  /** Face tracking: share of frames with a face (lost frames hold the nearest tracked keypoints). */
  trackedFraction?: number;
  /** Face tracking: per frame, whether a face was found. */
  tracked?: boolean[];
  /** Face tracking: per frame the face mesh's 3-D points of the 68 keypoints (null on a lost frame), for retargeting. */
  points3d?: (Float32Array | null)[];
  /** Face tracking with `keepTrack`: what was tracked, for per-frame masks. */
  track?: GuideTrack;
}

/** The decoded frames the face front end tracked, and their mesh points. */
export interface GuideTrack {
  /** The frames, in the pixels of the guide's `size`. */
  frames: RgbImage[];
  /** Per frame the [468, 3] mesh points (x, y in those pixels, relative z); null on a lost frame. */
  points: (Float32Array | null)[];
}

/** Real videos are tracked at their own size, down-scaled to this longer side at most. */
const MAX_TRACK_SIDE = 640;

/** `sidecar` and `auto` use a keypoint sidecar when there is one; `auto` then checks the domain. */
export interface GuideOptions {
  analyser?: Analyser;
  face?: AnalyseOptions['face'];
  /** Keep the decoded frames and mesh points of face tracking as `track` (they hold memory). */
  keepTrack?: boolean;
}

export async function readGuide(p: DurianPipeline, guide: string, maxFrames?: number,
  options: GuideOptions = {}): Promise<GuideKeypoints> {
  let result: GuideKeypoints;
  const analyser = options.analyser ?? 'auto';
  if (guide.toLowerCase().endsWith('.json')) {
    const doc = readKeypointDoc(guide);
    result = { keypoints: doc.frames.slice(0, maxFrames), fps: doc.fps ?? 25, size: doc.size, source: 'json' };
  } else {
    const info = await probeFrames(guide);
    const sidecar = analyser === 'auto' || analyser === 'sidecar' ? findKeypointSidecar(guide) : undefined;
    if (sidecar) {
      const doc = readKeypointDoc(sidecar);
      result = { keypoints: doc.frames.slice(0, maxFrames), fps: info.fps, size: doc.size, source: 'sidecar' };
    } else {
      if (analyser === 'sidecar') throw new InputError(`${guide}: --analyser sidecar but no keypoints sidecar found`);
      const face = analyser === 'parser' ? undefined : await options.face?.();
      if (analyser === 'face' && !face) throw new InputError('--analyser face needs the face models (models/face), which are not installed');
      const size = { width: p.width, height: p.height };
      const first = (await decodeVideo(guide, { ...size, maxFrames: 1 }))[0]!;
      if (face && (analyser === 'face' || (await checkDomain(p, first, face)).domain?.domain === 'real')) {
        result = await trackGuide(face, guide, info, maxFrames, options.keepTrack ?? false);
      } else {
        const keypoints: Float32Array[] = [];
        for await (const f of streamVideoFrames(guide, { ...size, ...(maxFrames ? { maxFrames } : {}) })) {
          keypoints.push((await forwardParser(p, f.data)).keypoints);
        }
        result = { keypoints, fps: info.fps, size: [p.width, p.height], source: 'parser' };
      }
    }
  }
  if (result.keypoints.length === 0) throw new InputError(`${guide}: no frames`);
  return result;
}

/** Tracks the face through the video at (about) its own resolution; smoothed 68-point keypoints. */
async function trackGuide(face: FaceFrontEnd, guide: string, info: VideoInfo, maxFrames: number | undefined,
  keepTrack: boolean): Promise<GuideKeypoints> {
  const scale = Math.min(1, MAX_TRACK_SIDE / Math.max(info.width, info.height));
  const width = Math.max(2, Math.round(info.width * scale)), height = Math.max(2, Math.round(info.height * scale));
  // decoded chunk by chunk as the tracker goes (a long video never sits in memory whole), unless
  // the caller keeps the frames for per-frame masks
  const frames: RgbImage[] = [];
  async function* decoded(): AsyncGenerator<RgbImage> {
    for await (const f of streamVideoFrames(guide, { width, height, ...(maxFrames ? { maxFrames } : {}) })) {
      if (keepTrack) frames.push(f);
      yield f;
    }
  }
  const track = await face.trackVideo(decoded(), { fps: info.fps });
  const found = track.frames.map((f) => f.keypoints68);
  const first = found.findIndex((k) => k !== null);
  if (first < 0) throw new InputError(`${guide}: no face found in any frame`, { suggestion: 'Use a video with one clearly visible face.' });
  // a lost frame holds the last tracked keypoints (the first tracked ones before any were found)
  let last = found[first]!;
  const keypoints = found.map((k) => (last = k ?? last));
  const tracked = track.frames.map((f) => f.tracked);
  const points3d = track.frames.map((f) => (f.tracked && f.mesh ? toIbug68Points3d(f.mesh.points) : null));
  return {
    keypoints, fps: info.fps, size: [width, height], source: 'face', trackedFraction: track.trackedFraction, tracked, points3d,
    ...(keepTrack ? { track: { frames, points: track.frames.map((f) => (f.tracked && f.mesh ? f.mesh.points : null)) } } : {}),
  };
}
