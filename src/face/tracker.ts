/**
 * Single-face video tracking as MediaPipe's face-mesh graph does it: detect on the first frame,
 * then take each frame's ROI from the previous frame's landmarks, and detect again only when the
 * mesh's face score drops below the threshold (or no face was found). The graphs come in through
 * `FaceModels`, so the logic is testable without ONNX Runtime.
 */
import type { RgbImage } from '../media/pixels';
import { toIbug68 } from './ibug68';
import type { MeshResult } from './mesh';
import type { Detection } from './nms';
import { OneEuroFilter, type OneEuroParams } from './one-euro';
import type { FaceRoi } from './roi';

/** What the tracker needs from the graphs. */
export interface FaceModels {
  /** Faces in image pixels, best first. */
  detectFaces(img: RgbImage): Promise<Detection[]>;
  /** Mesh on the ROI crop: points in image pixels and the face score. */
  detectLandmarks(img: RgbImage, roi: FaceRoi): Promise<MeshResult>;
  /** ROI of a detection (crop scale from the manifest). */
  roiFromDetection(d: Detection): FaceRoi;
  /** ROI from mesh landmarks. */
  roiFromLandmarks(points: Float32Array): FaceRoi;
}

/** One frame's tracking result. */
export interface TrackedFrame {
  /** The mesh found a face (score ≥ threshold) on this frame. */
  tracked: boolean;
  /** The detector ran on this frame (first frame, or the track was lost). */
  detected: boolean;
  /** The last mesh run of this frame, when one ran (also on a lost frame, for its score). */
  mesh: MeshResult | undefined;
  /** Milliseconds spent in detection (with its pre/post-processing) and in the mesh. */
  detectMs: number;
  meshMs: number;
}

export interface TrackerOptions {
  /** Face score below which the track counts as lost (MediaPipe: 0.5). */
  minFaceScore?: number;
}

export class FaceTracker {
  private roi: FaceRoi | undefined;
  readonly minFaceScore: number;

  constructor(private readonly models: FaceModels, options: TrackerOptions = {}) {
    this.minFaceScore = options.minFaceScore ?? 0.5;
  }

  /** Forgets the track; the next frame runs the detector. */
  reset(): void {
    this.roi = undefined;
  }

  /** Tracks one frame. */
  async track(frame: RgbImage): Promise<TrackedFrame> {
    let meshMs = 0;
    let mesh: MeshResult | undefined;
    // 1. Follow the previous frame's landmarks
    if (this.roi) {
      const t = performance.now();
      mesh = await this.models.detectLandmarks(frame, this.roi);
      meshMs += performance.now() - t;
      if (mesh.score >= this.minFaceScore) {
        this.roi = this.models.roiFromLandmarks(mesh.points);
        return { tracked: true, detected: false, mesh, detectMs: 0, meshMs };
      }
    }
    // 2. Lost or first frame: detect, take the best face
    const t0 = performance.now();
    const faces = await this.models.detectFaces(frame);
    const detectMs = performance.now() - t0;
    this.roi = undefined;
    const best = faces[0];
    if (!best) return { tracked: false, detected: true, mesh, detectMs, meshMs };
    const t1 = performance.now();
    mesh = await this.models.detectLandmarks(frame, this.models.roiFromDetection(best));
    meshMs += performance.now() - t1;
    const tracked = mesh.score >= this.minFaceScore;
    if (tracked) this.roi = this.models.roiFromLandmarks(mesh.points);
    return { tracked, detected: true, mesh, detectMs, meshMs };
  }
}

/** A tracked video frame with its 68 keypoints. */
export interface VideoFaceFrame extends TrackedFrame {
  /** 68 keypoints in image pixels, One-Euro smoothed (raw when smoothing is off); null when lost. */
  keypoints68: Float32Array | null;
  /** The same before smoothing. */
  rawKeypoints68: Float32Array | null;
}

export interface TrackVideoOptions extends TrackerOptions {
  /** Frame rate, for the filter's time stamps. */
  fps: number;
  /** One Euro parameters, or false for raw keypoints. */
  smoothing?: OneEuroParams | false;
  /** Called after each frame (progress). */
  onFrame?: (index: number, frame: VideoFaceFrame) => void;
}

/** Distance between the outer eye corners of 68 keypoints (36, 45): the face size for the filter. */
export function getInterocular(kp: Float32Array): number {
  return Math.hypot(kp[90]! - kp[72]!, kp[91]! - kp[73]!);
}

/**
 * Tracks every frame; smooths the 68 keypoints of tracked frames with a One Euro filter (speed in
 * inter-ocular distances per second), restarting the filter after a lost frame.
 */
export async function trackFrames(models: FaceModels, frames: Iterable<RgbImage> | AsyncIterable<RgbImage>,
  options: TrackVideoOptions): Promise<VideoFaceFrame[]> {
  const tracker = new FaceTracker(models, options);
  const filter = options.smoothing === false ? undefined : new OneEuroFilter(options.smoothing);
  const out: VideoFaceFrame[] = [];
  let index = 0;
  for await (const frame of frames) {
    const r = await tracker.track(frame);
    const raw = r.tracked && r.mesh ? toIbug68(r.mesh.points) : null;
    let smooth = raw;
    if (!raw) filter?.reset();
    else if (filter) smooth = filter.apply(raw, index / options.fps, getInterocular(raw));
    const result: VideoFaceFrame = { ...r, keypoints68: smooth, rawKeypoints68: raw };
    options.onFrame?.(index, result);
    out.push(result);
    index++;
  }
  return out;
}
