import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeImage } from '../../src/vision/decode.js';
import { resize } from '../../src/vision/resize.js';
import { IMAGES } from './helpers.js';

interface Case {
  source: string;
  size: number;
  expected: string;
}
const cases = (JSON.parse(readFileSync(join(IMAGES, 'cases.json'), 'utf8')) as { cases: Case[] }).cases;

describe('PIL-exact bicubic resize vs Pillow outputs (fixtures/images)', () => {
  for (const c of cases) {
    it(`${c.source} -> ${c.size}x${c.size} is bit-exact`, async () => {
      const src = await decodeImage(join(IMAGES, c.source));
      const expected = await decodeImage(join(IMAGES, c.expected));
      const out = resize(src, c.size, c.size);
      expect([out.width, out.height]).toEqual([expected.width, expected.height]);
      let maxDiff = 0;
      let differing = 0;
      for (let i = 0; i < out.data.length; i++) {
        const d = Math.abs(out.data[i] - expected.data[i]);
        if (d > 0) differing++;
        if (d > maxDiff) maxDiff = d;
      }
      expect(maxDiff, `max diff, ${differing} values differ`).toBe(0);
    });
  }
});

describe('resize details', () => {
  const img = { width: 3, height: 2, data: Uint8Array.from([10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 130, 140, 150, 160, 170, 180]) };
  it('same size is a copy', () => {
    const out = resize(img, 3, 2);
    expect(out.data).toEqual(img.data);
    expect(out.data).not.toBe(img.data);
  });
  it('a constant image stays constant under up- and downscaling', () => {
    const flat = { width: 7, height: 5, data: new Uint8Array(7 * 5 * 3).fill(200) };
    for (const [w, h] of [[3, 2], [20, 13], [1, 1], [7, 9]]) {
      const out = resize(flat, w, h);
      expect(out.data.every((v) => v === 200)).toBe(true);
    }
  });
  it('rejects bad sizes and boxes with a typed error', () => {
    expect(() => resize(img, 0, 3)).toThrow(/positive integers/);
    expect(() => resize(img, 2, 2, { box: [0, 0, 4, 2] })).toThrow(/box/);
  });
});
