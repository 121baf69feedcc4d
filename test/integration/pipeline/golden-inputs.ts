import { readFileSync } from 'node:fs';
import path from 'node:path';

import { renderKeypoints, type KeypointSpec } from '../../../src/media/keypoint-render';
import type { DurianPipeline, RunInputs } from '../../../src/pipeline/durian-pipeline';

/** The tiny model's golden case (test/fixtures/onnx-tiny/golden.json). */
interface Golden {
  size: number;
  portrait: number[];
  portrait_mask: number[];
  attr: number[];
  attr_mask: number[];
  keypoints: number[][];
}

export const TINY_MODEL = path.resolve(__dirname, '..', '..', 'fixtures', 'onnx-tiny');

const golden = JSON.parse(readFileSync(path.join(TINY_MODEL, 'golden.json'), 'utf8')) as Golden;

/** The golden case's references and `frames` keypoint images (its keypoints over and over). */
export function goldenInputs(p: DurianPipeline, frames: number): RunInputs & { poseImages: Float32Array[] } {
  const spec = p.manifest.keypoint_image as KeypointSpec;
  return {
    portrait: { image: Float32Array.from(golden.portrait), mask: Float32Array.from(golden.portrait_mask) },
    attributes: [{ image: Float32Array.from(golden.attr), mask: Float32Array.from(golden.attr_mask) }],
    groups: [[0]],
    weights: new Float32Array(frames).fill(1),
    poseImages: Array.from({ length: frames }, (_, i) =>
      renderKeypoints(Float32Array.from(golden.keypoints[i % golden.keypoints.length]!), golden.size, golden.size, spec)),
  };
}
