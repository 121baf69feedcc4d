/**
 * The real-face front end (docs/face.md): MediaPipe's face detector, face mesh and selfie segmenter
 * (converted to ONNX in models/face) turned into what the pipeline needs — 68 iBUG keypoints,
 * the 468 mesh points and class masks for a photo; smoothed 68-point tracks for a video.
 */
import path from 'node:path';

import { InputError, ModelFileError } from '../errors';
import type { RgbImage } from '../media/pixels';
import { createAnchors, normalizeDetections, prepareDetectorInput, type Detection, type DetectorSettings } from './detector';
import { getNumberFact, getOutputName, getSquareInput, type FaceGraphEntry } from './face-manifest';
import { FaceSessions, type FaceSessionOptions } from './face-sessions';
import { toIbug68 } from './ibug68';
import { createFaceMasks, type FaceMaskClass } from './masks';
import { MESH_NUM_POINTS, normalizeMeshOutput, prepareMeshInput, type MeshResult } from './mesh';
import type { Box } from './nms';
import type { ValueRange } from './nhwc';
import { getRoiFromDetection, getRoiFromLandmarks, type FaceRoi } from './roi';
import { normalizeSegmenterOutput, prepareSegmenterInput } from './segmenter';
import { trackFrames, type FaceModels, type TrackVideoOptions, type VideoFaceFrame } from './tracker';

/** models/face of this package (the same from src/ under ts-jest and from dist/). */
export function getDefaultFaceModelDir(): string {
  return path.resolve(__dirname, '..', '..', 'models', 'face');
}

/** What analyseImage finds in a photo (image pixels throughout). */
export interface FaceAnalysis {
  /** 68 keypoints flat [x0, y0, …] in the iBUG layout. */
  keypoints68: Float32Array;
  /** [468, 3] mesh points: x, y, relative z. */
  points468: Float32Array;
  /** The detector's box of the face. */
  box: Box;
  /** Detector score and the mesh's face score, both in [0, 1]. */
  detectionScore: number;
  faceScore: number;
  /** Class masks [H, W] in [0, 1]; see masks.ts for what each one really is. */
  masks: Record<FaceMaskClass, Float32Array>;
}

/** A tracked video: per-frame results and the share of frames with a face. */
export interface FaceTrack {
  frames: VideoFaceFrame[];
  trackedFraction: number;
}

/** Graph I/O and settings read from the face manifest once. */
interface FaceGraphSpecs {
  detector: { input: string; side: number; range: ValueRange; settings: DetectorSettings; anchors: Float32Array; regressors: string; scores: string };
  mesh: { input: string; side: number; range: ValueRange; cropScale: number; minFaceScore: number; landmarks: string; flag: string };
  segmenter: { input: string; side: number; range: ValueRange; mask: string };
}

/** The manifest's normalisation (on 0–255 values) as a mapping of [0, 1] values. */
function getRange(entry: FaceGraphEntry): ValueRange {
  return { scale: entry.normalization.scale * 255, offset: entry.normalization.offset };
}

function readSpecs(sessions: FaceSessions): FaceGraphSpecs {
  const { detector: d, mesh: m, segmenter: s } = sessions.manifest.graphs;
  const at = (key: string) => `${path.join(sessions.dir, 'manifest.json')}: graphs.${key}`;
  const layers = (d.anchors as { layers?: { grid: number; per_cell: number }[] } | undefined)?.layers ?? [];
  const anchors = createAnchors(layers.map((l) => ({ size: l.grid, perCell: l.per_cell })));
  const dIn = getSquareInput(d, at('detector')), mIn = getSquareInput(m, at('mesh')), sIn = getSquareInput(s, at('segmenter'));
  if (getNumberFact(d, 'anchors.count', at('detector')) !== anchors.length / 2) {
    throw new ModelFileError(`${at('detector')}: anchors.count does not match its layers`);
  }
  if (getNumberFact(m, 'num_landmarks', at('mesh')) !== MESH_NUM_POINTS) throw new ModelFileError(`${at('mesh')}: expected ${MESH_NUM_POINTS} landmarks`);
  return {
    detector: {
      input: dIn.name, side: dIn.side, range: getRange(d), anchors,
      settings: { side: dIn.side, regressorScale: getNumberFact(d, 'regressor_scale', at('detector')), minScore: getNumberFact(d, 'min_score', at('detector')), minSuppressionIou: getNumberFact(d, 'nms_iou', at('detector')) },
      regressors: getOutputName(d, 'regressors', at('detector')), scores: getOutputName(d, 'classificators', at('detector')),
    },
    mesh: {
      input: mIn.name, side: mIn.side, range: getRange(m), cropScale: getNumberFact(m, 'crop.scale', at('mesh')), minFaceScore: getNumberFact(m, 'redetect_below', at('mesh')),
      landmarks: getOutputName(m, 'landmarks', at('mesh')), flag: getOutputName(m, 'face_flag', at('mesh')),
    },
    segmenter: { input: sIn.name, side: sIn.side, range: getRange(s), mask: getOutputName(s, 'mask', at('segmenter')) },
  };
}

