/**
 * `durian guide`: extract the keypoint guidance of a video (and retarget it onto an identity) for
 * inspection or reuse — as a keypoint JSON or as a video of the rendered keypoint images; with
 * `--masks`, also the face front end's per-frame class masks (training clips from real videos).
 */
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';

import { Command, Option } from 'commander';

import { UsageError } from '../../errors';
import type { FaceFrontEnd } from '../../face/front-end';
import { createFaceMasks, FACE_MASK_CLASSES, type FaceMaskClass } from '../../face/masks';
import { retargetKeypoints } from '../../face/retarget';
import { renderKeypoints } from '../../media/keypoint-render';
import { readImage, writeMask } from '../../media/image';
import { claimOutput, commitOutput, getPartialPath, prepareOutput, removePartial } from '../../media/output-file';
import { outputFormatFor } from '../../media/ffmpeg-args';
import { encodeVideo, probeFrames } from '../../media/video';
import { onInterrupt } from '../interrupt';
import { checkPortrait } from '../../job/preflight';
import { cleanUpAfter } from './generate';
import { DEVICES } from '../../onnx/providers';
import { alignPortrait } from '../../pipeline/analysis';
import { loadPipeline } from '../../pipeline/load';
import type { CliContext } from '../context';
import { FaceLoader } from '../../job/face-loader';
import { readGuide, type GuideTrack } from '../../job/guide-source';
import { ANALYSERS, type Analyser } from '../../job/spec';
import { DEFAULTS, resolveProviderFlag } from '../options';
import { findKeypointSidecar, readKeypointDoc } from '../../job/sidecars';
import { DEFAULT_MODEL } from './generate';

interface GuideFlags {
  video: string;
  analyser: Analyser;
  identity?: string;
  output: string;
  frames?: string;
  masks?: string;
  model: string;
  provider: string;
  json: boolean;
  force: boolean;
}

