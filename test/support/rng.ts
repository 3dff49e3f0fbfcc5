// Seeded random data for tests, from the project's one generator (src/util/random.ts), so a
// failing case reproduces from its seed.
import { Rng, type RngAlgorithm } from '../../src/util/random.js';

export { Rng };

/** A test generator; mulberry32 by default (32-bit floats, cheap). */
export function testRng(seed: number | string, algorithm: RngAlgorithm = 'mulberry32'): Rng {
  return new Rng(seed, algorithm);
}

/** `n` floats uniform in [lo, hi). */
export function uniform(n: number, seed: number | string, lo = -1, hi = 1): Float32Array {
  const r = testRng(seed);
  return Float32Array.from({ length: n }, () => lo + (hi - lo) * r.next());
}
