/**
 * A session run through ONNX Runtime's IOBinding by way of its C API (capi.ts): buffers of its own
 * in the provider's memory for every input and output, and on CUDA the provider's graph capture.
 */
import { ProviderError } from '../errors';
import { OrtCApi, ORT_LOGGING_LEVEL_ERROR, type Koffi } from './capi';
import { feedMismatch, sizeOf, type FloatArray } from './tensor';

const ORT_ENABLE_ALL = 99;
const ORT_ARENA_ALLOCATOR = 1;
const ORT_MEM_TYPE_DEFAULT = 0;
const ONNX_TENSOR_FLOAT = 1;
const CUDA_MEMCPY_HOST_TO_DEVICE = 1;
const CUDA_MEMCPY_DEVICE_TO_HOST = 2;

/** The CUDA runtime's copies (libcudart, which the CUDA provider itself loads). */
interface CudaRuntime {
  memcpy(dst: unknown, src: unknown, bytes: number, kind: number): number;
  synchronize(): number;
  setDevice(device: number): number;
}

let cudaRuntime: CudaRuntime | undefined;
function loadCudaRuntime(koffi: Koffi): CudaRuntime {
  if (cudaRuntime) return cudaRuntime;
  const tried: string[] = [];
  for (const name of ['libcudart.so.13', 'libcudart.so.12', 'libcudart.so']) {
    try {
      const lib = koffi.load(name);
      cudaRuntime = {
        memcpy: lib.func('int cudaMemcpy(void* dst, const void* src, size_t count, int kind)') as CudaRuntime['memcpy'],
        synchronize: lib.func('int cudaDeviceSynchronize()') as CudaRuntime['synchronize'],
        setDevice: lib.func('int cudaSetDevice(int device)') as CudaRuntime['setDevice'],
      };
      return cudaRuntime;
    } catch (error) {
      tried.push(`${name}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  throw new ProviderError(`the CUDA runtime library could not be loaded (${tried.join('; ')})`);
}

export interface BoundSessionOptions {
  provider: 'cpu' | 'cuda';
  deviceId?: number;
  /** CUDA: capture the run as a CUDA graph and replay it (fixed shapes and fixed buffers only). */
  cudaGraph?: boolean;
  intraOpNumThreads?: number;
}

/** One input's or output's buffer: an OrtValue in the provider's memory, and where its data are. */
interface Buffer {
  dims: number[];
  bytes: number;
  value: unknown;
  data: bigint;
  /** The feed last copied in (inputs): the same array object and dims are not copied again. */
  last?: Float32Array;
}

function sameDims(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/**
 * A session run through IOBinding: every input and output has a buffer of its own in the
 * provider's memory (device memory on CUDA), bound once. A run copies in only the feeds that are
 * not the very arrays (same object, same dims) that the last run copied, and copies the outputs
 * out. With `cudaGraph`, ONNX Runtime captures the run and replays it, which needs the buffers to
 * stay where they are: shapes may not change after the first run.
 */
export class BoundSession {
  private readonly inputs = new Map<string, Buffer>();
  private readonly outputs = new Map<string, Buffer>();
  private runs = 0;
  private released = false;

  private constructor(
    private readonly api: OrtCApi,
    private readonly session: unknown,
    private readonly binding: unknown,
    private readonly runOptions: unknown,
    private readonly allocator: unknown,
    private readonly ownsAllocator: boolean,
    private readonly cuda: CudaRuntime | null,
    readonly inputNames: readonly string[],
    readonly outputNames: readonly string[],
    readonly options: Readonly<BoundSessionOptions>,
  ) {}

  /** A session of `model` (ONNX bytes) on the provider, with its binding. Throws ProviderError. */
  static create(model: Uint8Array, options: BoundSessionOptions): BoundSession {
    const api = OrtCApi.get();
    const cuda = options.provider === 'cuda' ? loadCudaRuntime(api.koffi) : null;
    const deviceId = options.deviceId ?? 0;
    const opts = api.out('CreateSessionOptions');
    let session: unknown = null;
    try {
      // errors only, as the plain sessions (runtime.ts): warnings would flood a terminal per shape
      api.ok('SetSessionLogSeverityLevel', opts, ORT_LOGGING_LEVEL_ERROR);
      api.ok('SetSessionGraphOptimizationLevel', opts, ORT_ENABLE_ALL);
      if (options.intraOpNumThreads) api.ok('SetIntraOpNumThreads', opts, options.intraOpNumThreads);
      if (cuda) {
        const cudaOpts = api.out('CreateCUDAProviderOptions');
        try {
          const keys = ['device_id', 'enable_cuda_graph'];
          const values = [String(deviceId), options.cudaGraph ? '1' : '0'];
          api.ok('UpdateCUDAProviderOptions', cudaOpts, keys, values, keys.length);
          api.ok('SessionOptionsAppendExecutionProvider_CUDA_V2', opts, cudaOpts);
        } finally {
          api.call('ReleaseCUDAProviderOptions', cudaOpts);
        }
        if (cuda.setDevice(deviceId) !== 0) throw new ProviderError(`cudaSetDevice(${deviceId}) failed`);
      }
      session = api.out('CreateSessionFromArray', api.env, model, model.byteLength, opts);
    } catch (error) {
      if (session) api.call('ReleaseSession', session);
      throw error instanceof ProviderError ? error : new ProviderError(`could not create a bound session on ${options.provider}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    } finally {
      api.call('ReleaseSessionOptions', opts);
    }
    const defaultAllocator = api.out('GetAllocatorWithDefaultOptions');
    const names = (count: 'SessionGetInputCount' | 'SessionGetOutputCount', get: 'SessionGetInputName' | 'SessionGetOutputName') => {
      const n = Number(api.out<number | bigint>(count, session));
      return Array.from({ length: n }, (_, i) => {
        const p = api.out(get, session, i, defaultAllocator);
        const name = api.koffi.decode.string(p);
        api.ok('AllocatorFree', defaultAllocator, p);
        return name;
      });
    };
    const inputNames = names('SessionGetInputCount', 'SessionGetInputName');
    const outputNames = names('SessionGetOutputCount', 'SessionGetOutputName');
    let allocator = defaultAllocator;
    let owns = false;
    if (cuda) {
      const info = api.out('CreateMemoryInfo', 'Cuda', ORT_ARENA_ALLOCATOR, deviceId, ORT_MEM_TYPE_DEFAULT);
      try {
        allocator = api.out('CreateAllocator', session, info);
        owns = true;
      } finally {
        api.call('ReleaseMemoryInfo', info);
      }
    }
    const binding = api.out('CreateIoBinding', session);
    const runOptions = api.out('CreateRunOptions');
    return new BoundSession(api, session, binding, runOptions, allocator, owns, cuda, inputNames, outputNames, options);
  }

  /** Runs the session: `feeds` for every input, `outputDims` the shape of every output. */
  async run(feeds: Record<string, FloatArray>, outputDims: Record<string, readonly number[]>): Promise<Record<string, FloatArray>> {
    if (this.released) throw new ProviderError('the bound session was released');
    const mismatch = feedMismatch(this.inputNames, feeds);
    if (mismatch) throw new ProviderError(mismatch);
    for (const name of this.inputNames) this.feed(name, feeds[name]!);
    for (const name of this.outputNames) {
      const dims = outputDims[name];
      if (!dims) throw new ProviderError(`no shape given for output "${name}"`);
      this.buffer(this.outputs, name, dims, 'BindOutput');
    }
    if (this.cuda) {
      // the copies above ran on the default stream; the provider's own stream must see them
      if (this.cuda.synchronize() !== 0) throw new ProviderError('cudaDeviceSynchronize failed before the run');
    }
    // on the CPU in a worker thread (a run takes long enough to hold up progress output); on CUDA on
    // this thread: a CUDA run from koffi's worker threads crashed the process on the H200 host
    // (SIGSEGV, this session's device calls), and a GPU run returns in milliseconds
    if (this.cuda) this.api.ok('RunWithBinding', this.session, this.runOptions, this.binding);
    else await this.api.okAsync('RunWithBinding', this.session, this.runOptions, this.binding);
    if (this.cuda) this.api.ok('SynchronizeBoundOutputs', this.binding);
    this.runs++;
    const result: Record<string, FloatArray> = {};
    for (const name of this.outputNames) {
      const b = this.outputs.get(name)!;
      const data = new Float32Array(b.bytes / 4);
      if (this.cuda) {
        if (this.cuda.memcpy(data, b.data, b.bytes, CUDA_MEMCPY_DEVICE_TO_HOST) !== 0) throw new ProviderError(`copying output "${name}" from the device failed`);
      } else {
        data.set(new Float32Array(this.api.koffi.view(b.data, b.bytes)));
      }
      result[name] = { data, dims: [...b.dims] };
    }
    return result;
  }

  /** Runs so far. */
  get runCount(): number {
    return this.runs;
  }

  private feed(name: string, feed: FloatArray): void {
    const b = this.buffer(this.inputs, name, feed.dims, 'BindInput');
    const data = feed.data;
    if (data.length * 4 !== b.bytes) throw new ProviderError(`feed "${name}" has ${data.length} values for dims [${feed.dims.join(', ')}]`);
    if (b.last === data) return;
    if (this.cuda) {
      if (this.cuda.memcpy(b.data, data, b.bytes, CUDA_MEMCPY_HOST_TO_DEVICE) !== 0) throw new ProviderError(`copying input "${name}" to the device failed`);
    } else {
      new Float32Array(this.api.koffi.view(b.data, b.bytes)).set(data);
    }
    b.last = data;
  }

  /** The buffer of `name`, (re)made and bound when its shape changes. */
  private buffer(map: Map<string, Buffer>, name: string, dims: readonly number[], bind: 'BindInput' | 'BindOutput'): Buffer {
    const have = map.get(name);
    if (have && sameDims(have.dims, dims)) return have;
    if (have && this.options.cudaGraph && this.runs > 0) {
      throw new ProviderError(`"${name}" changed shape from [${have.dims.join(', ')}] to [${dims.join(', ')}] after a CUDA graph was captured`);
    }
    if (have) this.api.call('ReleaseValue', have.value);
    const shape = BigInt64Array.from(dims.map((d) => BigInt(d)));
    const value = this.api.out('CreateTensorAsOrtValue', this.allocator, shape, dims.length, ONNX_TENSOR_FLOAT);
    const data = this.api.out('GetTensorMutableData', value);
    const b: Buffer = { dims: [...dims], bytes: sizeOf(dims) * 4, value, data };
    map.set(name, b);
    this.api.ok(bind, this.binding, name, value);
    return b;
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    this.api.call('ReleaseIoBinding', this.binding);
    for (const b of [...this.inputs.values(), ...this.outputs.values()]) this.api.call('ReleaseValue', b.value);
    this.inputs.clear();
    this.outputs.clear();
    this.api.call('ReleaseRunOptions', this.runOptions);
    if (this.ownsAllocator) this.api.call('ReleaseAllocator', this.allocator);
    this.api.call('ReleaseSession', this.session);
  }
}
