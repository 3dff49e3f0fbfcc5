import { describe, expect, it } from 'vitest';
import {
  bf16BitsToF32,
  f16ArrayToF32,
  f32ArrayToF16,
  f16BitsToF32,
  f32ToBf16Bits,
  f32ToF16Bits,
} from '../../src/io/half.js';

describe('float16 conversions', () => {
  it('known encodings', () => {
    expect(f32ToF16Bits(1)).toBe(0x3c00);
    expect(f32ToF16Bits(-2)).toBe(0xc000);
    expect(f32ToF16Bits(65504)).toBe(0x7bff);
    expect(f32ToF16Bits(65520)).toBe(0x7c00); // halfway to the next binade rounds to inf
    expect(f32ToF16Bits(65519)).toBe(0x7bff);
    expect(f32ToF16Bits(2 ** -24)).toBe(0x0001); // smallest subnormal
    expect(f32ToF16Bits(2 ** -25)).toBe(0x0000); // tie -> even (0)
    expect(f32ToF16Bits(3 * 2 ** -25)).toBe(0x0002); // tie 1.5 ulp -> even (2)
    expect(f32ToF16Bits(2 ** -14)).toBe(0x0400); // smallest normal
    expect(f32ToF16Bits(-0)).toBe(0x8000);
    expect(f32ToF16Bits(Infinity)).toBe(0x7c00);
    expect(Number.isNaN(f16BitsToF32(f32ToF16Bits(NaN)))).toBe(true);
    // Ties in the normal range: 1 + 2^-11 is halfway between 1 and 1+2^-10 -> even (1).
    expect(f32ToF16Bits(1 + 2 ** -11)).toBe(0x3c00);
    expect(f32ToF16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
  });

  it('is the round-to-nearest-even inverse of decoding for every half value and midpoints', () => {
    const bad: string[] = [];
    for (let h = 0; h < 0x7c00; h++) {
      const v = f16BitsToF32(h);
      if (f32ToF16Bits(v) !== h || f32ToF16Bits(-v) !== (h | 0x8000)) bad.push(`exact ${h}`);
      if (h + 1 < 0x7c00) {
        // Midpoint between h and h+1 goes to the even one; just above it goes up.
        const mid = (v + f16BitsToF32(h + 1)) / 2;
        if (f32ToF16Bits(mid) !== (h % 2 === 0 ? h : h + 1)) bad.push(`mid ${h}`);
        if (f32ToF16Bits(Math.fround(mid * (1 + 2 ** -20))) !== h + 1) bad.push(`above ${h}`);
      }
    }
    expect(bad).toEqual([]);
    const all = new Uint16Array(0x10000).map((_, i) => i);
    const f = f16ArrayToF32(all);
    expect(f[0x3c00]).toBe(1);
    expect(f[0xfc00]).toBe(-Infinity);
  });
});

describe('bfloat16 conversions', () => {
  it('rounds to nearest even and decodes exactly', () => {
    expect(f32ToBf16Bits(1)).toBe(0x3f80);
    expect(f32ToBf16Bits(Math.PI)).toBe(0x4049);
    expect(f32ToBf16Bits(1 + 2 ** -8)).toBe(0x3f80); // tie -> even
    expect(f32ToBf16Bits(1 + 3 * 2 ** -8)).toBe(0x3f82); // tie -> even (up)
    expect(f32ToBf16Bits(1 + 2 ** -8 + 2 ** -20)).toBe(0x3f81);
    expect(bf16BitsToF32(0x3f81)).toBe(1 + 2 ** -7);
    expect(Number.isNaN(bf16BitsToF32(f32ToBf16Bits(NaN)))).toBe(true);
    expect(f32ToBf16Bits(-Infinity)).toBe(0xff80);
  });
});

describe('bulk float32 -> float16', () => {
  it('the Float32Array fast path agrees with the scalar conversion on random and special values', () => {
    const n = 200_000;
    const bits = new Uint32Array(n);
    let s = 12345;
    for (let i = 0; i < n; i++) {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      bits[i] = s;
    }
    const f = new Float32Array(bits.buffer);
    f.set([0, -0, 65504, 65520, 2 ** -24, 2 ** -25, NaN, Infinity, -Infinity, 1 + 2 ** -11], 0);
    const fast = f32ArrayToF16(f);
    const bad: number[] = [];
    for (let i = 0; i < n; i++) if (fast[i] !== f32ToF16Bits(f[i])) bad.push(i);
    expect(bad).toEqual([]);
  });
});
