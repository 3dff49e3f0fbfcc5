import { describe, expect, it } from 'vitest';
import { Tensor } from '../../src/graph/tensor.js';
import { bicubicResizeGrid, resamplePositionTable } from '../../src/io/interpolate.js';
import { maxAbs } from '../support/compare.js';

describe('bicubic grid resize (generic; BEiT-3 keys and rows: test/models/pretrained.test.ts)', () => {
  it('bicubic keeps constants (weights sum to 1) and is separable and symmetric', () => {
    const g = 5;
    const grid = new Float32Array(g * g).map((_, i) => 2 + 0.5 * (i % g));
    const out = bicubicResizeGrid(grid, g, 8, 1);
    // Each output row is the same profile (y does not change the value) ...
    for (let y = 1; y < 8; y++)
      expect(maxAbs(out.subarray(y * 8, y * 8 + 8), out.subarray(0, 8))).toBeLessThan(1e-6);
    // ... and mirror-symmetric around the ramp's mean (the sampling grid is symmetric).
    for (let o = 0; o < 8; o++) expect(out[o] + out[7 - o]).toBeCloseTo(2 * 3, 5);
    const constant = bicubicResizeGrid(new Float32Array(9).fill(1.25), 3, 7, 1);
    expect(maxAbs(constant, new Float32Array(49).fill(1.25))).toBeLessThan(1e-6);
  });

  it('keeps the prefix rows and returns the table itself when the grid already fits', () => {
    const t = Tensor.f32(
      [1 + 4, 2],
      Array.from({ length: 10 }, (_, i) => i),
    );
    expect(resamplePositionTable(t, 1, 4)).toBe(t);
    const out = resamplePositionTable(t, 1, 9);
    expect(out.shape).toEqual([1 + 9, 2]);
    expect(Array.from(out.data as Float32Array).slice(0, 2)).toEqual([0, 1]);
  });
});
