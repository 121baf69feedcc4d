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
 * This file reaches the API; bound-session.ts runs a session through it.
 */
import path from 'node:path';

import { ProviderError } from '../errors';
import { ortLibraryDir } from './runtime';

/** The parts of koffi used here (it is loaded lazily: a machine without it, or without its prebuilt
 * binary, still runs the plain binding). */
export interface Koffi {
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

export const ORT_LOGGING_LEVEL_ERROR = 3;

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
