/**
 * Classifier-free guidance (Ho & Salimans 2022): ε = ε_u + s · (ε_c − ε_u), on a batch of two
 * predictions stacked [conditional, unconditional].
 */
export function applyGuidance(pred: Float32Array, guidanceScale: number): Float32Array {
  const n = pred.length / 2;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const c = pred[i]!;
    const u = pred[n + i]!;
    out[i] = u + guidanceScale * (c - u);
  }
  return out;
}
