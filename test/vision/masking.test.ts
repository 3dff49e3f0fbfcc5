import { describe, expect, it } from 'vitest';
import { BlockMaskingGenerator, captioningMask, maskTextTokens } from '../../src/vision/masking.js';
import { Rng } from '../../src/util/random.js';

/** Sizes of 4-connected components of the masked patches. */
function componentSizes(mask: Uint8Array, H: number, W: number): number[] {
  const seen = new Uint8Array(mask.length);
  const sizes: number[] = [];
  for (let s = 0; s < mask.length; s++) {
    if (!mask[s] || seen[s]) continue;
    let n = 0;
    const stack = [s];
    seen[s] = 1;
    while (stack.length) {
      const p = stack.pop()!;
      n++;
      const y = Math.floor(p / W);
      const x = p % W;
      for (const [dy, dx] of [[1, 0], [-1, 0], [0, 1], [0, -1]]) {
        const yy = y + dy;
        const xx = x + dx;
        const q = yy * W + xx;
        if (yy >= 0 && yy < H && xx >= 0 && xx < W && mask[q] && !seen[q]) {
          seen[q] = 1;
          stack.push(q);
        }
      }
    }
    sizes.push(n);
  }
  return sizes;
}

describe('BlockMaskingGenerator (BEiT block-wise masking)', () => {
  const gen = new BlockMaskingGenerator({ height: 14, numMaskingPatches: 75 }); // 40% of 196

  it('masks exactly the requested count, for many seeds and grid sizes', () => {
    for (const [H, W, k] of [[14, 14, 75], [14, 14, 118], [24, 24, 230], [5, 5, 10], [8, 12, 38], [14, 14, 0]]) {
      const g = new BlockMaskingGenerator({ height: H, width: W, numMaskingPatches: k });
      for (let seed = 0; seed < 50; seed++) {
        const { mask } = g.generate(seed);
        expect(mask.length).toBe(H * W);
        expect(mask.reduce((a, b) => a + b, 0)).toBe(k);
      }
    }
  });

  it('is deterministic for a seed and differs across seeds', () => {
    expect(gen.generate(7).mask).toEqual(gen.generate(7).mask);
    expect(gen.generate('x').mask).toEqual(gen.generate('x').mask);
    expect(gen.generate(7).mask).not.toEqual(gen.generate(8).mask);
  });

  it('blocks respect area and aspect bounds; masks are made of large blocks', () => {
    let blocks = 0;
    let topped = 0;
    let inLargeComponents = 0;
    let masked = 0;
    let rowSum = new Float64Array(14);
    const trials = 400;
    for (let seed = 0; seed < trials; seed++) {
      const r = gen.generate(seed);
      for (const b of r.blocks) {
        blocks++;
        expect(b.aspect).toBeGreaterThanOrEqual(0.3 - 1e-12);
        expect(b.aspect).toBeLessThanOrEqual(1 / 0.3 + 1e-12);
        // the area is drawn in [16, remaining] (remaining may be below 16 near the end)
        expect(b.targetArea).toBeLessThanOrEqual(75);
        expect(b.h).toBe(Math.round(Math.sqrt(b.targetArea * b.aspect)));
        expect(b.w).toBe(Math.round(Math.sqrt(b.targetArea / b.aspect)));
        expect(b.h).toBeLessThan(14);
        expect(b.w).toBeLessThan(14);
      }
      topped += r.toppedUp;
      masked += 75;
      for (const s of componentSizes(r.mask, 14, 14)) if (s >= 9) inLargeComponents += s;
      for (let i = 0; i < 196; i++) rowSum[Math.floor(i / 14)] += r.mask[i];
      // first block of every mask is a full block of area >= 16 drawn in [16, 75]
      expect(r.blocks[0].targetArea).toBeGreaterThanOrEqual(16);
    }
    expect(blocks / trials).toBeGreaterThan(2);
    // almost every masked patch belongs to a block-shaped region, single-patch top-ups are rare
    expect(inLargeComponents / masked).toBeGreaterThan(0.9);
    expect(topped / masked).toBeLessThan(0.05);
    // masking covers the whole grid (edge rows less often: blocks are placed uniformly inside the grid)
    rowSum = rowSum.map((v) => v / (trials * 14));
    for (const f of rowSum) {
      expect(f).toBeGreaterThan(0.08);
      expect(f).toBeLessThan(0.65);
    }
  });

  it('log-uniform aspect: about half of the blocks are taller than wide', () => {
    let tall = 0;
    let n = 0;
    for (let seed = 0; seed < 300; seed++)
      for (const b of gen.generate(seed).blocks) {
        n++;
        if (b.aspect > 1) tall++;
      }
    expect(tall / n).toBeGreaterThan(0.42);
    expect(tall / n).toBeLessThan(0.58);
  });

  it('rejects impossible requests', () => {
    expect(() => new BlockMaskingGenerator({ height: 4, numMaskingPatches: 17 })).toThrow(/numMaskingPatches/);
    expect(() => new BlockMaskingGenerator({ height: 0, numMaskingPatches: 0 })).toThrow(/height/);
  });
});