export function registerGuideCommand(program: Command, ctx: CliContext): void {
  program
    .command('guide')
    .description('extract (and retarget onto --identity) the keypoint guidance of a video')
    .requiredOption('--video <src>', 'driving video (mp4, webm, gif, PNG directory)')
    .option('--identity <image>', 'retarget the motion onto this portrait (head pose and expression relative to the first frame, on the face of the portrait)')
    .requiredOption('-o, --output <file>', 'guide.json (keypoints) or a video of the rendered guidance (.mp4, .webm, .gif)')
    .option('--frames <n>', 'at most this many frames')
    .option('--masks <dir>', 'also write the face front end\'s class masks of every video frame as <dir>/<frame>_<class>.png (8-bit, the tracked frame size; needs --analyser face or auto finding a real face)')
    .option('--model <dir>', 'model directory (parser, face template, keypoint style)', DEFAULT_MODEL)
    .addOption(new Option('--analyser <how>', 'keypoints of video and identity: sidecar files, the model parser, the real-face front end, or auto (sidecars, else a domain check)').choices([...ANALYSERS]).default(DEFAULTS.analyser))
    .addOption(new Option('--provider <device>', 'execution provider').choices([...DEVICES]).default(DEFAULTS.provider))
    .option('--json', 'print one JSON object with the result', false)
    .option('--force', 'overwrite an existing output', false)
    .action(async (f: GuideFlags) => {
      const frames = f.frames === undefined ? undefined : Number(f.frames);
      if (frames !== undefined && (!Number.isInteger(frames) || frames <= 0)) throw new UsageError(`--frames must be a positive integer, got "${f.frames}"`);
      if (existsSync(f.output) && !f.force) throw new UsageError(`${f.output} exists`, { suggestion: 'Pass --force to overwrite it.' });
      if (f.masks !== undefined) {
        if (f.analyser === 'parser' || f.analyser === 'sidecar' || f.video.toLowerCase().endsWith('.json')) throw masksNeedFace(f.analyser === 'parser' ? 'parser' : 'a keypoint file');
        await prepareMaskDir(path.resolve(f.masks), f.force);
      }
      // inputs and output checked, and the output claimed, before the model loads
      const face = new FaceLoader();
      const isJson = f.output.toLowerCase().endsWith('.json');
      const target = path.resolve(f.output.replace(/\/+$/, ''));
      let releaseClaim: () => void = () => {};
      let clean: () => void = () => {};
      let pipeline: Awaited<ReturnType<typeof loadPipeline>>['pipeline'] | undefined;
      try {
        if (f.video.toLowerCase().endsWith('.json')) readKeypointDoc(f.video);
        else await probeFrames(f.video);
        if (f.identity) await checkPortrait(f.identity, '--identity', face.get);
        await prepareOutput(target, isJson || outputFormatFor(f.output) !== 'png' ? 'file' : 'directory', f.force);
        releaseClaim = claimOutput(target);
        clean = onInterrupt(cleanUpAfter(f.output, releaseClaim));
        ({ pipeline } = await loadPipeline(f.model, resolveProviderFlag(f.provider)));
        const guide = await readGuide(pipeline, f.video, frames, { analyser: f.analyser, face: face.get, keepTrack: f.masks !== undefined });
        if (f.masks !== undefined) {
          const fe = await face.get();
          if (guide.source !== 'face' || !guide.track || !fe) throw masksNeedFace(guide.source);
          await writeMasks(fe, guide.track, guide.size, path.resolve(f.masks));
        }
        let kps = guide.keypoints;
        let size = guide.size;
        if (f.identity) {
          const sidecar = findKeypointSidecar(f.identity);
          const useSidecar = f.analyser === 'auto' || f.analyser === 'sidecar';
          const id = await alignPortrait(pipeline, await readImage(f.identity), {
            keypoints: sidecar && useSidecar ? readKeypointDoc(sidecar).frames[0] : undefined,
          }, { analyser: f.analyser === 'sidecar' ? 'auto' : f.analyser, face: face.get });
          kps = retargetKeypoints(id.keypoints, kps, { driving3d: guide.points3d });
          size = [pipeline.width, pipeline.height];
        }
        if (f.output.toLowerCase().endsWith('.json')) {
          const doc = { layout: 'ibug68', size, fps: guide.fps, source: guide.source, retargeted: Boolean(f.identity),
            ...(guide.tracked === undefined ? {} : { tracked: guide.tracked }),
            frames: kps.map((k) => Array.from({ length: 68 }, (_, i) => [+k[2 * i]!.toFixed(3), +k[2 * i + 1]!.toFixed(3)])) };
          const tmp = getPartialPath(target, 'file');
          try {
            writeFileSync(tmp, JSON.stringify(doc));
            await commitOutput(tmp, target, 'file', f.force);
          } finally {
            await removePartial(tmp);
          }
        } else {
          const p = pipeline;
          const spec = p.manifest.keypoint_image;
          const [w, h] = size;
          const scale = [p.width / w, p.height / h];
          const images = kps.map((k) => {
            const moved = Float32Array.from(k, (v, i) => v * scale[i % 2]!);
            return { data: renderKeypoints(moved, p.height, p.width, spec), width: p.width, height: p.height };
          });
          await encodeVideo(images, f.output, { fps: guide.fps, force: f.force });
        }
        const result = { ok: true, output: path.resolve(f.output), frames: kps.length, fps: guide.fps, source: guide.source,
          ...(guide.trackedFraction === undefined ? {} : { trackedFraction: guide.trackedFraction }), retargeted: Boolean(f.identity),
          ...(f.masks === undefined ? {} : { masks: path.resolve(f.masks) }) };
        ctx.stdout(f.json ? JSON.stringify(result) : result.output);
      } finally {
        clean();
        releaseClaim();
        await face.release();
        await pipeline?.release();
      }
    });
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
