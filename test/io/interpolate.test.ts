import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Tensor } from '../../src/graph/tensor.js';
import { adaptCheckpoint, bicubicResizeGrid, interpolatePosEmbed } from '../../src/io/interpolate.js';
import { loadSafetensors } from '../../src/io/safetensors.js';

const FIX = join(import.meta.dirname, '../../fixtures/beit3-ref');

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('position-embedding interpolation (official rule)', () => {
  for (const c of [
    { name: 'up', grid: 6 },
    { name: 'down', grid: 3 },
  ]) {
    it(`${c.name}: matches the official load_model_and_may_interpolate output within 1e-5`, async () => {
      const fx = await loadSafetensors(join(FIX, 'interp.safetensors'));
      const input = fx.get(`${c.name}.pos_embed_in`)!;
      const ref = fx.get(`${c.name}.pos_embed_out`)!;
      const out = interpolatePosEmbed(input, c.grid * c.grid);
      expect(out.shape).toEqual(ref.shape);
      expect(maxAbs(out.data as Float32Array, ref.data as Float32Array)).toBeLessThanOrEqual(1e-5);
      // The three leading rows are copied unchanged.
      expect(Array.from((out.data as Float32Array).subarray(0, 3 * 32))).toEqual(
        Array.from((input.data as Float32Array).subarray(0, 3 * 32)),
      );
    });
  }

  it('adaptCheckpoint resizes both key spellings, drops mismatched heads and reports it', async () => {
    const fx = await loadSafetensors(join(FIX, 'interp.safetensors'));
    const input = fx.get('up.pos_embed_in')!;
    const ckpt = new Map<string, Tensor>([
      ['beit3.encoder.embed_positions.A.weight', input],
      ['encoder.embed_positions.A.weight', input],
      ['head.weight', Tensor.f32([10, 32])],
      ['head.bias', Tensor.f32([7])],
      ['beit3.text_embed.weight', Tensor.f32([5, 32])],
    ]);
    const { stateDict, changes } = adaptCheckpoint(ckpt, {
      'beit3.encoder.embed_positions.A.weight': [39, 32],
      'encoder.embed_positions.A.weight': [19, 32],
      'head.weight': [12, 32],
      'head.bias': [7],
    });
    expect(stateDict.get('beit3.encoder.embed_positions.A.weight')!.shape).toEqual([39, 32]);
    expect(stateDict.get('encoder.embed_positions.A.weight')).toBe(input); // same grid: untouched
    expect(stateDict.has('head.weight')).toBe(false);
    expect(stateDict.has('head.bias')).toBe(true);
    expect(stateDict.has('beit3.text_embed.weight')).toBe(true);
    expect(ckpt.has('head.weight')).toBe(true); // input not modified
    expect(changes).toHaveLength(2);
    expect(changes.join('\n')).toMatch(/dropped head\.weight \[10,32\]/);
    expect(changes.join('\n')).toMatch(/4x4 -> 6x6/);
  });

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

  it('rejects tables that are not a square grid', () => {
    expect(() => interpolatePosEmbed(Tensor.f32([3 + 15, 4]), 36)).toThrow(/not a square grid/);
    expect(() => interpolatePosEmbed(Tensor.f32([19]), 36)).toThrow(/rows, dim/);
  });
});
