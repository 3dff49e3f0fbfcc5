import { describe, expect, it } from 'vitest';
import { F, Graph, ops, Program, ShapeError, Tensor, type Value } from '../../src/index.js';

async function run1(g: Graph, out: Value, feeds: Record<string, Tensor>): Promise<Tensor> {
  g.output(out, 'y');
  const p = await Program.compile(g, { threads: 1 });
  return (await p.run(feeds)).y;
}
const arr = (t: Tensor) => t.toArray();
const x34 = Tensor.f32([3, 4], [0.5, -1, 2, 3, -2, 0, 1, 4, 0.25, -0.5, 6, -3]);

describe('op builders: shape inference and errors', () => {
  it('infers shapes for split/gatherElements/scatterND/topK/argMax/expand', () => {
    const g = new Graph();
    const x = g.input('x', 'float32', ['b', 6, 4]);
    const [a, b] = ops.split(x, [2, 4], 1);
    expect(a.shape).toEqual(['b', 2, 4]);
    expect(b.shape).toEqual(['b', 4, 4]);
    expect(ops.split(x, 3, 1).map((v) => v.shape)).toEqual([
      ['b', 2, 4],
      ['b', 2, 4],
      ['b', 2, 4],
    ]);
    const idx = g.input('i', 'int64', ['b', 6, 1]);
    expect(ops.gatherElements(x, idx, 2).shape).toEqual(['b', 6, 1]);
    expect(ops.topK(x, 2)[1].shape).toEqual(['b', 6, 2]);
    expect(ops.argMax(x, 1).shape).toEqual(['b', 4]);
    expect(ops.expand(ops.reduceSum(x, [0], true), ['b', 6, 4]).shape).toEqual(['b', 6, 4]);
    expect(ops.reshape(x, [-1, 4]).shape[1]).toBe(4);
  });
  it('names the op and shapes in errors', () => {
    const g = new Graph();
    const x = g.input('x', 'float32', [2, 6]);
    expect(() => ops.split(x, [2, 3], 1)).toThrow(/Split: sizes \[2,3\] sum to 5.*\[2, 6\]/);
    expect(() => ops.matmul(x, x)).toThrow(ShapeError);
    expect(() => ops.matmul(x, x)).toThrow(/MatMul: inner dims differ: \[2, 6\] @ \[2, 6\]/);
    expect(() => ops.reshape(x, [5, -1])).toThrow(/Reshape: cannot reshape \[2, 6\]/);
    expect(() => ops.topK(x, 7)).toThrow(/TopK: k=7 exceeds/);
    expect(() => F.linear(x, g.input('w', 'float32', [3, 5]))).toThrow(
      /linear: input \[2, 6\] has 6 features/,
    );
    expect(() => ops.add(x, g.input('z', 'float32', [3]))).toThrow(
      /Add: shapes \[2, 6\] and \[3\] do not broadcast/,
    );
  });
});

