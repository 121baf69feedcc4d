/**
 * Classifier-free guidance (Ho & Salimans 2022): ε = ε_u + s · (ε_c − ε_u), on a batch of two
 * predictions stacked [conditional, unconditional].
 *
 * Adds w[f] · (ε_u + s · (ε_c − ε_u)) of a window's prediction pair ([cond, uncond] stacked, each
 * [C, n, hw]) into frames [f0, f0 + n) of `acc` ([C, F, hw]), in one pass: the guided
 * value is rounded to float32 before it is weighed, as it was when it was an array of its own, so
 * the sums are bit for bit those of guiding first and adding after.
 */
export function addGuidedFrames(acc: Float32Array, pair: Float32Array, guidanceScale: number, channels: number, frames: number,
  hw: number, f0: number, n: number, weights: Float32Array): void {
  const half = pair.length / 2;
  for (let c = 0; c < channels; c++) {
    for (let f = 0; f < n; f++) {
      const w = weights[f]!;
      const d = (c * frames + f0 + f) * hw;
      const s = (c * n + f) * hw;
      for (let p = 0; p < hw; p++) {
        const u = pair[half + s + p]!;
        acc[d + p] = acc[d + p]! + w * Math.fround(u + guidanceScale * (pair[s + p]! - u));
      }
    }
  }
}
