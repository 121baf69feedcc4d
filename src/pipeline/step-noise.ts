/**
 * The denoising loop's noise, made ahead on worker threads.
 *
 * With eta > 0 every DDIM step needs a fresh draw the size of the latents (16 frames at 256 px:
 * 262,144 normals; 256 frames: 4.2 M). Made on the main thread between UNet calls, it took 4.5 ms
 * a step at 16 frames and 70 ms at 256 on the 2-core development CPU (bench/step-work.js), beside a
 * float16 UNet step of 7.9 ms at 16 frames on one H200 (docs/performance.md). Each draw depends only
 * on its seed, so a step's noise is made on workers while the UNet runs the step before it, split
 * by latent channel: the numbers are exactly those of `correlateFrames(randomNormal(n, seed))`.
 *
 * Worker threads are Node's own (`node:worker_threads`); no library does seeded, splittable
 * normal draws into shared memory, so the split is written here. A pool that cannot start, or a
 * job that fails, falls back to making the draw on the calling thread.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { checkCorrelation, correlateChannelRange, correlateFrames, fillNormalRange, mulberry32, randomNormal } from './random';

/** Draws smaller than this are made on the calling thread: a message round trip costs more. */
export const PARALLEL_MIN_VALUES = 1 << 16;

interface Job { buffer: SharedArrayBuffer; seed: number; c0: number; c1: number; F: number; hw: number; rho: number }

// the fill functions travel as source text (random.ts keeps them to each other and Math)
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const mulberry32 = ${mulberry32.toString()};
const fillNormalRange = ${fillNormalRange.toString()};
const correlateChannelRange = ${correlateChannelRange.toString()};
parentPort.on('message', ({ id, job }) => {
  try {
    const out = new Float32Array(job.buffer);
    const per = job.F * job.hw;
    fillNormalRange(out, job.c0 * per, job.c1 * per, job.seed);
    correlateChannelRange(out, job.c0, job.c1, job.F, job.hw, job.rho);
    parentPort.postMessage({ id });
  } catch (e) {
    parentPort.postMessage({ id, error: String(e && e.message || e) });
  }
});`;

/** A few workers that fill channel ranges of shared buffers; idle workers do not hold the process open. */
export class NoisePool {
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<number, { resolve: () => void; reject: (e: Error) => void; worker: Worker }>();
  private nextId = 0;
  private nextWorker = 0;
  private broken: Error | undefined;

  constructor(size: number) {
    for (let i = 0; i < size; i++) {
      const w = new Worker(WORKER_SOURCE, { eval: true });
      w.unref();
      w.on('message', (m: { id: number; error?: string }) => this.settle(m.id, m.error === undefined ? undefined : new Error(m.error)));
      w.on('error', (e) => this.fail(e));
      w.on('exit', () => this.fail(new Error('a noise worker exited')));
      this.workers.push(w);
    }
  }

  /** Fills channels [0, C) of `buffer` ([C, F, hw] floats) with the chained draw of `seed`. */
  async fill(buffer: SharedArrayBuffer, C: number, F: number, hw: number, rho: number, seed: number): Promise<void> {
    if (this.broken) throw this.broken;
    const parts = Math.min(this.workers.length, C);
    const jobs: Promise<void>[] = [];
    for (let k = 0; k < parts; k++) {
      const c0 = Math.floor((k * C) / parts);
      const c1 = Math.floor(((k + 1) * C) / parts);
      jobs.push(this.post({ buffer, seed, c0, c1, F, hw, rho }));
    }
    await Promise.all(jobs);
  }

  private post(job: Job): Promise<void> {
    const worker = this.workers[this.nextWorker++ % this.workers.length]!;
    const id = this.nextId++;
    return new Promise<void>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, worker });
      worker.ref();  // a job in flight keeps the process alive until it answers
      worker.postMessage({ id, job });
    });
  }

  private settle(id: number, error: Error | undefined): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    if (![...this.pending.values()].some((q) => q.worker === p.worker)) p.worker.unref();
    if (error) p.reject(error); else p.resolve();
  }

  private fail(e: Error): void {
    this.broken ??= e;
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      p.worker.unref();
      p.reject(e);
    }
  }
}

let shared: NoisePool | null | undefined;

/**
 * The process's noise pool (made on first use: one worker per core but one, at most 4), or
 * undefined where workers cannot start or the machine has one core.
 */
export function sharedNoisePool(): NoisePool | undefined {
  if (shared === undefined) {
    const size = Math.min(4, availableParallelism() - 1);
    try {
      shared = size >= 1 ? new NoisePool(size) : null;
    } catch {
      shared = null;
    }
  }
  return shared ?? undefined;
}

/**
 * The draws of one generation, by index: `seedOf(k)` seeds draw k. `request(k)` starts draw k on
 * the pool; `take(k)` returns it (made on the calling thread if it was not requested, is small, or
 * the pool failed).
 */
export class NoiseAhead {
  private readonly inflight = new Map<number, Promise<Float32Array>>();
  private readonly n: number;

  constructor(private readonly C: number, private readonly F: number, private readonly hw: number,
    private readonly rho: number, private readonly seedOf: (k: number) => number,
    private readonly pool: NoisePool | undefined = C * F * hw >= PARALLEL_MIN_VALUES ? sharedNoisePool() : undefined) {
    this.n = C * F * hw;
    checkCorrelation(this.n, C, F, hw, rho);
  }

  /** Whether draws are made on workers. */
  get parallel(): boolean { return this.pool !== undefined; }

  request(k: number): void {
    if (!this.pool || this.inflight.has(k)) return;
    const buffer = new SharedArrayBuffer(this.n * 4);
    const p = this.pool.fill(buffer, this.C, this.F, this.hw, this.rho, this.seedOf(k)).then(() => new Float32Array(buffer));
    p.catch(() => undefined);  // a draw nobody takes (an aborted run) must not be an unhandled rejection
    this.inflight.set(k, p);
  }

  async take(k: number): Promise<Float32Array> {
    const p = this.inflight.get(k);
    this.inflight.delete(k);
    if (p) {
      try {
        return await p;
      } catch {
        // the pool failed: make it here
      }
    }
    return correlateFrames(randomNormal(this.n, this.seedOf(k)), this.C, this.F, this.hw, this.rho);
  }
}
