// Map functions imported by worker threads in the loader tests.
import { deriveSeed, Rng } from '../../src/util/random.js';

/** Decodes a raw WebDataset-like sample into {id, caption, noise} with a seeded random value. */
export function describeSample(value: { id: number; text: string }, ctx: { seed: number; options: { scale: number } }): unknown {
  const rng = new Rng(ctx.seed, 'mulberry32');
  const pixels = new Float32Array(4).map(() => rng.next() * ctx.options.scale);
  return { id: value.id, text: value.text.toUpperCase(), pixels, check: deriveSeed(ctx.seed, 'x') };
}

export function failOnSeven(value: { id: number }): unknown {
  if (value.id === 7) throw new Error('seven is not allowed');
  return { id: value.id };
}

/** Busy work so that worker parallelism matters. */
export function slowSquare(value: { id: number }): unknown {
  const end = Date.now() + 2;
  while (Date.now() < end);
  return { id: value.id, sq: value.id * value.id };
}

/** Kills its worker thread (a crash, not an exception). */
export function crash(): unknown {
  process.exit(3);
}