describe('op builders: values through ORT', () => {
  it('clip, pow, sign, comparisons and logic', async () => {
    const g = new Graph();
    const x = g.input('x', 'float32', [3, 4]);
    const y = ops.add(
      ops.add(ops.clip(x, -1, 2), ops.pow(x, 2)),
      ops.where(ops.and(ops.greater(x, 0), ops.not(ops.equal(x, 4))), ops.sign(x), 0),
    );
    const got = arr(await run1(g, y, { x: x34 }));
    const want = x34.toArray().map((v) => Math.min(Math.max(v, -1), 2) + v * v + (v > 0 && v !== 4 ? 1 : 0));
    got.forEach((v, i) => expect(v).toBeCloseTo(want[i], 5));
  });
  it('split, concat, gatherElements, scatterElements(add), scatterND, gatherND', async () => {
    const g = new Graph();
    const x = g.input('x', 'float32', [3, 4]);
    const [a, b] = ops.split(x, [1, 3], 1);
    const swapped = ops.concat([b, a], 1);
    const ge = ops.gatherElements(swapped, g.constant(Tensor.i64([3, 1], [0, 3, 2])), 1);
    const sc = ops.scatterElements(
      ops.zerosLike(x),
      g.constant(Tensor.i64([3, 4], [0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1])),
      x,
      1,
      'add',
    );
    const snd = ops.scatterND(
      x,
      g.constant(Tensor.i64([1, 1], [2])),
      g.constant(Tensor.f32([1, 4], [9, 9, 9, 9])),
    );
    const gnd = ops.gatherND(snd, g.constant(Tensor.i64([2, 2], [2, 0, 0, 3])));
    const y = ops.concat([ops.reshape(ge, [3]), ops.reshape(sc, [12]), gnd], 0);
    const got = arr(await run1(g, y, { x: x34 }));
    const X = (r: number, c: number) => x34.data[r * 4 + c] as number;
    expect(got.slice(0, 3)).toEqual([X(0, 1), X(1, 0), X(2, 3)]);
    const sums = [0, 1, 2].flatMap((r) => [X(r, 0) + X(r, 1), X(r, 2) + X(r, 3), 0, 0]);
    got.slice(3, 15).forEach((v, i) => expect(v).toBeCloseTo(sums[i], 6));
    expect(got.slice(15)).toEqual([9, X(0, 3)]);
  });
  it('argMax, topK, range, oneHot, randomUniformLike', async () => {
    const g = new Graph();
    const x = g.input('x', 'float32', [3, 4]);
    const [tv, ti] = ops.topK(x, 2, 1);
    const am = ops.cast(ops.argMax(x, 1), 'float32');
    const r = ops.cast(ops.range(x, 0, 6, 2), 'float32');
    const oh = ops.reduceSum(ops.oneHot(g.constant(Tensor.i64([2], [1, 3])), 4), [0]);
    const u = ops.randomUniformLike(x, 2, 3, 7);
    const inRange = ops.cast(ops.and(ops.greaterOrEqual(u, 2), ops.less(u, 3)), 'float32');
    const y = ops.concat(
      [
        ops.reshape(tv, [6]),
        ops.cast(ops.reshape(ti, [6]), 'float32'),
        am,
        r,
        oh,
        ops.reduceSum(inRange, [0, 1], true).shape.length
          ? ops.reshape(ops.reduceSum(inRange, [0, 1]), [1])
          : am,
      ],
      0,
    );
    const got = arr(await run1(g, y, { x: x34 }));
    expect(got.slice(0, 6)).toEqual([3, 2, 4, 1, 6, 0.25]);
    expect(got.slice(6, 12)).toEqual([3, 2, 3, 2, 2, 0]);
    expect(got.slice(12, 15)).toEqual([3, 3, 2]);
    expect(got.slice(15, 18)).toEqual([0, 2, 4]);
    expect(got.slice(18, 22)).toEqual([0, 1, 0, 1]);
    expect(got[22]).toBe(12);
  });
  it('reshape with symbols at new positions reads run-time sizes', async () => {
    const g = new Graph();
    const x = g.input('x', 'float32', ['b', 's', 4]);
    const flat = ops.reshape(x, [-1, 4]);
    const back = ops.reshape(ops.mul(flat, 2), ['b', 's', 2, 2]);
    const moved = ops.reshape(ops.transpose(back, [1, 0, 2, 3]), ['s', 'b', 4]);
    expect(moved.shape).toEqual(['s', 'b', 4]);
    const data = Array.from({ length: 24 }, (_, i) => i);
    const out = await run1(g, moved, { x: Tensor.f32([2, 3, 4], data) });
    expect(out.shape).toEqual([3, 2, 4]);
    expect(out.data[4]).toBe(2 * data[12]); // moved[0][1] = x[1][0]
  });
});

