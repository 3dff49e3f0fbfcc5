/**
 * The roofline: GFLOP/s of a chain of BEiT-3 base FFN products (1576×768 · 768×3072 · 3072×768,
 * repeated) with weights as initializers inside ONE program, so ORT pre-packs them and call and
 * allocation overhead vanish. Every other figure is divided by this number from the same run.
 */
import { Graph, ops, Program, Tensor } from '../src/index.js';

export const FFN_SHAPE = { tokens: 1576, dim: 768, hidden: 3072 };

function filled(shape: number[], seed: number): Tensor {
  const t = Tensor.zeros('float32', shape);
  const a = t.data as Float32Array;
  // Small values keep the chain numerically tame (no overflow across repeats).
  for (let i = 0; i < a.length; i++) a[i] = (((i * 2654435761 + seed) >>> 0) / 2 ** 32 - 0.5) * 0.05;
  return t;
}

export async function measureRoofline(repeats = 6, iters = 5): Promise<number> {
  const { tokens, dim, hidden } = FFN_SHAPE;
  const g = new Graph('roofline');
  let x = g.input('x', 'float32', [tokens, dim]);
  for (let r = 0; r < repeats; r++) {
    x = ops.matmul(x, g.constant(filled([dim, hidden], 2 * r), 'w1'));
    x = ops.matmul(x, g.constant(filled([hidden, dim], 2 * r + 1), 'w2'));
  }
  g.output(x, 'y');
  const p = await Program.compile(g);
  const feeds = { x: filled([tokens, dim], 99) };
  const flops = repeats * 2 * (2 * tokens * dim * hidden);
  await p.run(feeds);
  let best = Infinity;
  for (let i = 0; i < iters; i++) {
    const t0 = performance.now();
    await p.run(feeds);
    best = Math.min(best, performance.now() - t0);
  }
  await p.release();
  return flops / (best / 1000) / 1e9;
}
