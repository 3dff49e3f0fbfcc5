/** Finite-difference gradient checking through ORT (central differences). */
import { expect } from 'vitest';
import { grad } from '../../src/autodiff/index.js';
import { type DType, type Dim, Graph, ops, Program, Tensor, type Value } from '../../src/index.js';

export interface FdInput {
  shape: readonly number[];
  /** Declared dims (symbols allowed); defaults to `shape`. */
  dims?: readonly Dim[];
  /** Keep values away from 0 (for log/sqrt/div/pow bases). */
  positive?: boolean;
  data?: number[];
}

/** Deterministic pseudo-random values in [-1, 1). */
export function rand(n: number, seed: number): number[] {
  let s = seed >>> 0 || 1;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32) * 2 - 1;
  });
}

/**
 * Checks grad() of loss = Σ(½y² + 0.3y), y = build(inputs), against central differences of the
 * same ORT program. float64 unless an op has no float64 kernel in ORT CPU (then float32, looser).
 */
export async function checkGrad(
  build: (g: Graph, xs: Value[]) => Value,
  inputs: FdInput[],
  dtype: DType = 'float64',
  seed = 1,
): Promise<void> {
  const g = new Graph('fd');
  const xs = inputs.map((inp, i) => g.input(`x${i}`, dtype, inp.dims ?? inp.shape));
  const y = build(g, xs);
  const loss = ops.add(
    ops.mul(
      ops.reduceSum(
        ops.mul(y, y),
        Array.from({ length: y.rank }, (_, i) => i),
      ),
      0.5,
    ),
    ops.mul(
      ops.reduceSum(
        y,
        Array.from({ length: y.rank }, (_, i) => i),
      ),
      0.3,
    ),
  );
  g.output(loss, 'loss');
  grad(loss, xs).forEach((d, i) => g.output(d, `d${i}`));
  const p = await Program.compile(g, { threads: 1 }); // tiny graphs: no thread pool
  const feeds: Record<string, Tensor> = {};
  inputs.forEach((inp, i) => {
    const n = inp.shape.reduce((a, b) => a * b, 1);
    const vals = inp.data ?? rand(n, seed * 97 + i * 13).map((v) => (inp.positive ? 0.5 + Math.abs(v) : v));
    feeds[`x${i}`] = dtype === 'float64' ? Tensor.f64(inp.shape, vals) : Tensor.f32(inp.shape, vals);
  });
  const out = await p.run(feeds);
  const f64 = dtype === 'float64';
  const h = f64 ? 1e-6 : 1e-2;
  const [atol, rtol] = f64 ? [1e-7, 1e-5] : [5e-3, 3e-2];
  for (let i = 0; i < inputs.length; i++) {
    const analytic = out[`d${i}`];
    expect(analytic.shape).toEqual([...inputs[i].shape]);
    const x = feeds[`x${i}`].data as Float64Array | Float32Array;
    for (let j = 0; j < x.length; j++) {
      const orig = x[j];
      x[j] = orig + h;
      const up = ((await p.run(feeds)).loss.data as Float64Array)[0];
      x[j] = orig - h;
      const down = ((await p.run(feeds)).loss.data as Float64Array)[0];
      x[j] = orig;
      const numeric = (up - down) / (2 * h);
      const a = analytic.data[j] as number;
      if (!(Math.abs(a - numeric) <= atol + rtol * Math.abs(numeric)))
        throw new Error(`input x${i}[${j}]: analytic ${a} vs numeric ${numeric}`);
    }
  }
  await p.release();
}
