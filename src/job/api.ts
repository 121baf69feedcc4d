/**
 * durian as a library: load a model once, run jobs on it, release it. What the `durian animate`
 * and `durian interpolate` commands do, without spawning them: each job checks its inputs and
 * claims its output (preflight.ts), runs (run-job.ts) and leaves either the whole output or none.
 */
import { throwIfAborted, UsageError } from '../errors';
import { getDefaultFaceModelDir } from '../face/front-end';
import { resolveDevice, type Device } from '../onnx/providers';
import type { DurianPipeline } from '../pipeline/durian-pipeline';
import { loadPipeline } from '../pipeline/load';
import type { Precision } from '../pipeline/precision';
import { FaceLoader } from './face-loader';
import { preflightJob } from './preflight';
import { runJob, type JobHooks, type JobResult } from './run-job';
import { resolveJobSpec, type AnimateSpec, type InterpolateSpec, type JobSpec } from './spec';

export interface LoadModelOptions {
  /**
   * Where the graphs run: 'cpu', 'cuda', 'webgpu', or 'auto' (the default): CUDA, then WebGPU,
   * then the CPU, keeping the first whose sessions start (`Model.fallbacks` says why others did not).
   */
  provider?: Device;
  /** What the UNet computes in: 'auto' (the default: float16 on a GPU provider, float32 on the CPU),
   * 'float32' or 'float16' (made from a float32 model at load time). */
  precision?: Precision;
  /** The real-face front end's graphs, loaded when a job first needs them; default the package's models/face. */
  faceModelDir?: string;
}

interface ModelParts {
  pipeline: DurianPipeline;
  face: FaceLoader;
  /** The last job queued; the next one starts when it has settled. */
  tail: Promise<unknown>;
  released: boolean;
}

/** What the job functions reach through a Model; kept off the public type. */
const parts = new WeakMap<Model, ModelParts>();

/** A loaded model: its graphs' sessions on a provider. Jobs on one model run one after another. */
export class Model {
  /** The model directory. */
  readonly dir: string;
  /** The manifest's name. */
  readonly name: string;
  /** Frame size of everything the model makes. */
  readonly width: number;
  readonly height: number;
  /** The attribute classes the model transfers (an AttributeSpec.class is one of these, or auto). */
  readonly attributeClasses: readonly string[];
  /** The execution providers the sessions run on, preferred first. */
  readonly providers: readonly string[];
  /** With provider 'auto': the providers tried first, and why each did not start. */
  readonly fallbacks: readonly string[];

  private constructor(dir: string, pipeline: DurianPipeline, providers: readonly string[], fallbacks: readonly string[], face: FaceLoader) {
    this.dir = dir;
    this.name = pipeline.manifest.name;
    this.width = pipeline.width;
    this.height = pipeline.height;
    this.attributeClasses = [...pipeline.manifest.attribute_classes];
    this.providers = providers;
    this.fallbacks = fallbacks;
    parts.set(this, { pipeline, face, tail: Promise.resolve(), released: false });
  }

  /** loadModel's implementation (the constructor stays private). */
  static async load(dir: string, options: LoadModelOptions = {}): Promise<Model> {
    const device = resolveDevice(options.provider ?? 'auto');
    const { pipeline, providers, fallbacks } = await loadPipeline(dir, device, { precision: options.precision });
    return new Model(dir, pipeline, providers, fallbacks, new FaceLoader(options.faceModelDir ?? getDefaultFaceModelDir()));
  }

  /** Frees the sessions (after any job still running); the model cannot run jobs afterwards. */
  async release(): Promise<void> {
    const p = parts.get(this)!;
    if (p.released) return;
    p.released = true;
    await p.tail.catch(() => undefined);
    await p.face.release();
    await p.pipeline.release();
  }
}

/**
 * Loads the model in `dir` (a directory written by `python -m durian_export.export`, e.g.
 * models/durian-synth): checks its manifest and every graph's sha256, and starts its sessions.
 * Throws ModelFileError for a missing or broken model, ProviderError when no provider starts it.
 */
export function loadModel(dir: string, options: LoadModelOptions = {}): Promise<Model> {
  return Model.load(dir, options);
}

/** Queues one checked job on `model`: preflight (inputs, output claim), then the job itself. */
function runOn(model: Model, job: JobSpec, hooks: JobHooks): Promise<JobResult> {
  const p = parts.get(model);
  if (!p) throw new UsageError('not a model from loadModel()');
  if (p.released) throw new UsageError(`model ${model.dir} has been released`);
  const run = p.tail.catch(() => undefined).then(async () => {
    throwIfAborted(hooks.signal, 'the job');
    const releaseClaim = await preflightJob(job, p.face.get);
    try {
      return await runJob(p.pipeline, job, hooks, p.face.get);
    } finally {
      releaseClaim();
    }
  });
  p.tail = run;
  return run;
}

/**
 * Animates `spec.identity` wearing every attribute of `spec.attributes` (composed in one pass),
 * moving as `spec.guide`, and writes `spec.output`. Every input is checked before any frame is
 * generated. Rejects with UsageError (bad spec or output), InputError (an input refused),
 * InferenceError, or InterruptedError when `hooks.signal` aborts it.
 */
export async function animate(model: Model, spec: AnimateSpec, hooks: JobHooks = {}): Promise<JobResult> {
  return runOn(model, resolveJobSpec(spec, 'compose'), hooks);
}

/**
 * As animate, with two attributes blended: the second weighs `spec.alpha` (fixed, or [from, to]
 * sweeping over the video), the first 1 − alpha.
 */
export async function interpolate(model: Model, spec: InterpolateSpec, hooks: JobHooks = {}): Promise<JobResult> {
  return runOn(model, resolveJobSpec(spec, 'interpolate'), hooks);
}