/** The three face graphs with their pre- and post-processing; release() when done. */
export class FaceFrontEnd implements FaceModels {
  private constructor(private readonly sessions: FaceSessions, private readonly specs: FaceGraphSpecs) {}

  /** Loads the three graphs of a face model directory (sha256-checked against its manifest). */
  static async fromModelDir(dir = getDefaultFaceModelDir(), options: FaceSessionOptions = {}): Promise<FaceFrontEnd> {
    const sessions = await FaceSessions.create(dir, options);
    try {
      return new FaceFrontEnd(sessions, readSpecs(sessions));
    } catch (error) {
      await sessions.release();
      throw error;
    }
  }

  /** Face threshold of the tracker (the manifest's `redetect_below`). */
  get minFaceScore(): number {
    return this.specs.mesh.minFaceScore;
  }

  /** Every face in the image, best first, in image pixels. */
  async detectFaces(img: RgbImage): Promise<Detection[]> {
    const d = this.specs.detector;
    const input = prepareDetectorInput(img, d.side, d.range);
    const out = await this.sessions.run('detector', { [d.input]: { data: input.tensor, dims: [1, d.side, d.side, 3] } });
    return normalizeDetections(out[d.regressors]!.data, out[d.scores]!.data, d.anchors, input.transform, d.settings);
  }

  /** The mesh on an ROI: 468 points in image pixels and the face score. */
  async detectLandmarks(img: RgbImage, roi: FaceRoi): Promise<MeshResult> {
    const m = this.specs.mesh;
    const tensor = prepareMeshInput(img, roi, m.side, m.range);
    const out = await this.sessions.run('mesh', { [m.input]: { data: tensor, dims: [1, m.side, m.side, 3] } });
    return normalizeMeshOutput(out[m.landmarks]!.data, out[m.flag]!.data[0]!, roi, m.side);
  }

  roiFromDetection(d: Detection): FaceRoi {
    return getRoiFromDetection(d, this.specs.mesh.cropScale);
  }

  roiFromLandmarks(points: Float32Array): FaceRoi {
    return getRoiFromLandmarks(points, 3, this.specs.mesh.cropScale);
  }

  /** Person probability [H, W] of the selfie segmenter. */
  async segmentPerson(img: RgbImage): Promise<Float32Array> {
    const s = this.specs.segmenter;
    const tensor = prepareSegmenterInput(img, s.range, s.side);
    const out = await this.sessions.run('segmenter', { [s.input]: { data: tensor, dims: [1, s.side, s.side, 3] } });
    return normalizeSegmenterOutput(out[s.mask]!.data, img.width, img.height, s.side);
  }

  /**
   * Keypoints, mesh, box and masks of the best-scoring face of a photo. The mesh runs twice, the
   * second time on the ROI of its own first landmarks (as on a tracked frame), which is better
   * aligned than the detector's. Throws InputError when no face is found.
   */
  async analyseImage(img: RgbImage): Promise<FaceAnalysis> {
    const [best] = await this.detectFaces(img);
    if (!best) throw new InputError('no face found in the image', { suggestion: 'Use a photo with one clearly visible, roughly frontal face.' });
    let mesh = await this.detectLandmarks(img, this.roiFromDetection(best));
    if (mesh.score >= this.minFaceScore) mesh = await this.detectLandmarks(img, this.roiFromLandmarks(mesh.points));
    if (mesh.score < this.minFaceScore) {
      throw new InputError(`a face was detected but the face mesh rejects it (score ${mesh.score.toFixed(2)})`);
    }
    const person = await this.segmentPerson(img);
    return {
      keypoints68: toIbug68(mesh.points), points468: mesh.points, box: best.box,
      detectionScore: best.score, faceScore: mesh.score,
      masks: createFaceMasks(img.width, img.height, mesh.points, person),
    };
  }

  /**
   * Tracks one face through video frames (an array, or a generator that decodes as it goes);
   * keypoints are One-Euro smoothed unless `smoothing: false`.
   */
  async trackVideo(frames: Iterable<RgbImage> | AsyncIterable<RgbImage>, options: TrackVideoOptions): Promise<FaceTrack> {
    const out = await trackFrames(this, frames, { minFaceScore: this.minFaceScore, ...options });
    if (out.length === 0) throw new InputError('no video frames to track');
    return { frames: out, trackedFraction: out.filter((f) => f.tracked).length / out.length };
  }

  async release(): Promise<void> {
    await this.sessions.release();
  }
}
