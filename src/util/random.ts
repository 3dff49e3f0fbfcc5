/**
 * The one seeded PRNG of beit3 (data order, augmentation, masking, corpus generation, parameter
 * init) and `deriveSeed`, which turns a base seed plus a path (epoch, stream name, index, parameter
 * name...) into an independent 32-bit seed. Platform-free: identical in Node, workers and browsers.
 *
 * Two algorithms live behind the one class because existing results are pinned to both:
 * - 'sfc32' (default; seeded through splitmix32, 53-bit floats): RandAugment, random resized
 *   crops and block masking (vision tests and fixtures pin its draws);
 * - 'mulberry32' (32-bit state, 32-bit floats): loader shuffles and per-sample seeds, corpus task
 *   generation and parameter init (data-order tests and corpus determinism pin it).
 * Switching either site to the other algorithm would change pinned outputs, so the choice is kept
 * explicit at each site instead of silently changing results. Hand-written: a few lines each,
 * and they must be bit-identical everywhere.
 */

export type RngAlgorithm = 'sfc32' | 'mulberry32';

/** 32-bit mix (murmur3 finalizer) used to derive independent stream seeds. */
function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * A 32-bit seed from a base seed and a path of numbers/strings: order-sensitive and without the
 * collisions of arithmetic schemes such as `seed * 1000 + i` (seed 1 / i 1000 = seed 2 / i 0).
 */
export function deriveSeed(seed: number, ...path: (number | string)[]): number {
  let h = mix32((seed >>> 0) ^ 0x9e3779b9);
  for (const part of path) {
    if (typeof part === 'number') {
      h = mix32(h ^ mix32((part >>> 0) + 0x7f4a7c15));
      h = mix32(h ^ Math.floor(part / 2 ** 32)); // numbers above 2^32
    } else {
      for (let i = 0; i < part.length; i++) h = mix32(h ^ (part.charCodeAt(i) + 0x165667b1));
    }
  }
  return h;
}

/** FNV-1a of a string: how string seeds become 32-bit ones. */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h;
}

function splitmix32(state: number): () => number {
  return () => {
    state = (state + 0x9e3779b9) | 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
}

export interface RngOptions {
  /** Default 'sfc32'. See the module comment for which sites pin which. */
  algorithm?: RngAlgorithm;
}

export class Rng {
  readonly algorithm: RngAlgorithm;
  private readonly mulberry: boolean; // the hot-path test (init draws ~10^8 numbers)
  // sfc32 uses a..d; mulberry32 uses a only
  private a = 0;
  private b = 0;
  private c = 0;
  private d = 0;

  /**
   * `seed`: an integer (sfc32: its low 32 bits and the sign of its high part matter; mulberry32:
   * its low 32 bits) or a string (hashed with FNV-1a).
   */
  constructor(seed: number | string, opts: RngOptions | RngAlgorithm = {}) {
    this.algorithm = (typeof opts === 'string' ? opts : opts.algorithm) ?? 'sfc32';
    this.mulberry = this.algorithm === 'mulberry32';
    if (this.algorithm === 'mulberry32') {
      this.a = (typeof seed === 'string' ? fnv1a(seed) : seed) >>> 0;
      return;
    }
    const s = typeof seed === 'string' ? fnv1a(seed) : (seed >>> 0) ^ Math.floor(seed / 2 ** 32);
    const sm = splitmix32(s);
    this.a = sm();
    this.b = sm();
    this.c = sm();
    this.d = sm();
    for (let i = 0; i < 12; i++) this.u32();
  }

  /** Next raw 32-bit unsigned integer. */
  u32(): number {
    if (this.mulberry) {
      const s = (this.a = (this.a + 0x6d2b79f5) >>> 0);
      let t = Math.imul(s ^ (s >>> 15), s | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return (t ^ (t >>> 14)) >>> 0;
    }
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform float in [0, 1): 53 random bits (sfc32) or 32 (mulberry32, as pinned). */
  next(): number {
    if (this.mulberry) return this.u32() / 4294967296;
    return (this.u32() * 2 ** 21 + (this.u32() >>> 11)) / 2 ** 53;
  }

  /** Python `random.uniform(a, b)`: a + (b - a) * U (a > b allowed). */
  uniform(a: number, b: number): number {
    return a + (b - a) * this.next();
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Python `random.randint(a, b)`: integer in [a, b], both ends included. */
  randint(a: number, b: number): number {
    return a + this.int(b - a + 1);
  }

  choice<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  /** `k` distinct indices of [0, n) (partial Fisher–Yates), in draw order. */
  sample(n: number, k: number): number[] {
    if (k > n) throw new RangeError(`sample: cannot draw ${k} distinct items from ${n}`);
    const pool = Array.from({ length: n }, (_, i) => i);
    for (let i = 0; i < k; i++) {
      const j = i + this.int(n - i);
      [pool[i], pool[j]] = [pool[j], pool[i]];
    }
    return pool.slice(0, k);
  }

  /** An independent generator (same algorithm) derived from this one's stream and a label. */
  fork(label: number | string): Rng {
    const base = this.u32();
    const seed = typeof label === 'number' ? (base ^ Math.imul(label + 1, 0x9e3779b1)) >>> 0 : `${base}:${label}`;
    return new Rng(seed, { algorithm: this.algorithm });
  }
}

/** Accepts a seed or an existing generator. */
export function toRng(seedOrRng: number | string | Rng, opts?: RngOptions | RngAlgorithm): Rng {
  return seedOrRng instanceof Rng ? seedOrRng : new Rng(seedOrRng, opts);
}

/** Fisher–Yates shuffle in place. */
export function shuffleInPlace<T>(items: T[], rng: Rng): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = items[i];
    items[i] = items[j];
    items[j] = t;
  }
  return items;
}

/** A permutation of 0..n-1. */
export function permutation(n: number, rng: Rng): number[] {
  return shuffleInPlace(
    Array.from({ length: n }, (_, i) => i),
    rng,
  );
}
