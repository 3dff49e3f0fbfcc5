// The one seeded Rng: both algorithms reproduce the sequences the generators they replaced
// produced (values recorded from data/random.ts and vision/random.ts at 3be01a5, and corpus rng()),
// so loader order, augmentation, masks and corpus builds did not change.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { rng as corpusRng } from '../../src/corpus/util.js';
import { deriveSeed, permutation, Rng, shuffleInPlace, toRng } from '../../src/util/random.js';

describe('Rng', () => {
  it("'mulberry32' gives the loader/init sequence (32-bit floats)", () => {
    const r = new Rng(12345, 'mulberry32');
    expect([r.next(), r.next(), r.int(1000)]).toEqual([0.9797282677609473, 0.3067522644996643, 484]);
    expect(permutation(8, new Rng(9, { algorithm: 'mulberry32' }))).toEqual([7, 6, 3, 2, 4, 0, 5, 1]);
  });

  it("'sfc32' (default) gives the augmentation/masking sequence (53-bit floats, string seeds, forks, samples)", () => {
    const r = new Rng(42);
    expect(r.algorithm).toBe('sfc32');
    expect([r.next(), r.u32(), r.randint(1, 6)]).toEqual([0.2395531254787745, 400437680, 2]);
    expect(new Rng('abc').u32()).toBe(4010179712);
    expect(new Rng(5).fork(3).u32()).toBe(3875767575);
    expect(new Rng(1).sample(10, 4)).toEqual([4, 7, 9, 8]);
    expect(() => new Rng(1).sample(3, 4)).toThrow(RangeError);
  });

  it('is deterministic per seed and algorithm, and the two algorithms differ', () => {
    for (const algorithm of ['sfc32', 'mulberry32'] as const) {
      const a = new Rng(77, { algorithm });
      const b = new Rng(77, { algorithm });
      const xs = Array.from({ length: 50 }, () => a.next());
      expect(Array.from({ length: 50 }, () => b.next())).toEqual(xs);
      expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
      expect(new Rng(78, { algorithm }).next()).not.toBe(xs[0]);
      expect(a.fork('x').algorithm).toBe(algorithm);
    }
    expect(new Rng(77, 'mulberry32').next()).not.toBe(new Rng(77).next());
    const r = new Rng(3);
    expect(toRng(r)).toBe(r);
    expect(toRng(3).next()).toBe(new Rng(3).next());
    expect(shuffleInPlace([1, 2, 3, 4, 5], new Rng(4)).sort()).toEqual([1, 2, 3, 4, 5]);
  });

  it('corpus rng() is mulberry32 seeded by sha256(seed), as the corpus builder had it', () => {
    let a = createHash('sha256').update('vqa:train').digest().readUInt32BE(0);
    const reference = (): number => {
      a = (a + 0x6d2b79f5) | 0;
      let t = Math.imul(a ^ (a >>> 15), 1 | a);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const r = corpusRng('vqa:train');
    const got = Array.from({ length: 200 }, r);
    expect(got.slice(0, 3)).toEqual([0.06526113348081708, 0.17636661510914564, 0.8233398790471256]);
    expect(got).toEqual(Array.from({ length: 200 }, reference));
  });
});

describe('deriveSeed', () => {
  it('keeps the values the loader and init were pinned to', () => {
    expect(deriveSeed(7, 1, 'shuffle')).toBe(4122608670);
    expect(deriveSeed(0)).toBe(2462723854);
  });

  it('does not collide where seed*1000+i did (seed 1 / op 1000 vs seed 2 / op 0), and depends on order', () => {
    expect(1 * 1000 + 1000).toBe(2 * 1000 + 0);
    expect(deriveSeed(1, 'op', 1000)).not.toBe(deriveSeed(2, 'op', 0));
    expect(deriveSeed(1, 1000)).toBe(1026622784);
    expect(deriveSeed(2, 0)).toBe(843525067);
    expect(deriveSeed(1, 'a', 'b')).not.toBe(deriveSeed(1, 'b', 'a'));
    const seen = new Set<number>();
    for (let s = 0; s < 20; s++) for (let i = 0; i < 500; i++) seen.add(deriveSeed(s, 'op', i));
    expect(seen.size).toBe(20 * 500);
  });
});
