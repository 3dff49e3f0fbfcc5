/**
 * Seeded PRNG for augmentation and masking. Every random choice in src/vision takes one of these,
 * so a seed fixes the whole result, in the main thread and in workers alike.
 * Hand-written (sfc32, seeded through splitmix32): a few lines, identical in Node and browsers.
 */

function splitmix32(state: number): () => number {
  return () => {
    state = (state + 0x9e3779b9) | 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
}

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  /** `seed`: any integer (only its low 32 bits and the sign of its high part matter) or a string. */
  constructor(seed: number | string) {
    let s: number;
    if (typeof seed === 'string') {
      s = 0x811c9dc5;
      for (let i = 0; i < seed.length; i++) s = Math.imul(s ^ seed.charCodeAt(i), 0x01000193);
    } else s = (seed >>> 0) ^ Math.floor(seed / 2 ** 32);
    const sm = splitmix32(s);
    this.a = sm();
    this.b = sm();
    this.c = sm();
    this.d = sm();
    for (let i = 0; i < 12; i++) this.u32();
  }

  /** Next raw 32-bit unsigned integer. */
  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform float in [0, 1) with 53 random bits. */
  next(): number {
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

  /** An independent generator derived from this one's seed stream and a label (e.g. per sample). */
  fork(label: number | string): Rng {
    const base = this.u32();
    return new Rng(typeof label === 'number' ? (base ^ Math.imul(label + 1, 0x9e3779b1)) >>> 0 : `${base}:${label}`);
  }
}

/** Accepts a seed or an existing generator. */
export function toRng(seedOrRng: number | string | Rng): Rng {
  return seedOrRng instanceof Rng ? seedOrRng : new Rng(seedOrRng);
}
