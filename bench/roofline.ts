/**
 * The roofline: GFLOP/s of a chain of BEiT-3 base FFN products (1576×768 · 768×3072 · 3072×768,
 * repeated) with weights as initializers inside ONE program, so ORT pre-packs them and call and
 * allocation overhead vanish. It is the BEST over the thread counts tried (1 and every available
 * core), so a figure that runs on fewer threads than the machine has shows up as a low fraction
 * instead of hiding behind an equally throttled roofline. Every other figure is divided by this
 * number from the same run.
 */
import { Graph, ops, Program, Tensor } from '../src/index.js';
import { availableCores } from '../src/runtime/index.js';

export const FFN_SHAPE = { tokens: 1576, dim: 768, hidden: 3072 };

function filled(shape: number[], seed: number): Tensor {
  const t = Tensor.zeros('float32', shape);
  const a = t.data as Float32Array;
  // Small values keep the chain numerically tame (no overflow across repeats).
  for (let i = 0; i < a.length; i++) a[i] = (((i * 2654435761 + seed) >>> 0) / 2 ** 32 - 0.5) * 0.05;
  return t;
}

export interface Roofline {
  gflops: number;
  /** Thread count that gave `gflops`. */
  threads: number;
  /** GFLOP/s per thread count tried. */
  byThreads: Record<number, number>;
}

/** Best roofline over 1 thread and every available core. */
export async function measureRoofline(repeats = 6, iters = 5): Promise<Roofline> {
  const counts = [...new Set([1, availableCores()])];
  const byThreads: Record<number, number> = {};
  for (const t of counts) byThreads[t] = await measureRooflineAt(t, repeats, iters);
  const threads = counts.reduce((a, b) => (byThreads[b] > byThreads[a] ? b : a));
  return { gflops: byThreads[threads], threads, byThreads };
}

/** The compiled MatMul chain, its feeds and FLOPs per run. */
async function rooflineProgram(threads: number, repeats: number) {
  const { tokens, dim, hidden } = FFN_SHAPE;
  const g = new Graph('roofline');
  let x = g.input('x', 'float32', [tokens, dim]);
  for (let r = 0; r < repeats; r++) {
    x = ops.matmul(x, g.constant(filled([dim, hidden], 2 * r), 'w1'));
    x = ops.matmul(x, g.constant(filled([hidden, dim], 2 * r + 1), 'w2'));
  }
  g.output(x, 'y');
  const p = await Program.compile(g, { threads });
  return { p, feeds: { x: filled([tokens, dim], 99) }, flops: repeats * 2 * (2 * tokens * dim * hidden) };
}

/** Mean process CPU ms (user + system) per call after one warm-up: robust to other processes on a shared machine. */
export async function cpuMs(fn: () => Promise<unknown>, n: number): Promise<number> {
  await fn();
  const c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) await fn();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000 / n;
}

/** The MatMul chain on ONE thread by process CPU time (GFLOP per CPU second), for CPU-time figures. */
export async function measureRooflineCpu1t(repeats = 3, iters = 3): Promise<number> {
  const { p, feeds, flops } = await rooflineProgram(1, repeats);
  const ms = await cpuMs(() => p.run(feeds), iters);
  await p.release();
  return flops / ms / 1e6;
}

/** The MatMul chain on exactly `threads` intra-op threads. */
export async function measureRooflineAt(threads: number, repeats = 6, iters = 5): Promise<number> {
  const { p, feeds, flops } = await rooflineProgram(threads, repeats);
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
