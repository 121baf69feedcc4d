/**
 * One Euro filter for 2-D point sets (Casiez, Roussel, Vogel, "1€ Filter: A Simple Speed-based
 * Low-pass Filter for Noisy Input in Interactive Systems", CHI 2012): per point, an exponential
 * low-pass whose cutoff rises with the point's (filtered) speed — still points are smoothed hard,
 * moving points follow with little lag.
 */
import { UsageError } from '../errors';

export interface OneEuroParams {
  /** Cutoff at rest, Hz: lower smooths more (and lags more when slow). */
  minCutoff: number;
  /** Cutoff increase per unit of speed (speed in `scale` units per second, see apply()). */
  beta: number;
  /** Cutoff of the speed estimate, Hz. */
  dCutoff: number;
}

/**
 * Defaults tuned on franck.mp4 with bench/face-front-end.js, speed measured in inter-ocular
 * distances per second (the tracker passes that distance as `scale`). Of the sweep minCutoff
 * {0.1, 0.3, 1, 3} × beta {0, 1, 4, 16, 64}, these cut the jitter of a still 2-s segment by about
 * two thirds while keeping the lag on the fastest 10% of frames near 0.7 px (1 Hz / beta 2: the
 * same jitter cut at three times the lag); a lower minCutoff smooths a little more but follows
 * slow drifts later.
 */
export const ONE_EURO_DEFAULTS: Readonly<OneEuroParams> = Object.freeze({ minCutoff: 0.3, beta: 16, dCutoff: 1.0 });

/** Smoothing factor of an exponential low-pass with cutoff `cutoff` Hz at sampling interval `dt` s (paper eq. 3 to 4). */
export function getSmoothingFactor(cutoff: number, dt: number): number {
  const tau = 1 / (2 * Math.PI * cutoff);
  return 1 / (1 + tau / dt);
}

/** A One Euro filter over a fixed number of 2-D points (flat [x0, y0, …]); state per point. */
export class OneEuroFilter {
  private value: Float32Array | undefined;
  private speed: Float32Array | undefined;
  private time = 0;

  constructor(readonly params: Readonly<OneEuroParams> = ONE_EURO_DEFAULTS) {
    for (const key of ['minCutoff', 'beta', 'dCutoff'] as const) {
      const v = params[key];
      if (!(Number.isFinite(v) && v >= 0) || (key !== 'beta' && v === 0)) {
        throw new UsageError(`One Euro ${key} must be ${key === 'beta' ? 'non-negative' : 'positive'}, got ${v}`);
      }
    }
  }

  /** Forgets the state; the next sample passes through unfiltered. */
  reset(): void {
    this.value = undefined;
    this.speed = undefined;
  }

  /**
   * Filters one sample of points at time `t` (seconds, increasing). `scale` divides the speed
   * (e.g. the face size in pixels, so that `beta` does not depend on the image size).
   */
  apply(points: Float32Array, t: number, scale = 1): Float32Array {
    if (this.value === undefined || this.speed === undefined || this.value.length !== points.length) {
      this.value = points.slice();
      this.speed = new Float32Array(points.length);
      this.time = t;
      return points.slice();
    }
    const dt = t - this.time;
    if (!(dt > 0)) throw new UsageError(`One Euro timestamps must increase: ${t} s after ${this.time} s`);
    this.time = t;
    const { minCutoff, beta, dCutoff } = this.params;
    const aSpeed = getSmoothingFactor(dCutoff, dt);
    const value = this.value, speed = this.speed;
    for (let i = 0; i < points.length; i += 2) {
      // 1. Filtered derivative, per coordinate, against the previous filtered value
      const vx = speed[i]! + aSpeed * ((points[i]! - value[i]!) / dt - speed[i]!);
      const vy = speed[i + 1]! + aSpeed * ((points[i + 1]! - value[i + 1]!) / dt - speed[i + 1]!);
      speed[i] = vx;
      speed[i + 1] = vy;
      // 2. Cutoff from the point's speed (eq. 5), one cutoff for both coordinates
      const a = getSmoothingFactor(minCutoff + (beta * Math.hypot(vx, vy)) / scale, dt);
      // 3. Low-pass the position
      value[i] = value[i]! + a * (points[i]! - value[i]!);
      value[i + 1] = value[i + 1]! + a * (points[i + 1]! - value[i + 1]!);
    }
    return value.slice();
  }
}
