import { describe, expect, it } from 'vitest';
import { imageMasker, maskTextRow, PretrainError } from '../../src/train/pretrain.js';
import { VOCAB, row } from './pretrain-synthetic.js';

/** Sizes of the 4-connected components of masked patches. */
function components(mask: Uint8Array, H: number, W: number): number[] {
  const seen = new Uint8Array(mask.length);
  const sizes: number[] = [];
  for (let i = 0; i < mask.length; i++) {
    if (!mask[i] || seen[i]) continue;
    let n = 0;
    const stack = [i];
    seen[i] = 1;
    while (stack.length) {
      const j = stack.pop()!;
      n++;
      const y = Math.floor(j / W);
      const x = j % W;
      for (const [dy, dx] of [[1, 0], [-1, 0], [0, 1], [0, -1]]) {
        const yy = y + dy;
        const xx = x + dx;
        const k = yy * W + xx;
        if (yy >= 0 && yy < H && xx >= 0 && xx < W && mask[k] && !seen[k]) {
          seen[k] = 1;
          stack.push(k);
        }
      }
    }
    sizes.push(n);
  }
  return sizes;
}

describe('block-wise image masking (BEiT generator at 40%)', () => {
  it('224/16: exactly 78 of 196 patches, blocks drawn with area ≥ 16 and aspect in [0.3, 1/0.3], masks made of large blocks', () => {
    const m = imageMasker(14);
    expect(m.numMaskingPatches).toBe(78); // round(0.4 · 196)
    const hits = new Float64Array(196);
    let blocks = 0;
    let topped = 0;
    const compSizes: number[] = [];
    const N = 400;
    for (let s = 0; s < N; s++) {
      const r = m.generate(s);
      expect(r.mask.reduce((a, b) => a + b, 0)).toBe(78);
      let remaining = 78;
      const scratch = new Uint8Array(196);
      for (const b of r.blocks) {
        // area drawn uniformly in [16, remaining] (BEiT: random.uniform(min_num_patches, max_mask_patches))
        expect(b.targetArea).toBeGreaterThanOrEqual(Math.min(16, remaining) - 1e-9);
        expect(b.targetArea).toBeLessThanOrEqual(Math.max(16, remaining) + 1e-9);
        expect(b.aspect).toBeGreaterThanOrEqual(0.3 - 1e-9);
        expect(b.aspect).toBeLessThanOrEqual(1 / 0.3 + 1e-9);
        expect(b.h).toBeLessThan(14);
        expect(b.w).toBeLessThan(14);
        let added = 0;
        for (let y = b.top; y < b.top + b.h; y++)
          for (let x = b.left; x < b.left + b.w; x++) {
            added += 1 - scratch[y * 14 + x];
            scratch[y * 14 + x] = 1;
          }
        expect(added).toBeGreaterThan(0);
        remaining -= added;
      }
      expect(remaining).toBe(r.toppedUp); // blocks, then single patches, give exactly 78
      blocks += r.blocks.length;
      topped += r.toppedUp;
      r.mask.forEach((v, i) => (hits[i] += v));
      compSizes.push(...components(r.mask, 14, 14));
    }
    // block structure: few blocks per mask, big connected regions, little single-patch top-up
    expect(blocks / N).toBeGreaterThan(1.5);
    expect(blocks / N).toBeLessThan(12);
    expect(topped / N).toBeLessThan(6);
    const meanComp = compSizes.reduce((a, b) => a + b, 0) / compSizes.length;
    expect(meanComp).toBeGreaterThan(16);
    // every patch gets masked sometimes, none always; the mean rate is exactly 78/196
    expect(Math.min(...hits) / N).toBeGreaterThan(0.01); // corners are rarer (uniform top-left placement), as in BEiT
    expect(Math.max(...hits) / N).toBeLessThan(0.95);
    expect(hits.reduce((a, b) => a + b, 0) / N / 196).toBeCloseTo(78 / 196, 12);
  });

  it('uniform random masking has small components: block masking is measurably different', () => {
    const m = imageMasker(14);
    let block = 0;
    let blockCount = 0;
    for (let s = 0; s < 50; s++) {
      const c = components(m.generate(s).mask, 14, 14);
      block += c.reduce((a, b) => a + b, 0);
      blockCount += c.length;
    }
    expect(block / blockCount).toBeGreaterThan(10); // iid Bernoulli(0.4) gives ≈ 2–3
  });

  it('small grids cap the block size at the masked count; the same seed gives the same mask', () => {
    const m = imageMasker(4);
    expect(m.numMaskingPatches).toBe(6);
    expect(m.minNumPatches).toBe(6);
    expect([...m.generate(7).mask]).toEqual([...m.generate(7).mask]);
    expect(() => imageMasker(4, 0)).toThrow(PretrainError);
  });
});

describe('text masking (15% monomodal, 50% pairs)', () => {
  const T = 40;
  it('chooses exactly round(ratio · real tokens) positions, never <s>, </s> or padding', () => {
    for (const [n, ratio] of [[20, 0.15], [20, 0.5], [3, 0.15], [37, 0.5]] as const) {
      const r = row(Array.from({ length: n }, (_, i) => 10 + (i % 50)), T);
      const m = maskTextRow(r.tokens, r.padding, ratio, 'bert', VOCAB, n);
      expect(m.positions.length).toBe(Math.max(1, Math.trunc(n * ratio + 0.5)));
      for (const p of m.positions) {
        expect(p).toBeGreaterThan(0);
        expect(p).toBeLessThan(n + 1);
        expect(m.targets[m.positions.indexOf(p)]).toBe(r.tokens[p]);
      }
      expect(m.padding).toEqual(r.padding);
      expect(m.ids.slice(n + 1)).toEqual(r.tokens.slice(n + 1));
    }
  });

  it("'mask' turns every chosen token into <mask>; 'bert' gives ≈ 80% <mask>, 10% random, 10% kept", () => {
    const r = row(Array.from({ length: 30 }, (_, i) => 10 + i), T);
    const all = maskTextRow(r.tokens, r.padding, 0.5, 'mask', VOCAB, 1);
    expect(all.positions.every((p) => all.ids[p] === VOCAB.maskId)).toBe(true);
    let mask = 0;
    let kept = 0;
    let random = 0;
    for (let s = 0; s < 400; s++) {
      const m = maskTextRow(r.tokens, r.padding, 0.5, 'bert', VOCAB, s);
      for (const p of m.positions) {
        if (m.ids[p] === VOCAB.maskId) mask++;
        else if (m.ids[p] === r.tokens[p]) kept++;
        else {
          random++;
          expect(m.ids[p]).toBeGreaterThanOrEqual(4);
          expect(m.ids[p]).toBeLessThan(VOCAB.vocabSize);
        }
      }
      for (let i = 0; i < T; i++) if (!m.positions.includes(i)) expect(m.ids[i]).toBe(r.tokens[i]);
    }
    const total = mask + kept + random;
    expect(mask / total).toBeCloseTo(0.8, 1);
    expect(kept / total).toBeGreaterThan(0.07);
    expect(random / total).toBeGreaterThan(0.07);
    expect(() => maskTextRow(r.tokens, r.padding, 0.15, 'nope' as never, VOCAB, 1)).toThrow(PretrainError);
  });
});
