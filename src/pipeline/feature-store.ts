/**
 * Per-frame features a generation reads back window by window at every denoising step (the pose
 * guider's), kept in memory or, past a size, in an unlinked temporary file: a long video's features
 * then live in the page cache, which the kernel may write out, instead of the process's memory.
 * Frames are stored frame-major ([F][C·hw], as the pose guider returns them); windows come back in
 * the UNet's layout [C, n, hw]. Both stores return the same floats.
 */
import { closeSync, openSync, readSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface FrameFeatureStore {
  readonly channels: number;
  readonly frames: number;
  /** Where the features are: 'memory', or 'file' (a temporary file, deleted on close). */
  readonly where: 'memory' | 'file';
  /** Frames [f0, f0 + n) as [C, n, hw]. */
  window(f0: number, n: number): Float32Array;
  close(): void;
}

/** Collects frames in order (`add` takes [k, C, hw] pieces) into a store of `frames` frames. */
export class FrameFeatureWriter {
  private memory?: Float32Array;
  private fd?: number;
  private file?: string;
  private written = 0;

  /**
   * `spillBytes`: features larger than this go to a temporary file in `dir` (default the OS's);
   * Infinity keeps them in memory. A file that cannot be made or written falls back to memory.
   */
  constructor(readonly channels: number, readonly frames: number, readonly hw: number, spillBytes: number, private readonly dir = tmpdir()) {
    const bytes = 4 * channels * frames * hw;
    if (bytes > spillBytes) {
      try {
        const file = path.join(dir, `.durian-features-${process.pid}-${Math.random().toString(36).slice(2)}.f32`);
        this.fd = openSync(file, 'w+', 0o600);
        // unlinked at once where the platform allows it (nothing is left behind if the process dies)
        try {
          unlinkSync(file);
        } catch {
          this.file = file;
        }
      } catch {
        this.fd = undefined;
      }
    }
    if (this.fd === undefined) this.memory = new Float32Array(channels * frames * hw);
  }

  /** Appends `data`: whole frames, [k, C, hw]. */
  add(data: Float32Array): void {
    const per = this.channels * this.hw;
    const k = data.length / per;
    if (!Number.isInteger(k) || this.written + k > this.frames) throw new RangeError(`${data.length} values do not make whole frames of ${per} within ${this.frames}`);
    if (this.fd !== undefined) {
      try {
        writeAll(this.fd, data, 4 * this.written * per);
      } catch {
        // a full disk: the frames so far back into memory, and the rest there too
        this.toMemory();
      }
    }
    if (this.memory) this.memory.set(data, this.written * per);
    this.written += k;
  }

  private toMemory(): void {
    const per = this.channels * this.hw;
    const memory = new Float32Array(this.channels * this.frames * this.hw);
    readAll(this.fd!, memory.subarray(0, this.written * per), 0);
    this.closeFile();
    this.memory = memory;
  }

  private closeFile(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    if (this.file) {
      try {
        unlinkSync(this.file);
      } catch {
        // already gone
      }
    }
    this.file = undefined;
  }

  /** The store, once every frame was added. */
  finish(): FrameFeatureStore {
    if (this.written !== this.frames) throw new RangeError(`${this.written} of ${this.frames} frames added`);
    const { channels, frames, hw } = this;
    const per = channels * hw;
    // [n][C·hw] frame-major → [C, n, hw]
    const transpose = (src: Float32Array, n: number): Float32Array => {
      const out = new Float32Array(channels * n * hw);
      for (let k = 0; k < n; k++) {
        for (let c = 0; c < channels; c++) out.set(src.subarray(k * per + c * hw, k * per + (c + 1) * hw), (c * n + k) * hw);
      }
      return out;
    };
    const check = (f0: number, n: number) => {
      if (!(Number.isInteger(f0) && Number.isInteger(n) && f0 >= 0 && n >= 0 && f0 + n <= frames)) throw new RangeError(`frames [${f0}, ${f0 + n}) of ${frames}`);
    };
    const memory = this.memory;
    if (memory) {
      return { channels, frames, where: 'memory', window: (f0, n) => (check(f0, n), transpose(memory.subarray(f0 * per, (f0 + n) * per), n)), close: () => {} };
    }
    const fd = this.fd!;
    let buffer = new Float32Array(0);
    return {
      channels, frames, where: 'file',
      window: (f0, n) => {
        check(f0, n);
        if (buffer.length < n * per) buffer = new Float32Array(n * per);
        readAll(fd, buffer.subarray(0, n * per), 4 * f0 * per);
        return transpose(buffer, n);
      },
      close: () => this.closeFile(),
    };
  }

  /** Drops the features (a generation that failed before finish()). */
  close(): void {
    this.closeFile();
    this.memory = undefined;
  }
}

function writeAll(fd: number, data: Float32Array, position: number): void {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  for (let done = 0; done < bytes.length;) done += writeSync(fd, bytes, done, bytes.length - done, position + done);
}

function readAll(fd: number, into: Float32Array, position: number): void {
  const bytes = new Uint8Array(into.buffer, into.byteOffset, into.byteLength);
  for (let done = 0; done < bytes.length;) {
    const n = readSync(fd, bytes, done, bytes.length - done, position + done);
    if (n === 0) throw new Error(`feature file ended ${bytes.length - done} bytes early`);
    done += n;
  }
}
