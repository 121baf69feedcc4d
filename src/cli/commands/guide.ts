/**
 * `durian guide`: extract the keypoint guidance of a video (and retarget it onto an identity) for
 * inspection or reuse — as a keypoint JSON or as a video of the rendered keypoint images.
 */
import { existsSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import { Command, Option } from 'commander';

import { UsageError } from '../../errors';
import { retargetKeypoints } from '../../face/retarget';
import { renderKeypoints, type KeypointSpec } from '../../media/keypoint-render';
import { readImage } from '../../media/image';
import { encodeVideo } from '../../media/video';
import { DEVICES } from '../../onnx/providers';
import { alignPortrait } from '../../pipeline/analysis';
import { loadPipeline } from '../../pipeline/load';
import type { CliContext } from '../context';
import { FaceLoader } from '../face-loader';
import { readGuide } from '../guide-source';
import { ANALYSERS, DEFAULTS, resolveProviderFlag, type Analyser } from '../options';
import { findKeypointSidecar, readKeypointDoc } from '../sidecars';
import { DEFAULT_MODEL } from './generate';

interface GuideFlags {
  video: string;
  analyser: Analyser;
  identity?: string;
  output: string;
  frames?: string;
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
    .option('--identity <image>', 'retarget the motion onto this portrait (relative displacements, face-size normalised)')
    .requiredOption('-o, --output <file>', 'guide.json (keypoints) or a video of the rendered guidance (.mp4, .webm, .gif)')
    .option('--frames <n>', 'at most this many frames')
    .option('--model <dir>', 'model directory (parser, face template, keypoint style)', DEFAULT_MODEL)
    .addOption(new Option('--analyser <how>', 'keypoints of video and identity: sidecar files, the model parser, the real-face front end, or auto (sidecars, else a domain check)').choices([...ANALYSERS]).default(DEFAULTS.analyser))
    .addOption(new Option('--provider <device>', 'execution provider').choices([...DEVICES]).default(DEFAULTS.provider))
    .option('--json', 'print one JSON object with the result', false)
    .option('--force', 'overwrite an existing output', false)
    .action(async (f: GuideFlags) => {
      const frames = f.frames === undefined ? undefined : Number(f.frames);
      if (frames !== undefined && (!Number.isInteger(frames) || frames <= 0)) throw new UsageError(`--frames must be a positive integer, got "${f.frames}"`);
      if (existsSync(f.output) && !f.force) throw new UsageError(`${f.output} exists`, { suggestion: 'Pass --force to overwrite it.' });
      const { pipeline } = await loadPipeline(f.model, resolveProviderFlag(f.provider));
      const face = new FaceLoader();
      try {
        const guide = await readGuide(pipeline, f.video, frames, { analyser: f.analyser, face: face.get });
        let kps = guide.keypoints;
        let size = guide.size;
        if (f.identity) {
          const sidecar = findKeypointSidecar(f.identity);
          const useSidecar = f.analyser === 'auto' || f.analyser === 'sidecar';
          const id = await alignPortrait(pipeline, await readImage(f.identity), {
            keypoints: sidecar && useSidecar ? readKeypointDoc(sidecar).frames[0] : undefined,
          }, { analyser: f.analyser === 'sidecar' ? 'auto' : f.analyser, face: face.get });
          kps = retargetKeypoints(id.keypoints, kps);
          size = [pipeline.width, pipeline.height];
        }
        if (f.output.toLowerCase().endsWith('.json')) {
          const doc = { layout: 'ibug68', size, fps: guide.fps, source: guide.source, retargeted: Boolean(f.identity),
            frames: kps.map((k) => Array.from({ length: 68 }, (_, i) => [+k[2 * i]!.toFixed(3), +k[2 * i + 1]!.toFixed(3)])) };
          const tmp = path.join(path.dirname(f.output), `.${path.basename(f.output)}.partial-${process.pid}`);
          writeFileSync(tmp, JSON.stringify(doc));
          renameSync(tmp, f.output);
        } else {
          const spec = pipeline.manifest.keypoint_image as KeypointSpec;
          const [w, h] = size;
          const scale = [pipeline.width / w, pipeline.height / h];
          const images = kps.map((k) => {
            const moved = Float32Array.from(k, (v, i) => v * scale[i % 2]!);
            return { data: renderKeypoints(moved, pipeline.height, pipeline.width, spec), width: pipeline.width, height: pipeline.height };
          });
          await encodeVideo(images, f.output, { fps: guide.fps, force: f.force });
        }
        const result = { ok: true, output: path.resolve(f.output), frames: kps.length, fps: guide.fps, source: guide.source,
          ...(guide.trackedFraction === undefined ? {} : { trackedFraction: guide.trackedFraction }), retargeted: Boolean(f.identity) };
        ctx.stdout(f.json ? JSON.stringify(result) : result.output);
      } finally {
        await face.release();
        await pipeline.release();
      }
    });
}