describe('maskTextTokens (MLM)', () => {
  const MASK = 8001;
  const V = 8002;
  const row = (n: number, pad: number) => [0, ...Array.from({ length: n }, (_, i) => 10 + i), 2, ...new Array(pad).fill(1)];

  it('exact counts at 15% and 50%, never special tokens or padding', () => {
    for (const p of [0.15, 0.5]) {
      for (let seed = 0; seed < 100; seed++) {
        const ids = row(40, 20);
        const pad = ids.map((t) => (t === 1 ? 1 : 0));
        const r = maskTextTokens(ids, { maskProb: p, maskTokenId: MASK, vocabSize: V }, seed, pad);
        const chosen = Array.from(r.maskedPositions).reduce((a, b) => a + b, 0);
        expect(chosen).toBe(Math.trunc(40 * p + 0.5));
        expect(r.maskedPositions[0]).toBe(0);
        expect(r.maskedPositions[41]).toBe(0);
        for (let i = 42; i < ids.length; i++) expect(r.maskedPositions[i]).toBe(0);
        for (let i = 0; i < ids.length; i++) {
          if (r.maskedPositions[i]) expect(r.labels[i]).toBe(ids[i]);
          else {
            expect(r.labels[i]).toBe(-100);
            expect(r.tokens[i]).toBe(ids[i]);
          }
        }
      }
    }
  });

  it('80/10/10 replacement split (and configurable)', () => {
    const counts = { mask: 0, keep: 0, random: 0 };
    for (let seed = 0; seed < 400; seed++) {
      const ids = row(50, 0);
      const r = maskTextTokens(ids, { maskProb: 0.5, maskTokenId: MASK, vocabSize: V }, seed);
      r.maskedPositions.forEach((m, i) => {
        if (!m) return;
        if (r.tokens[i] === MASK) counts.mask++;
        else if (r.tokens[i] === ids[i]) counts.keep++;
        else {
          counts.random++;
          expect(r.tokens[i]).toBeGreaterThanOrEqual(4);
          expect(r.tokens[i]).toBeLessThan(V);
          expect(r.tokens[i]).not.toBe(MASK);
        }
      });
    }
    const n = counts.mask + counts.keep + counts.random;
    expect(n).toBe(400 * 25);
    expect(counts.mask / n).toBeCloseTo(0.8, 1);
    expect(Math.abs(counts.keep / n - 0.1)).toBeLessThan(0.015);
    expect(Math.abs(counts.random / n - 0.1)).toBeLessThan(0.015);
    const allMask = maskTextTokens(row(30, 0), { maskProb: 0.5, maskTokenId: MASK, vocabSize: V, replace: { mask: 1, random: 0, keep: 0 } }, 1);
    allMask.maskedPositions.forEach((m, i) => m && expect(allMask.tokens[i]).toBe(MASK));
  });

  it('bernoulli mode has the right mean ratio; determinism; bad options throw', () => {
    let chosen = 0;
    for (let seed = 0; seed < 200; seed++)
      chosen += maskTextTokens(row(100, 0), { maskProb: 0.15, maskTokenId: MASK, vocabSize: V, count: 'bernoulli' }, seed).maskedPositions.reduce((a, b) => a + b, 0);
    expect(chosen / (200 * 100)).toBeCloseTo(0.15, 2);
    const o = { maskProb: 0.15, maskTokenId: MASK, vocabSize: V };
    expect(maskTextTokens(row(20, 3), o, 5)).toEqual(maskTextTokens(row(20, 3), o, 5));
    expect(() => maskTextTokens(row(5, 0), { ...o, maskProb: 1.5 }, 1)).toThrow(/maskProb/);
    expect(() => maskTextTokens(row(5, 0), { ...o, replace: { mask: 0.5, random: 0.1, keep: 0.1 } }, 1)).toThrow(/sum to 1/);
  });
});

