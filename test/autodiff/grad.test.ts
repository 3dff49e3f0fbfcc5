import { describe, expect, it } from 'vitest';
import { grad } from '../../src/autodiff/index.js';
import { F, Graph, GraphError, ops, Tensor } from '../../src/index.js';
import { FD_CASES } from './fd-cases.js';
import { checkGrad } from './fd.js';

const i64 = (g: Graph, shape: number[], v: number[]) => g.constant(Tensor.i64(shape, v), 'idx');

describe('VJP rules vs float64 finite differences (cases: fd-cases.ts)', () => {
  for (const c of FD_CASES) it(c.name, () => checkGrad(c.build, c.inputs, c.dtype));
});

describe('composites (F) vs finite differences', () => {
  it('linear (PyTorch weight layout) and l2Normalize', () =>
    checkGrad(
      (_, [x, w, b]) => F.l2Normalize(F.linear(x, w, b), -1),
      [{ shape: [2, 3, 4] }, { shape: [5, 4] }, { shape: [5] }],
    ));
  it('gelu (float32, via Erf)', () => checkGrad((_, [x]) => F.gelu(x), [{ shape: [3, 4] }], 'float32'));
  it('crossEntropy with ignore index and label smoothing', () =>
    checkGrad(
      (g, [x]) =>
        ops.reshape(
          F.crossEntropy(x, i64(g, [2, 3], [1, -100, 3, 0, 2, -100]), { labelSmoothing: 0.1 }),
          [1],
        ),
      [{ shape: [2, 3, 4] }],
    ));
  it('bceWithLogits (logits and targets)', () =>
    checkGrad(
      (_, [x, t]) => ops.reshape(F.bceWithLogits(x, ops.sigmoid(t)), [1]),
      [{ shape: [3, 4] }, { shape: [3, 4] }],
    ));
  it('multi-head attention with key padding and additive masks', () =>
    checkGrad(
      (g, [x, wq, wk, wv, wo, bo]) => {
        const pad = g.constant(new Tensor('bool', [2, 3], Uint8Array.from([0, 0, 1, 0, 0, 0])), 'pad');
        const add = g.constant(Tensor.f64([3, 3], [0, -1, 0, 0, 0, 0, -2, 0, 0]), 'bias');
        return F.multiHeadAttention(
          x,
          x,
          x,
          { qWeight: wq, kWeight: wk, vWeight: wv, outWeight: wo, outBias: bo },
          2,
          { keyPaddingMask: pad, attnMask: add },
        );
      },
      [
        { shape: [2, 3, 4] },
        { shape: [4, 4] },
        { shape: [4, 4] },
        { shape: [4, 4] },
        { shape: [4, 4] },
        { shape: [4] },
      ],
    ));
});

describe('symbolic dims', () => {
  it('un-broadcasts at run time when a symbolic dim turns out to be 1', () =>
    checkGrad(
      (_, [a, b]) => ops.mul(a, b),
      [
        { shape: [3, 2], dims: ['n', 2] },
        { shape: [1, 2], dims: ['m', 2] },
      ],
    ));
  it('differentiates reshapes, concat and slices over a symbolic batch', () =>
    checkGrad(
      (_, [a, w]) => {
        const h = ops.matmul(ops.reshape(a, [-1, 3]), w);
        const back = ops.reshape(h, ['b', 's', 2]);
        return ops.slice(ops.concat([back, back], 1), [1], [-1], [1]);
      },
      [{ shape: [2, 3, 3], dims: ['b', 's', 3] }, { shape: [3, 2] }],
    ));
  it('ReduceMean over a symbolic axis', () =>
    checkGrad((_, [a]) => ops.reduceMean(a, [0], true), [{ shape: [3, 2], dims: ['n', 2] }]));
});

describe('grad() API', () => {
  it('gives zeros for unrelated values and refuses integer wrt', async () => {
    const g = new Graph();
    const a = g.input('a', 'float32', [2]);
    const b = g.input('b', 'float32', [2]);
    const loss = ops.reduceSum(ops.mul(a, a), [0]);
    const [, db] = grad(loss, [a, b]);
    expect(db.shape).toEqual([2]);
    expect(() => grad(loss, [g.input('i', 'int64', [2])])).toThrow(GraphError);
  });
  it('names the op when no rule exists', () => {
    const g = new Graph();
    const a = g.input('a', 'float32', [2]);
    const [y] = g.addNode('Cos', [a], [{ dtype: 'float32', shape: [2] }]);
    expect(() => grad(ops.reduceSum(y, [0]), [a])).toThrow(/no VJP rule for op Cos/);
  });
});

describe('dropout (in-graph random mask)', () => {
  it('zeros about p of the elements, scales the rest by 1/(1-p), and its gradient uses the same mask', async () => {
    const g = new Graph('dropout');
    const x = g.input('x', 'float32', [4000]);
    const y = F.dropout(x, 0.25, 11);
    const [dx] = grad(ops.reduceSum(y, [0]), [x]);
    g.output(y, 'y');
    g.output(dx, 'dx');
    const { Program } = await import('../../src/index.js');
    const p = await Program.compile(g, { threads: 1 });
    const out = await p.run({ x: Tensor.f32([4000], new Array(4000).fill(1)) });
    const ys = Array.from(out.y.data as Float32Array);
    const zeros = ys.filter((v) => v === 0).length / ys.length;
    expect(zeros).toBeGreaterThan(0.2);
    expect(zeros).toBeLessThan(0.3);
    ys.forEach((v, i) => {
      expect(v === 0 || Math.abs(v - 1 / 0.75) < 1e-6).toBe(true);
      expect(out.dx.data[i]).toBe(v); // d(sum y)/dx = mask/(1-p) = y for x = 1
    });
  });
});
