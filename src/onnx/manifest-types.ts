/* Generated from tools/export/durian_export/manifest.schema.json by scripts/gen-manifest-types.js
 * (npm run gen:manifest-types). Do not edit: change the schema and regenerate. */

/**
 * manifest.json of a durian model directory: written by tools/export (manifest.py), read by the CLI (src/onnx/manifest.ts). This file is the one contract: Python validates with jsonschema, TypeScript with ajv, and src/onnx/manifest-types.ts is generated from it (npm run gen:manifest-types). Invalid and valid examples that both validators must agree on: manifest.cases.json beside this file.
 */
export interface DurianManifest {
  /**
   * Bumped when graph I/O or a field's meaning changes.
   */
  format_version: 1;
  name: string;
  /**
   * [height, width] of the images the graphs take and produce, in pixels.
   *
   * @minItems 2
   * @maxItems 2
   */
  resolution: [number, number];
  /**
   * Channels of the VAE latent.
   */
  latent_channels: number;
  /**
   * Image pixels per latent pixel along each axis (2 ** the VAE's downsamplings).
   */
  vae_scale_factor: number;
  /**
   * VAE latents are multiplied by this before the denoiser.
   */
  latent_scale: number;
  /**
   * Element type of every graph input and output.
   */
  dtype?: 'float32' | 'float16';
  /**
   * How the weights are stored in the files (float16 storage still computes in float32).
   */
  weights_dtype?: 'float32' | 'float16';
  /**
   * Attribute classes the model transfers; each is also a mask class.
   *
   * @minItems 1
   */
  attribute_classes: ['hair' | 'hat' | 'glasses' | 'beard', ...('hair' | 'hat' | 'glasses' | 'beard')[]];
  /**
   * Channels of the parser's masks output, in order.
   *
   * @minItems 2
   */
  mask_classes: [string, string, ...string[]];
  keypoint_layout: 'ibug68';
  num_keypoints?: 68;
  /**
   * Hidden states per ReferenceNet (hidden_0 … hidden_{n-1}).
   */
  reference_layers: number;
  /**
   * Heads of the UNet's spatial attention. With the hidden states' token counts it sizes a UNet call's attention scores, which the CLI keeps under 2^31 elements per call (the most a cuDNN tensor takes). Absent: the CLI assumes 8.
   */
  attention_heads?: number;
  embed_dim?: number;
  pose_channels?: number;
  /**
   * Where the model expects a face: 68 keypoints (x, y interleaved) as fractions of the width and height.
   *
   * @minItems 136
   * @maxItems 136
   */
  face_template: [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number
  ];
  keypoint_image: KeypointImage;
  /**
   * Per graph, the value range of its image input or output.
   */
  image_range?: {
    /**
     * @minItems 2
     * @maxItems 2
     */
    [k: string]: [number, number];
  };
  /**
   * Value of the masked-out pixels of a reference image.
   */
  masked_fill?: number;
  /**
   * Sampling defaults chosen for this model; the CLI's flags override them.
   */
  defaults?: {
    /**
     * Classifier-free guidance scale. The default 4 was chosen for models/durian-synth on the benchmark's validation split (docs/training.md).
     */
    guidance_scale?: number;
    /**
     * DDIM's eta: 0 is deterministic, 1 draws fresh (seeded) noise at every step. Applies to the ddim scheduler only. Chosen per model on the benchmark's validation split (docs/training.md).
     */
    eta?: number;
    /**
     * Correlation of the sampling noise between neighbouring frames, in [0, 1): each frame's noise is this fraction of the previous frame's plus fresh noise, keeping unit variance (frames k apart correlate by its k-th power). Applies to the initial latents and to DDIM's per-step noise. 0 draws every frame independently. Chosen per model on the benchmark's validation split (docs/training.md).
     */
    noise_correlation?: number;
  };
  graphs: {
    vae_encoder: Graph;
    vae_decoder: Graph;
    prnet: Graph;
    arnet: Graph;
    pose_guider: Graph;
    unet: Graph;
    parser: Graph;
    [k: string]: Graph;
  };
}
/**
 * How keypoints are drawn as the pose guider's input image (src/media/keypoint-render.ts and keypoint_image.py).
 */
export interface KeypointImage {
  /**
   * Dot sigma in pixels at 256 px; scales with min(H, W) / 256.
   */
  sigma_per_pixel_of_256: number;
  /**
   * @minItems 1
   */
  groups: [KeypointGroup, ...KeypointGroup[]];
}
/**
 * Keypoints [start, end) drawn in one colour (RGB in [0, 1]).
 */
export interface KeypointGroup {
  name: string;
  start: number;
  end: number;
  /**
   * @minItems 3
   * @maxItems 3
   */
  colour: [number, number, number];
}
/**
 * One ONNX file of the model directory, its sha256 and its ordered inputs and outputs.
 */
export interface Graph {
  /**
   * A file name inside the model directory.
   */
  file: string;
  sha256: string;
  /**
   * @minItems 1
   */
  inputs: [Tensor, ...Tensor[]];
  /**
   * @minItems 1
   */
  outputs: [Tensor, ...Tensor[]];
  /**
   * float16: the graph computes in float16 (durian_export.half); its I/O stays float32.
   */
  compute_dtype?: 'float32' | 'float16';
}
/**
 * One graph input or output; a string in the shape is a symbolic (dynamic) dimension.
 */
export interface Tensor {
  name: string;
  dtype: 'float32' | 'float16' | 'bfloat16' | 'float64' | 'int64' | 'int32' | 'uint8' | 'bool';
  shape: (number | string)[];
}
