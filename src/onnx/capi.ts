/**
 * ONNX Runtime's C API reached through an FFI (koffi), for what onnxruntime-node 1.30 does not
 * expose: IOBinding (inputs and outputs that live in the provider's own memory, copied only when
 * they change) and, on CUDA, the provider's graph capture (a whole run replayed as one CUDA graph,
 * without the per-kernel launch cost that bounds this model on a GPU: docs/performance.md).
 *
 * It loads the very libonnxruntime that onnxruntime-node ships (the same process-wide runtime and
 * the same CUDA provider library beside it) and calls its function table, `OrtApi`, by slot. The
 * slot numbers below are the positions of those members in `struct OrtApi` of the C API header,
 * which only ever appends members, so they hold for every runtime that has them (1.11 and later
 * for the ones used here).
 *
 * Written by hand because no maintained Node package exposes these parts of the C API; koffi does the
 * calling, and everything that can fail comes back as an OrtStatus that is turned into an Error.
 */
import path from 'node:path';

import { ProviderError } from '../errors';
import { ortLibraryDir } from './runtime';
import { feedMismatch, sizeOf, type FloatArray } from './tensor';

/** The parts of koffi used here (it is loaded lazily: a machine without it, or without its prebuilt
 * binary, still runs the plain binding). */
interface Koffi {
  load(path: string): { func(declaration: string): (...args: unknown[]) => unknown };
  decode: ((value: unknown, offsetOrType: unknown, type?: unknown) => unknown) & { string(ptr: unknown): string };
  call(ptr: unknown, proto: unknown, ...args: unknown[]): unknown;
  proto(result: unknown, params?: unknown): unknown;
  out(type: unknown): unknown;
  pointer(type: unknown): unknown;
  view(ptr: unknown, bytes: number): ArrayBuffer;
}
let koffiModule: Koffi | null | undefined;
function loadKoffi(): Koffi | null {
  if (koffiModule === undefined) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- optional, loaded on first use
      koffiModule = require('koffi') as Koffi;
    } catch {
      koffiModule = null;
    }
  }
  return koffiModule;
}

/** The C API version asked for: the lowest that has every member used here (CUDA provider options V2). */
const API_VERSION = 16;

/** Slots of the members used, in `struct OrtApi` (0-based). */
const SLOT = {
  GetErrorMessage: 2,
  CreateEnv: 3,
  CreateSessionFromArray: 8,
  CreateSessionOptions: 10,
  SetSessionLogSeverityLevel: 22,
  SetSessionGraphOptimizationLevel: 23,
  SetIntraOpNumThreads: 24,
  SessionGetInputCount: 30,
  SessionGetOutputCount: 31,
  SessionGetInputName: 36,
  SessionGetOutputName: 37,
  CreateRunOptions: 39,
  CreateTensorAsOrtValue: 48,
  GetTensorMutableData: 51,
  CreateMemoryInfo: 68,
  AllocatorFree: 76,
  GetAllocatorWithDefaultOptions: 78,
  ReleaseStatus: 93,
  ReleaseMemoryInfo: 94,
  ReleaseSession: 95,
  ReleaseValue: 96,
  ReleaseRunOptions: 97,
  ReleaseSessionOptions: 100,
  CreateAllocator: 131,
  ReleaseAllocator: 132,
  RunWithBinding: 133,
  CreateIoBinding: 134,
  ReleaseIoBinding: 135,
  BindInput: 136,
  BindOutput: 137,
  SynchronizeBoundOutputs: 203,
  SessionOptionsAppendExecutionProvider_CUDA_V2: 204,
  CreateCUDAProviderOptions: 205,
  UpdateCUDAProviderOptions: 206,
  ReleaseCUDAProviderOptions: 208,
} as const;

const ORT_LOGGING_LEVEL_ERROR = 3;
const ORT_ENABLE_ALL = 99;
const ORT_ARENA_ALLOCATOR = 1;
const ORT_MEM_TYPE_DEFAULT = 0;
const ONNX_TENSOR_FLOAT = 1;
const CUDA_MEMCPY_HOST_TO_DEVICE = 1;
const CUDA_MEMCPY_DEVICE_TO_HOST = 2;

/** The FFI's function table: each member of OrtApi used here, typed. */
interface Fns {
  [name: string]: (...args: unknown[]) => unknown;
}

/** Throws the message of a non-null OrtStatus `status` (and releases it). */
function throwStatus(fns: Fns, status: unknown, what: string): void {
  if (status == null || status === 0n) return;
  const message = fns.GetErrorMessage!(status) as string;
  fns.ReleaseStatus!(status);
  throw new Error(`${what}: ${message}`);
}

/** The C API of the runtime onnxruntime-node ships, or why it cannot be reached. */
export class OrtCApi {
  private static loaded: OrtCApi | Error | undefined;

  private constructor(
    readonly koffi: Koffi,
    private readonly fns: Fns,
    readonly version: string,
    readonly env: unknown,
  ) {}

  /** The process's one OrtCApi (made on first use). Throws ProviderError when it cannot be loaded. */
  static get(): OrtCApi {
    if (OrtCApi.loaded === undefined) {
      try {
        OrtCApi.loaded = OrtCApi.load();
      } catch (error) {
        OrtCApi.loaded = error instanceof Error ? error : new Error(String(error));
      }
    }
    if (OrtCApi.loaded instanceof Error) {
      throw new ProviderError(`ONNX Runtime's C API is not available: ${OrtCApi.loaded.message}`);
    }
    return OrtCApi.loaded;
  }

