/**
 * `durian guide`: extract the keypoint guidance of a video (and retarget it onto an identity) for
 * inspection or reuse — as a keypoint JSON or as a video of the rendered keypoint images; with
 * `--masks`, also the face front end's per-frame class masks. The job is src/job/guide-job.ts.
 */
import { Command, Option } from 'commander';

import { UsageError } from '../../errors';
import { FaceLoader } from '../../job/face-loader';
import { preflightGuideJob, runGuideJob, type GuideJobSpec } from '../../job/guide-job';
import { ANALYSERS, type Analyser } from '../../job/spec';
import { DEVICES } from '../../onnx/providers';
import { loadPipeline } from '../../pipeline/load';
import { DEFAULT_MODEL_DIR } from '../../pipeline/model-store';
import type { CliContext } from '../context';
import { onInterrupt } from '../interrupt';
import { DEFAULTS, resolvePrecisionFlag, resolveProviderFlag } from '../options';
import { cleanUpAfter, precisionOption } from './generate';

interface GuideFlags {
  video: string;
  analyser: Analyser;
  identity?: string;
  output: string;
  frames?: string;
  masks?: string;
  model: string;
  provider: string;
  precision: string;
  json: boolean;
  force: boolean;
}

/** Flags → a guide job. */
function toGuideJob(f: GuideFlags): GuideJobSpec {
  const frames = f.frames === undefined ? undefined : Number(f.frames);
  if (frames !== undefined && (!Number.isInteger(frames) || frames <= 0)) throw new UsageError(`--frames must be a positive integer, got "${f.frames}"`);
  return { video: f.video, output: f.output, identity: f.identity, frames, masks: f.masks, analyser: f.analyser, overwrite: f.force };
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
    .option('--model <dir>', 'model directory (parser, face template, keypoint style)', DEFAULT_MODEL_DIR)
    .addOption(new Option('--analyser <how>', 'keypoints of video and identity: sidecar files, the model parser, the real-face front end, or auto (sidecars, else a domain check)').choices([...ANALYSERS]).default(DEFAULTS.analyser))
    .addOption(new Option('--provider <device>', 'execution provider').choices([...DEVICES]).default(DEFAULTS.provider))
    .addOption(precisionOption())
    .option('--json', 'print one JSON object with the result', false)
    .option('--force', 'overwrite an existing output', false)
    .action(async (f: GuideFlags) => {
      const spec = toGuideJob(f);
      const device = resolveProviderFlag(f.provider);
      const precision = resolvePrecisionFlag(f.precision);
      // inputs and output checked, and the output claimed, before the model loads
      const face = new FaceLoader();
      let releaseClaim: () => void = () => {};
      let clean: () => void = () => {};
      let pipeline: Awaited<ReturnType<typeof loadPipeline>>['pipeline'] | undefined;
      try {
        releaseClaim = await preflightGuideJob(spec, face.get);
        clean = onInterrupt(cleanUpAfter(f.output, releaseClaim));
        ({ pipeline } = await loadPipeline(f.model, device, { precision }));
        const result = await runGuideJob(pipeline, spec, face.get);
        ctx.stdout(f.json ? JSON.stringify({ ok: true, ...result, unet_precision: pipeline.unetPrecision,
          vae_decoder_precision: pipeline.precisions.vae_decoder }) : result.output);
      } finally {
        clean();
        releaseClaim();
        await face.release();
        await pipeline?.release();
      }
    });
}
