import { describe, expect, it } from 'vitest';
import { grad } from '../../src/autodiff/index.js';
import { F, Graph, GraphError, ops, Tensor } from '../../src/index.js';
import { checkGrad } from './fd.js';

const i64 = (g: Graph, shape: number[], v: number[]) => g.constant(Tensor.i64(shape, v), 'idx');

describe('VJP rules vs float64 finite differences', () => {
  it('Add/Sub/Mul/Div with broadcasting', () =>
    checkGrad(
      (_, [a, b, c]) => ops.div(ops.mul(ops.sub(ops.add(a, b), c), b), ops.add(ops.mul(c, c), 1)),
      [{ shape: [2, 3] }, { shape: [3] }, { shape: [2, 1] }],
    ));
  it('Pow (base and exponent), Sqrt, Log, Exp, Reciprocal', () =>
    checkGrad(
      (_, [a, b]) =>
        ops.add(
          ops.pow(a, b),
          ops.add(ops.sqrt(a), ops.add(ops.log(a), ops.add(ops.exp(b), ops.reciprocal(a)))),
        ),
      [{ shape: [2, 3], positive: true }, { shape: [1, 3] }],
    ));
  it('Neg, Abs, Tanh, Sigmoid, Relu, Clip, Max, Min', () =>
    checkGrad(
      (_, [a, b]) =>
        ops.add(
          ops.add(ops.neg(ops.abs(a)), ops.tanh(b)),
          ops.add(
            ops.add(ops.sigmoid(a), ops.relu(b)),
            ops.add(ops.clip(a, -0.5, 0.4), ops.mul(ops.max(a, b), ops.min(a, 0.1))),
          ),
        ),
      [{ shape: [3, 4] }, { shape: [4] }],
    ));
  it('Erf (float32: ORT CPU has no float64 Erf kernel)', () =>
    checkGrad((_, [a]) => ops.erf(a), [{ shape: [2, 3] }], 'float32'));
  it('Where (both branches, broadcast)', () =>
    checkGrad(
      (_, [a, b]) => ops.where(ops.greater(a, 0), a, ops.mul(b, 2)),
      [{ shape: [2, 3] }, { shape: [3] }],
    ));
  it('Reshape, Transpose, Unsqueeze, Squeeze, Expand', () =>
    checkGrad(
      (_, [a, b]) =>
        ops.add(
          ops.transpose(ops.reshape(a, [3, 2, 2]), [2, 0, 1]),
          ops.squeeze(ops.unsqueeze(ops.expand(b, [2, 3, 2]), [0]), [0]),
        ),
      [{ shape: [4, 3] }, { shape: [3, 1] }],
    ));
  it('Concat, Split, Slice (negative and clamped bounds), Pad', () =>
    checkGrad(
      (_, [a, b]) => {
        const [p, q] = ops.split(ops.concat([a, b], 1), [3, 2], 1);
        const s = ops.slice(ops.concat([p, ops.pad(q, [0, 1, 0, 0])], 1), [1, -5], [100, -1], [0, 1]);
        return ops.mul(s, s);
      },
      [{ shape: [3, 2] }, { shape: [3, 3] }],
    ));
  it('Gather (axis 0 with repeated indices, axis 1) as embedding lookup', async () => {
    await checkGrad((g, [w]) => ops.gather(w, i64(g, [2, 2], [1, 3, 1, 0]), 0), [{ shape: [4, 3] }]);
    await checkGrad((g, [w]) => ops.gather(w, i64(g, [2], [2, 0]), 1), [{ shape: [4, 3] }]);
  });
  it('GatherElements, GatherND, ScatterElements, ScatterND, TopK values', () =>
    checkGrad(
      (g, [a, u]) => {
        const ge = ops.gatherElements(a, i64(g, [3, 2], [0, 2, 1, 1, 3, 0]), 1);
        const gn = ops.reshape(ops.gatherND(a, i64(g, [2, 1], [2, 0])), [4, 2]);
        const se = ops.scatterElements(a, i64(g, [3, 2], [1, 0, 2, 3, 0, 1]), u, 1);
        const sn = ops.scatterND(a, i64(g, [1, 1], [1]), ops.slice(ops.reshape(u, [1, 6]), [0], [4], [1]));
        const [tv] = ops.topK(a, 2, 1);
        return ops.concat(
          [
            ops.reshape(ge, [-1]),
            ops.reshape(gn, [-1]),
            ops.reshape(se, [-1]),
            ops.reshape(sn, [-1]),
            ops.reshape(tv, [-1]),
          ],
          0,
        );
      },
      [{ shape: [3, 4] }, { shape: [3, 2] }],
    ));
  it('MatMul with batch broadcasting (rank 3 @ rank 2, [2,1,3,4] @ [3,4,2])', async () => {
    await checkGrad((_, [a, b]) => ops.matmul(a, b), [{ shape: [2, 3, 4] }, { shape: [4, 5] }]);
    await checkGrad((_, [a, b]) => ops.matmul(a, b), [{ shape: [2, 1, 3, 4] }, { shape: [3, 4, 2] }]);
  });
  it('Gemm in all transpose combinations with C broadcast', async () => {
    for (const [transA, transB] of [
      [false, false],
      [true, false],
      [false, true],
      [true, true],
    ])
      await checkGrad(
        (_, [a, b, c]) => ops.gemm(a, b, c, { transA, transB, alpha: 0.7, beta: 1.3 }),
        [{ shape: transA ? [4, 2] : [2, 4] }, { shape: transB ? [3, 4] : [4, 3] }, { shape: [3] }],
      );
  });
  it('ReduceSum/Mean/Max/Min with and without keepdims', () =>
    checkGrad(
      (_, [a]) =>
        ops.add(
          ops.add(ops.reduceSum(a, [1], true), ops.reduceMean(a, [0, 1], false)),
          ops.add(ops.unsqueeze(ops.reduceMax(a, [1]), [1]), ops.reduceMin(a, [1], true)),
        ),
      [{ shape: [3, 4] }],
    ));
  it('Softmax, LogSoftmax (inner and outer axes)', () =>
    checkGrad(
      (_, [a]) => ops.add(ops.softmax(a, -1), ops.mul(ops.logSoftmax(a, 0), 0.5)),
      [{ shape: [3, 4] }],
    ));
  it('LayerNormalization (input, scale, bias)', () =>
    checkGrad(
      (_, [x, w, b]) => ops.layerNormalization(x, w, b, 1e-5),
      [{ shape: [2, 3, 4] }, { shape: [4] }, { shape: [4] }],
    ));
  it('Cast round trip passes gradients through', () =>
    checkGrad(
      (_, [a]) => ops.mul(ops.cast(ops.cast(a, 'float32'), 'float32'), 2),
      [{ shape: [3] }],
      'float32',
    ));
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