  /** Whether the C API can be loaded here, and if not, why. */
  static availability(): { available: true; version: string } | { available: false; reason: string } {
    try {
      return { available: true, version: OrtCApi.get().version };
    } catch (error) {
      return { available: false, reason: error instanceof Error ? error.message : String(error) };
    }
  }

  private static load(): OrtCApi {
    const koffi = loadKoffi();
    if (!koffi) throw new Error('the koffi package (the FFI) is not installed');
    const lib = koffi.load(path.join(ortLibraryDir(), process.platform === 'darwin' ? 'libonnxruntime.1.dylib' : 'libonnxruntime.so.1'));
    const base = lib.func('void* OrtGetApiBase()')() as bigint;
    // struct OrtApiBase { const OrtApi* (*GetApi)(uint32_t); const char* (*GetVersionString)(void); }
    const getApi = koffi.decode(base, 0, 'void*') as bigint;
    const getVersion = koffi.decode(base, 8, 'void*') as bigint;
    const version = koffi.call(getVersion, koffi.proto('const char* OrtGetVersionString()')) as string;
    const api = koffi.call(getApi, koffi.proto('void* OrtGetApi(uint32_t)'), API_VERSION) as bigint | null;
    if (!api) throw new Error(`ONNX Runtime ${version} does not offer C API version ${API_VERSION}`);
    const out = (t: string) => koffi.out(koffi.pointer(t));
    const P = 'void*';
    const S = 'void*'; // OrtStatus*
    const sig: Record<keyof typeof SLOT, [string, unknown[]]> = {
      GetErrorMessage: ['const char*', [P]],
      CreateEnv: [S, ['int', 'const char*', out(P)]],
      CreateSessionFromArray: [S, [P, P, 'size_t', P, out(P)]],
      CreateSessionOptions: [S, [out(P)]],
      SetSessionLogSeverityLevel: [S, [P, 'int']],
      SetSessionGraphOptimizationLevel: [S, [P, 'int']],
      SetIntraOpNumThreads: [S, [P, 'int']],
      SessionGetInputCount: [S, [P, out('size_t')]],
      SessionGetOutputCount: [S, [P, out('size_t')]],
      SessionGetInputName: [S, [P, 'size_t', P, out(P)]],
      SessionGetOutputName: [S, [P, 'size_t', P, out(P)]],
      CreateRunOptions: [S, [out(P)]],
      CreateTensorAsOrtValue: [S, [P, 'int64_t*', 'size_t', 'int', out(P)]],
      GetTensorMutableData: [S, [P, out(P)]],
      CreateMemoryInfo: [S, ['const char*', 'int', 'int', 'int', out(P)]],
      AllocatorFree: [S, [P, P]],
      GetAllocatorWithDefaultOptions: [S, [out(P)]],
      ReleaseStatus: ['void', [P]],
      ReleaseMemoryInfo: ['void', [P]],
      ReleaseSession: ['void', [P]],
      ReleaseValue: ['void', [P]],
      ReleaseRunOptions: ['void', [P]],
      ReleaseSessionOptions: ['void', [P]],
      CreateAllocator: [S, [P, P, out(P)]],
      ReleaseAllocator: ['void', [P]],
      RunWithBinding: [S, [P, P, P]],
      CreateIoBinding: [S, [P, out(P)]],
      ReleaseIoBinding: ['void', [P]],
      BindInput: [S, [P, 'const char*', P]],
      BindOutput: [S, [P, 'const char*', P]],
      SynchronizeBoundOutputs: [S, [P]],
      SessionOptionsAppendExecutionProvider_CUDA_V2: [S, [P, P]],
      CreateCUDAProviderOptions: [S, [out(P)]],
      UpdateCUDAProviderOptions: [S, [P, 'const char**', 'const char**', 'size_t']],
      ReleaseCUDAProviderOptions: ['void', [P]],
    };
    const fns: Fns = {};
    for (const [name, slot] of Object.entries(SLOT) as [keyof typeof SLOT, number][]) {
      const [result, params] = sig[name];
      const proto = koffi.proto(result, params);
      fns[name] = koffi.decode(koffi.decode(api, slot * 8, 'void*'), proto) as Fns[string];
    }
    const env: unknown[] = [null];
    throwStatus(fns, fns.CreateEnv!(ORT_LOGGING_LEVEL_ERROR, 'durian', env), 'CreateEnv');
    return new OrtCApi(koffi, fns, version, env[0]);
  }

  /** Calls member `name` of OrtApi. */
  call(name: keyof typeof SLOT, ...args: unknown[]): unknown {
    return this.fns[name]!(...args);
  }

  /** Throws the message of a non-null OrtStatus (and releases it). */
  check(status: unknown, what: string): void {
    throwStatus(this.fns, status, what);
  }

  /** Calls an OrtStatus-returning member and throws its error. */
  ok(name: keyof typeof SLOT, ...args: unknown[]): void {
    this.check(this.fns[name]!(...args), name);
  }

  /** The same, in one of koffi's worker threads: a long CPU run does not hold the event loop
   * (progress, signals). */
  async okAsync(name: keyof typeof SLOT, ...args: unknown[]): Promise<void> {
    const fn = this.fns[name] as Fns[string] & { async: (...a: unknown[]) => void };
    const status = await new Promise<unknown>((resolve, reject) => {
      fn.async(...args, (error: unknown, result: unknown) => (error ? reject(error instanceof Error ? error : new Error(`${name} failed in a worker thread`)) : resolve(result)));
    });
    this.check(status, name);
  }

  /** An out-parameter member's result (`[null]` filled by the call). */
  out<T = bigint>(name: keyof typeof SLOT, ...args: unknown[]): T {
    const o: unknown[] = [null];
    this.ok(name, ...args, o);
    return o[0] as T;
  }
}

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
