/**
 * IEEE binary16 (float16) bits, written by hand: Node 20 has no Float16Array. The graph rewrites
 * need a float16 scalar a constant and the float16 conversion (half.ts) every float32 value.
 */

/**
 * IEEE binary16 bits of `x`, rounded to nearest, ties to even (overflow to ±Infinity). Written by
 * hand: the rewrites need it for one scalar a constant, and Node 20 has no Float16Array.
 */
export function float16Bits(x: number): number {
  const f32 = new Float32Array([x]);
  return float16FromFloat32Bits(new Uint32Array(f32.buffer)[0]!);
}

/** IEEE binary16 bits of the float32 whose bits are `bits` (float16Bits without the Float32Array). */
export function float16FromFloat32Bits(bits: number): number {
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  let mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);  // Infinity, NaN
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {  // a subnormal half, or zero
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = mant >>> shift;
    const rest = mant & ((1 << shift) - 1), mid = 1 << (shift - 1);
    return sign | (half + (rest > mid || (rest === mid && (half & 1)) ? 1 : 0));
  }
  const half = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  // a carry out of the mantissa steps the exponent, as it should (up to Infinity)
  return sign | (half + (rest > 0x1000 || (rest === 0x1000 && (half & 1)) ? 1 : 0));
}

/** The number that IEEE binary16 bits `h` stand for. */
export function float16Value(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f, mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}
