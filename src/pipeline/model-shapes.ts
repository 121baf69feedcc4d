/**
 * The manifest's numbers against its graphs' fixed dimensions, checked when a pipeline is made: a
 * model whose resolution, VAE scale or latent channels disagree with its graphs fails at load with
 * the file and the numbers, not in the middle of a run.
 */
import { ModelFileError } from '../errors';
import type { Manifest } from '../onnx/manifest';

/**
 * Throws ModelFileError (naming `where`) where the graphs' inputs are not what the manifest's
 * resolution, vae_scale_factor and latent_channels make them; returns whether the ReferenceNets
 * take the mask as an extra latent channel.
 */
export function checkGraphShapes(m: Manifest, where: string): boolean {
  const [height, width] = m.resolution;
  const scale = m.vae_scale_factor;
  const C = m.latent_channels;
  if (height % scale || width % scale) {
    throw new ModelFileError(`${where}: resolution ${height}×${width} is not a multiple of vae_scale_factor ${scale}`);
  }
  // the graphs' fixed dimensions must be the ones the manifest's numbers imply
  const h = height / scale;
  const w = width / scale;
  const expect: [graph: 'vae_encoder' | 'vae_decoder' | 'unet', input: string, dims: (number | undefined)[]][] = [
    ['vae_encoder', 'sample', [undefined, 3, height, width]],
    ['vae_decoder', 'latent', [undefined, C, h, w]],
    ['unet', 'sample', [undefined, C, undefined, h, w]],
  ];
  for (const [graph, input, dims] of expect) {
    const shape = m.graphs[graph].inputs.find((t) => t.name === input)?.shape;
    if (shape && shape.some((d, i) => typeof d === 'number' && dims[i] !== undefined && d !== dims[i])) {
      throw new ModelFileError(`${where}: graphs.${graph} input "${input}" is [${shape.join(', ')}], but resolution ${height}×${width}, `
        + `vae_scale_factor ${scale} and latent_channels ${C} make it [${dims.map((d) => d ?? '*').join(', ')}]`);
    }
  }
  const refIn = m.graphs.prnet.inputs[0].shape[1];
  if (refIn !== C && refIn !== C + 1) {
    throw new ModelFileError(`${where}: graphs.prnet takes ${String(refIn)} channels; latent_channels ${C} needs ${C} or ${C + 1} (with the mask)`);
  }
  return refIn === C + 1;
}