describe('captioningMask (official CaptioningDataset._masking_on_text_tokens rule)', () => {
  const opts = { maskTokenId: 8001, vocabSize: 8002 };
  it('count = max(min(int(n*0.6+0.5), n-1), 1); <s> and padding never chosen; </s> can be', () => {
    let eosChosen = 0;
    for (const n of [2, 3, 4, 7, 12, 30, 64]) {
      for (let seed = 0; seed < 60; seed++) {
        const tokens = [0, ...Array.from({ length: n - 2 }, (_, i) => 100 + i), 2, ...new Array(64 - n).fill(1)];
        const { maskedTokens, languageMaskedPos } = captioningMask(tokens, n, opts, new Rng(seed));
        const expected = Math.max(Math.min(Math.trunc(n * 0.6 + 0.5), n - 1), 1);
        expect(languageMaskedPos.reduce((a, b) => a + b, 0)).toBe(expected);
        expect(languageMaskedPos[0]).toBe(0);
        for (let i = n; i < 64; i++) expect(languageMaskedPos[i]).toBe(0);
        for (let i = 0; i < 64; i++) if (!languageMaskedPos[i]) expect(maskedTokens[i]).toBe(tokens[i]);
        else if (maskedTokens[i] !== 8001 && maskedTokens[i] !== tokens[i]) {
          expect(maskedTokens[i]).toBeGreaterThanOrEqual(3);
          expect(maskedTokens[i]).toBeLessThanOrEqual(8001);
        }
        if (languageMaskedPos[n - 1]) eosChosen++;
      }
    }
    expect(eosChosen).toBeGreaterThan(0);
    expect(() => captioningMask([0], 1, opts, 1)).toThrow(/numTokens/);
  });
});

describe('BlockMaskingGenerator batches', () => {
  it('forRatio(14, 0.4) masks 78 patches; generateBatch gives bool (B, P) with per-sample streams', () => {
    const g = BlockMaskingGenerator.forRatio(14, 0.4);
    expect(g.numMaskingPatches).toBe(78);
    const b = g.generateBatch(4, 'seed');
    expect(b.dtype).toBe('bool');
    expect(b.shape).toEqual([4, 196]);
    const bits = b.data as Uint8Array;
    for (let i = 0; i < 4; i++) expect(bits.subarray(i * 196, (i + 1) * 196).reduce((a, v) => a + v, 0)).toBe(78);
    // sample 1 does not depend on the batch size
    expect((g.generateBatch(2, 'seed').data as Uint8Array).subarray(196)).toEqual(bits.subarray(196, 392));
    expect(bits.subarray(0, 196)).not.toEqual(bits.subarray(196, 392));
  });
});
