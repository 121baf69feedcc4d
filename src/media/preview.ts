/**
 * The preview sheet of a generation job: one PNG showing what went in and what came out, three
 * rows of model-size tiles — aligned identity | masked portrait | its mask | each attribute
 * reference and its mask; then the guidance (keypoint images) and the generated frames below one
 * another, sampled evenly over the video.
 */
import { writePng } from './image';
import type { RgbImage } from './pixels';

/** A reference as the model sees it: image [3, H, W] in [0, 1] and mask [H, W]. */
export interface PreviewReference {
  image: Float32Array;
  mask: Float32Array;
}

/** Keypoint images drawn on demand: `at(i)` is frame i's [3, H, W] image for 0 ≤ i < length. */
export interface PreviewPoses {
  readonly length: number;
  at(index: number): Float32Array | undefined;
}

export interface PreviewInputs {
  /** The identity image aligned to the model's face template. */
  identity: Float32Array;
  portrait: PreviewReference;
  attributes: PreviewReference[];
  poses: PreviewPoses;
  /** The generated frames, [3, H, W] each. */
  frames: Float32Array[];
  width: number;
  height: number;
}

/** A mask [H, W] as a grey [3, H, W] tile. */
function grey(m: Float32Array): Float32Array {
  const out = new Float32Array(3 * m.length);
  out.set(m, 0); out.set(m, m.length); out.set(m, 2 * m.length);
  return out;
}

/** The frames the sheet shows: as many as its top row has tiles (at least 4), spread evenly. A job
 * that streams its frames keeps only these. */
export function previewFrameIndices(frames: number, attributes: number): number[] {
  const n = Math.min(Math.max(3 + 2 * attributes, 4), frames);
  return Array.from({ length: n }, (_, i) => Math.floor((i * frames) / n));
}

/** The sheet as one image, white where a row has fewer tiles than the widest. `frames` may be
 * sparse: only previewFrameIndices are read. */
export function drawPreview(inputs: PreviewInputs): RgbImage {
  const { portrait, attributes, poses, frames, width: W, height: H } = inputs;
  const top = [inputs.identity, portrait.image, grey(portrait.mask), ...attributes.flatMap((a) => [a.image, grey(a.mask)])];
  const shown = previewFrameIndices(frames.length, attributes.length).map((i) => frames[i]!);
  const posed = shown.map((_, i) => poses.at(Math.floor((i * poses.length) / shown.length))!);
  const rows = [top, posed, shown];
  const cols = Math.max(...rows.map((r) => r.length));
  const img = new Float32Array(3 * rows.length * H * cols * W).fill(1);
  const width = cols * W;
  rows.forEach((row, r) =>
    row.forEach((tile, c) => {
      for (let ch = 0; ch < 3; ch++) {
        for (let y = 0; y < H; y++) {
          const dst = ch * rows.length * H * width + (r * H + y) * width + c * W;
          img.set(tile.subarray(ch * H * W + y * W, ch * H * W + (y + 1) * W), dst);
        }
      }
    }),
  );
  return { data: img, width, height: rows.length * H };
}

/** Draws the sheet and writes it as a PNG (through a temporary name, as writePng does). */
export async function writePreview(file: string, inputs: PreviewInputs): Promise<void> {
  await writePng(file, drawPreview(inputs));
}
