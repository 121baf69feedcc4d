/**
 * The package entry (`require('durian')`): durian as a library. README.md, "Use as a library",
 * shows a job end to end; docs/architecture.md places this layer (src/job) among the others.
 */
export { animate, interpolate, loadModel, Model, type LoadModelOptions } from './job/api';
export type { JobHooks, JobResult } from './job/run-job';
export {
  ANALYSERS,
  JOB_DEFAULTS,
  type Analyser,
  type AnimateSpec,
  type AttributeSpec,
  type InterpolateSpec,
  type JobOptions,
  type SchedulerName,
} from './job/spec';
export { DEVICES, type Device } from './onnx/providers';
export { DEFAULT_MODEL_DIR, DEFAULT_MODELS_DIR } from './pipeline/model-store';
export {
  DurianError,
  InferenceError,
  InputError,
  InterruptedError,
  ModelFileError,
  ProviderError,
  UsageError,
  type DurianErrorOptions,
} from './errors';
