import { Tensor } from '../graph/tensor.js';

/**
 * float16 / bfloat16 <-> float32 conversions on raw 16-bit words, rounding to nearest even
 * (what PyTorch's `.half()` / `.bfloat16()` do), so converted weights match PyTorch bit for bit.
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 value -> IEEE binary16 bits, round to nearest even; overflow -> ±inf, NaN stays NaN. */
export function f32ToF16Bits(x: number): number {
  f32[0] = x;
  const b = u32[0];
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  const mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal half (or zero): shift the full significand right, rounding to nearest even.
    if (e < -10) return sign;
    const m = mant | 0x800000;
    const shift = 14 - e;
    const r = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    return sign | (rem > half || (rem === half && r & 1) ? r + 1 : r);
  }
  const r = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent (up to 0x7c00 = inf).
  return sign | (rem > 0x1000 || (rem === 0x1000 && r & 1) ? r + 1 : r);
}

/** IEEE binary16 bits -> number (exact). */
export function f16BitsToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** float32 value -> bfloat16 bits, round to nearest even; NaN stays (quiet) NaN. */
export function f32ToBf16Bits(x: number): number {
  f32[0] = x;
  const b = u32[0];
  if ((b & 0x7f800000) === 0x7f800000 && b & 0x7fffff) return ((b >>> 16) | 0x40) & 0xffff;
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

/** bfloat16 bits -> number (exact). */
export function bf16BitsToF32(h: number): number {
  u32[0] = (h & 0xffff) << 16;
  return f32[0];
}

export function f16ArrayToF32(words: Uint16Array): Float32Array {
  // A 64K lookup table makes the bulk conversion a single indexed load per element.
  const table = f16Table();
  const out = new Float32Array(words.length);
  for (let i = 0; i < words.length; i++) out[i] = table[words[i]];
  return out;
}

export function bf16ArrayToF32(words: Uint16Array): Float32Array {
  const out = new Float32Array(words.length);
  const outBits = new Uint32Array(out.buffer);
  for (let i = 0; i < words.length; i++) outBits[i] = words[i] << 16;
  return out;
}

export function f32ArrayToF16(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  if (!(values instanceof Float32Array)) {
    for (let i = 0; i < values.length; i++) out[i] = f32ToF16Bits(values[i]);
    return out;
  }
  // Hot path (checkpoint conversion): the same bit logic as f32ToF16Bits, inlined over the raw words.
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  for (let i = 0; i < bits.length; i++) {
    const b = bits[i];
    const exp = (b >>> 23) & 0xff;
    const e = exp - 112; // rebias 127 -> 15
    if (e > 0 && e < 0x1f) {
      const mant = b & 0x7fffff;
      const r = (e << 10) | (mant >>> 13);
      const rem = mant & 0x1fff;
      out[i] = ((b >>> 16) & 0x8000) | (rem > 0x1000 || (rem === 0x1000 && r & 1) ? r + 1 : r);
    } else {
      out[i] = f32ToF16Bits(values[i]);
    }
  }
  return out;
}

export function f32ArrayToBf16(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = f32ToBf16Bits(values[i]);
  return out;
}

let f16TableCache: Float32Array | undefined;
function f16Table(): Float32Array {
  if (!f16TableCache) {
    f16TableCache = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) f16TableCache[h] = f16BitsToF32(h);
  }
  return f16TableCache;
}

/** Returns a float32 copy of a float16/bfloat16/float64 tensor; other tensors are returned as is. */
export function toFloat32(t: Tensor): Tensor {
  switch (t.dtype) {
    case 'float16':
      return new Tensor('float32', t.shape, f16ArrayToF32(t.data as Uint16Array));
    case 'bfloat16':
      return new Tensor('float32', t.shape, bf16ArrayToF32(t.data as Uint16Array));
    case 'float64':
      return new Tensor('float32', t.shape, Float32Array.from(t.data as Float64Array));
    default:
      return t;
  }
}

/** Casts a floating tensor to float16 (raw words), rounding to nearest even. Non-float tensors are returned as is. */
export function toFloat16(t: Tensor): Tensor {
  if (t.dtype === 'float16') return t;
  if (t.dtype !== 'float32' && t.dtype !== 'float64' && t.dtype !== 'bfloat16') return t;
  const src = toFloat32(t).data as Float32Array;
  return new Tensor('float16', t.shape, f32ArrayToF16(src));
}

/** Casts a floating tensor to bfloat16 (raw words), rounding to nearest even. Non-float tensors are returned as is. */
export function toBFloat16(t: Tensor): Tensor {
  if (t.dtype === 'bfloat16') return t;
  if (t.dtype !== 'float32' && t.dtype !== 'float64' && t.dtype !== 'float16') return t;
  const src = toFloat32(t).data as Float32Array;
  return new Tensor('bfloat16', t.shape, f32ArrayToBf16(src));
}
