/**
 * The face front end for a job (or a command's jobs), loaded on first use only (most synthetic
 * inputs never need it) and released with the pipeline. Its graphs are small and run on the CPU
 * provider.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';

import { FaceFrontEnd, getDefaultFaceModelDir } from '../face/front-end';

export class FaceLoader {
  private loading?: Promise<FaceFrontEnd | undefined>;

  constructor(private readonly dir = getDefaultFaceModelDir()) {}

  /** The front end, or undefined when models/face is not installed. */
  readonly get = (): Promise<FaceFrontEnd | undefined> => {
    this.loading ??= existsSync(path.join(this.dir, 'manifest.json')) ? FaceFrontEnd.fromModelDir(this.dir) : Promise.resolve(undefined);
    return this.loading;
  };

  async release(): Promise<void> {
    const face = await this.loading?.catch(() => undefined);
    this.loading = undefined;
    await face?.release();
  }
}
