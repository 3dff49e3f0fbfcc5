/**
 * The finite-difference cases of the VJP table, one or more per op: grad.test.ts runs each
 * through checkGrad (float64 central differences on ORT), and coverage.test.ts builds each
 * case's forward graph to prove every VJP key is exercised by at least one of them.
 */
import type { DType, Graph, Value } from '../../src/index.js';
import { ops, Tensor } from '../../src/index.js';
import type { FdInput } from './fd.js';

export interface FdCase {
  /** Test title: the ops it checks first. */
  name: string;
  build: (g: Graph, xs: Value[]) => Value;
  inputs: FdInput[];
  dtype?: DType;
}

const i64 = (g: Graph, shape: number[], v: number[]) => g.constant(Tensor.i64(shape, v), 'idx');

const gemmCases: FdCase[] = [
  [false, false],
  [true, false],
  [false, true],
  [true, true],
].map(([transA, transB]) => ({
  name: `Gemm transA=${transA} transB=${transB} with C broadcast`,
  build: (_, [a, b, c]) => ops.gemm(a, b, c, { transA, transB, alpha: 0.7, beta: 1.3 }),
  inputs: [{ shape: transA ? [4, 2] : [2, 4] }, { shape: transB ? [3, 4] : [4, 3] }, { shape: [3] }],
}));

export const FD_CASES: FdCase[] = [
  {
    name: 'Add/Sub/Mul/Div with broadcasting',
    build: (_, [a, b, c]) => ops.div(ops.mul(ops.sub(ops.add(a, b), c), b), ops.add(ops.mul(c, c), 1)),
    inputs: [{ shape: [2, 3] }, { shape: [3] }, { shape: [2, 1] }],
  },
  {
    name: 'Pow (base and exponent), Sqrt, Log, Exp, Reciprocal',
    build: (_, [a, b]) =>
      ops.add(
        ops.pow(a, b),
        ops.add(ops.sqrt(a), ops.add(ops.log(a), ops.add(ops.exp(b), ops.reciprocal(a)))),
      ),
    inputs: [{ shape: [2, 3], positive: true }, { shape: [1, 3] }],
  },
  {
    name: 'Neg, Abs, Tanh, Sigmoid, Relu, Clip, Max, Min',
    build: (_, [a, b]) =>
      ops.add(
        ops.add(ops.neg(ops.abs(a)), ops.tanh(b)),
        ops.add(
          ops.add(ops.sigmoid(a), ops.relu(b)),
          ops.add(ops.clip(a, -0.5, 0.4), ops.mul(ops.max(a, b), ops.min(a, 0.1))),
        ),
      ),
    inputs: [{ shape: [3, 4] }, { shape: [4] }],
  },
  {
    name: 'Erf (float32: ORT CPU has no float64 Erf kernel)',
    build: (_, [a]) => ops.erf(a),
    inputs: [{ shape: [2, 3] }],
    dtype: 'float32',
  },
  {
    name: 'Where (both branches, broadcast)',
    build: (_, [a, b]) => ops.where(ops.greater(a, 0), a, ops.mul(b, 2)),
    inputs: [{ shape: [2, 3] }, { shape: [3] }],
  },
  {
    name: 'Reshape, Transpose, Unsqueeze, Squeeze, Expand',
    build: (_, [a, b]) =>
      ops.add(
        ops.transpose(ops.reshape(a, [3, 2, 2]), [2, 0, 1]),
        ops.squeeze(ops.unsqueeze(ops.expand(b, [2, 3, 2]), [0]), [0]),
      ),
    inputs: [{ shape: [4, 3] }, { shape: [3, 1] }],
  },
  {
    name: 'Identity, Flatten',
    build: (_, [a]) => ops.mul(ops.flatten(ops.identity(a), 2), ops.flatten(a, 2)),
    inputs: [{ shape: [2, 3, 2] }],
  },
  {
    name: 'Concat, Split, Slice (negative and clamped bounds), Pad',
    build: (_, [a, b]) => {
      const [p, q] = ops.split(ops.concat([a, b], 1), [3, 2], 1);
      const s = ops.slice(ops.concat([p, ops.pad(q, [0, 1, 0, 0])], 1), [1, -5], [100, -1], [0, 1]);
      return ops.mul(s, s);
    },
    inputs: [{ shape: [3, 2] }, { shape: [3, 3] }],
  },
  {
    name: 'Gather axis 0 with repeated indices, as embedding lookup',
    build: (g, [w]) => ops.gather(w, i64(g, [2, 2], [1, 3, 1, 0]), 0),
    inputs: [{ shape: [4, 3] }],
  },
  {
    name: 'Gather axis 1',
    build: (g, [w]) => ops.gather(w, i64(g, [2], [2, 0]), 1),
    inputs: [{ shape: [4, 3] }],
  },
  {
    name: 'GatherElements, GatherND, ScatterElements, ScatterND, TopK values',
    build: (g, [a, u]) => {
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
    inputs: [{ shape: [3, 4] }, { shape: [3, 2] }],
  },
  {
    name: 'TopK with a run-time k (smallest first)',
    build: (g, [a]) => ops.topK(a, ops.reshape(i64(g, [1], [2]), []), 1, false)[0],
    inputs: [{ shape: [3, 4] }],
  },
  {
    name: 'MatMul rank 3 @ rank 2',
    build: (_, [a, b]) => ops.matmul(a, b),
    inputs: [{ shape: [2, 3, 4] }, { shape: [4, 5] }],
  },
  {
    name: 'MatMul with batch broadcasting [2,1,3,4] @ [3,4,2]',
    build: (_, [a, b]) => ops.matmul(a, b),
    inputs: [{ shape: [2, 1, 3, 4] }, { shape: [3, 4, 2] }],
  },
  ...gemmCases,
  {
    name: 'ReduceSum/Mean/Max/Min with and without keepdims',
    build: (_, [a]) =>
      ops.add(
        ops.add(ops.reduceSum(a, [1], true), ops.reduceMean(a, [0, 1], false)),
        ops.add(ops.unsqueeze(ops.reduceMax(a, [1]), [1]), ops.reduceMin(a, [1], true)),
      ),
    inputs: [{ shape: [3, 4] }],
  },
  {
    name: 'Softmax, LogSoftmax (inner and outer axes)',
    build: (_, [a]) => ops.add(ops.softmax(a, -1), ops.mul(ops.logSoftmax(a, 0), 0.5)),
    inputs: [{ shape: [3, 4] }],
  },
  {
    name: 'LayerNormalization (input, scale, bias)',
    build: (_, [x, w, b]) => ops.layerNormalization(x, w, b, 1e-5),
    inputs: [{ shape: [2, 3, 4] }, { shape: [4] }, { shape: [4] }],
  },
  {
    // float32 → float64 → float32: two real Cast nodes (a cast to the same dtype builds none)
    name: 'Cast round trip passes gradients through',
    build: (_, [a]) => ops.mul(ops.cast(ops.cast(a, 'float64'), 'float32'), 2),
    inputs: [{ shape: [3] }],
    dtype: 'float32',
  },
];