describe('F composites against direct formulas', () => {
  it('linear (PyTorch layout), gelu (erf), l2Normalize, layerNorm', async () => {
    const g = new Graph();
    const x = g.input('x', 'float32', [3, 4]);
    const w = g.constant(Tensor.f32([2, 4], [1, 0, -1, 0.5, 0, 2, 0, 1]));
    const b = g.constant(Tensor.f32([2], [0.1, -0.2]));
    const lin = F.linear(x, w, b);
    const ge = F.gelu(x);
    const l2 = F.l2Normalize(x, -1);
    const ln = F.layerNorm(
      x,
      g.constant(Tensor.f32([4], [1, 2, 1, 1])),
      g.constant(Tensor.f32([4], [0, 0, 1, 0])),
      1e-5,
    );
    const y = ops.concat(
      [ops.reshape(lin, [6]), ops.reshape(ge, [12]), ops.reshape(l2, [12]), ops.reshape(ln, [12])],
      0,
    );
    const got = arr(await run1(g, y, { x: x34 }));
    const X = x34.toArray();
    const W = [1, 0, -1, 0.5, 0, 2, 0, 1];
    const erf = (z: number) => {
      // Abramowitz–Stegun 7.1.26 is too coarse; use a series for |z| < 3 and asymptotics beyond.
      let s = 0,
        t = z;
      for (let n = 0; n < 80; n++) {
        s += t / (2 * n + 1);
        t *= (-z * z) / (n + 1);
      }
      return Math.abs(z) > 5 ? Math.sign(z) : (2 / Math.sqrt(Math.PI)) * s;
    };
    for (let r = 0; r < 3; r++) {
      const row = X.slice(r * 4, r * 4 + 4);
      for (let o = 0; o < 2; o++)
        expect(got[r * 2 + o]).toBeCloseTo(
          row.reduce((p, v, i) => p + v * W[o * 4 + i], 0) + [0.1, -0.2][o],
          5,
        );
      const nrm = Math.hypot(...row);
      const mu = row.reduce((p, v) => p + v, 0) / 4;
      const va = row.reduce((p, v) => p + (v - mu) ** 2, 0) / 4;
      row.forEach((v, i) => {
        expect(got[6 + r * 4 + i]).toBeCloseTo(0.5 * v * (1 + erf(v / Math.SQRT2)), 5);
        expect(got[18 + r * 4 + i]).toBeCloseTo(v / nrm, 5);
        expect(got[30 + r * 4 + i]).toBeCloseTo(
          ((v - mu) / Math.sqrt(va + 1e-5)) * [1, 2, 1, 1][i] + [0, 0, 1, 0][i],
          4,
        );
      });
    }
  });
  it('crossEntropy with ignore index and label smoothing matches the torch formula', async () => {
    const g = new Graph();
    const x = g.input('x', 'float32', [3, 4]);
    const labels = g.constant(Tensor.i64([3], [2, -100, 0]));
    const y = ops.concat(
      [
        ops.reshape(F.crossEntropy(x, labels), [1]),
        ops.reshape(F.crossEntropy(x, labels, { labelSmoothing: 0.1 }), [1]),
      ],
      0,
    );
    const got = arr(await run1(g, y, { x: x34 }));
    const X = x34.toArray();
    const logp = (r: number) => {
      const row = X.slice(r * 4, r * 4 + 4);
      const m = Math.max(...row);
      const lse = m + Math.log(row.reduce((p, v) => p + Math.exp(v - m), 0));
      return row.map((v) => v - lse);
    };
    const nll = (-logp(0)[2] - logp(2)[0]) / 2;
    const smooth = (-logp(0).reduce((p, v) => p + v) / 4 - logp(2).reduce((p, v) => p + v) / 4) / 2;
    expect(got[0]).toBeCloseTo(nll, 5);
    expect(got[1]).toBeCloseTo(0.9 * nll + 0.1 * smooth, 5);
  });
  it('bceWithLogits and attention with key padding + additive mask', async () => {
    const g = new Graph();
    const x = g.input('x', 'float32', [3, 4]);
    const T = [1, 0, 1, 0, 0, 1, 1, 0, 1, 1, 0, 0];
    const t = g.constant(Tensor.f32([3, 4], T));
    const bce = F.bceWithLogits(x, t);
    const q = ops.reshape(x, [1, 1, 3, 4]);
    const pad = g.constant(new Tensor('bool', [1, 3], Uint8Array.from([0, 0, 1])));
    const add = g.constant(Tensor.f32([3, 3], [0, -1, 0, 0, 0, 0, -2, 0, 0]));
    const att = F.scaledDotProductAttention(q, q, q, { keyPaddingMask: pad, attnMask: add });
    const y = ops.concat([ops.reshape(bce, [1]), ops.reshape(att, [12])], 0);
    const got = arr(await run1(g, y, { x: x34 }));
    const X = x34.toArray();
    const bceWant =
      X.reduce((p, v, i) => p + Math.max(v, 0) - v * T[i] + Math.log1p(Math.exp(-Math.abs(v))), 0) / 12;
    expect(got[0]).toBeCloseTo(bceWant, 5);
    const A = [0, -1, 0, 0, 0, 0, -2, 0, 0];
    for (let l = 0; l < 3; l++) {
      const s = [0, 1].map(
        (j) => X.slice(l * 4, l * 4 + 4).reduce((p, v, i) => p + v * X[j * 4 + i], 0) / 2 + A[l * 3 + j],
      );
      const m = Math.max(...s);
      const e = s.map((v) => Math.exp(v - m));
      const z = e[0] + e[1];
      for (let i = 0; i < 4; i++)
        expect(got[1 + l * 4 + i]).toBeCloseTo((e[0] * X[i] + e[1] * X[4 + i]) / z, 4);
    }
  });
});
