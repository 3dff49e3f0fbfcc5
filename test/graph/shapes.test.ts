import { describe, expect, it } from 'vitest';
import { F, Graph, GraphError, ops, ShapeError, Tensor, type Value } from '../../src/index.js';

/** Static shape inference of every builder, against the shape ORT actually produces. */
describe('shape inference per op matches ORT', () => {
  const g = new Graph('shapes');
  const x = g.input('x', 'float32', [2, 3, 4]);
  const m = g.input('m', 'float32', [4, 5]);
  const idx = g.constant(Tensor.i64([2, 3, 1], [0, 1, 2, 3, 0, 1]));
  const cases: Record<string, Value> = {
    add: ops.add(x, g.constant(Tensor.f32([4]))),
    where: ops.where(ops.greater(x, 0), x, g.constant(Tensor.f32([3, 1]))),
    matmul: ops.matmul(x, m),
    gemm: ops.gemm(ops.reshape(x, [6, 4]), m, null),
    clip: ops.clip(x, 0, 1),
    reshape: ops.reshape(x, [3, -1]),
    transpose: ops.transpose(x, [2, 0, 1]),
    concat: ops.concat([x, x], 1),
    split1: ops.split(x, [1, 3], 2)[1],
    slice: ops.slice(x, [1, -3], [3, -1], [1, 2]),
    gather: ops.gather(x, g.constant(Tensor.i64([5], [0, 1, 0, 1, 1])), 1),
    gatherElements: ops.gatherElements(x, idx, 2),
    gatherND: ops.gatherND(x, g.constant(Tensor.i64([4, 2], [0, 0, 1, 2, 0, 1, 1, 1]))),
    scatterElements: ops.scatterElements(x, idx, ops.slice(x, [0], [1], [2]), 2),
    scatterND: ops.scatterND(x, g.constant(Tensor.i64([1, 1], [1])), ops.slice(x, [0], [1], [0])),
    expand: ops.expand(ops.slice(x, [0], [1], [1]), [2, 6, 4]),
    unsqueeze: ops.unsqueeze(x, [0, -1]),
    squeeze: ops.squeeze(ops.slice(x, [0], [1], [1]), [1]),
    reduceSum: ops.reduceSum(x, [0, 2]),
    reduceMeanKeep: ops.reduceMean(x, [1], true),
    reduceMax: ops.reduceMax(x, [-1]),
    reduceMin: ops.reduceMin(x, [0], true),
    softmax: ops.softmax(x, 1),
    logSoftmax: ops.logSoftmax(x),
    layerNorm: ops.layerNormalization(x, g.constant(Tensor.f32([4])), null),
    argMax: ops.argMax(x, 1, true),
    topK: ops.topK(x, 2, 1)[0],
    pad: ops.pad(x, [0, 1, 0, 0, 2, 3]),
    range: ops.range(x, 2, 11, 3),
    oneHot: ops.oneHot(g.constant(Tensor.i64([3], [0, 2, 1])), 5),
    shapeOf: ops.shapeOf(x, 1),
    cast: ops.cast(x, 'float64'),
    randomUniformLike: ops.randomUniformLike(x),
    linear: F.linear(x, g.constant(Tensor.f32([7, 4])), g.constant(Tensor.f32([7]))),
    crossEntropy: F.crossEntropy(x, g.constant(Tensor.i64([2, 3], [0, 1, 2, 3, 0, 1]))),
    splitHeads: F.splitHeads(ops.reshape(x, [1, 2, 12]), 3),
  };
  for (const [name, v] of Object.entries(cases)) g.output(v, `out_${name}`);

  it('every inferred static shape equals the run-time shape', async () => {
    const { Program } = await import('../../src/index.js');
    const p = await Program.compile(g, { threads: 1, fuse: false });
    const out = await p.run({ x: Tensor.f32([2, 3, 4]), m: Tensor.f32([4, 5]) });
    for (const [name, v] of Object.entries(cases)) {
      expect(out[`out_${name}`].shape, name).toEqual(v.shape);
      expect(out[`out_${name}`].dtype, name).toBe(v.dtype);
    }
  });
});

describe('shape/dtype errors name the op and the shapes', () => {
  const g = new Graph('errors');
  const x = g.input('x', 'float32', [2, 3]);
  const i = g.input('i', 'int64', [2, 3]);
  const table: [string, () => unknown, RegExp][] = [
    ['dtype mismatch', () => ops.add(x, i), /Add: dtype mismatch float32 vs int64/],
    ['where cond', () => ops.where(x, x, x), /Where: condition .* must be bool/],
    ['clip bounds', () => ops.clip(x, g.constant(Tensor.f32([2]))), /Clip: bounds must be float32 scalars/],
    [
      'transpose perm',
      () => ops.transpose(x, [0, 0]),
      /Transpose: perm \[0,0\] is not a permutation of rank 2/,
    ],
    ['concat rank', () => ops.concat([x, ops.unsqueeze(x, [0])], 0), /Concat: inputs differ in rank/],
    ['squeeze non-1', () => ops.squeeze(x, [1]), /Squeeze: dim 1 of \[2, 3\] is not 1/],
    ['axis range', () => ops.softmax(x, 2), /Softmax: axis 2 out of range for rank 2/],
    ['split parts', () => ops.split(x, 2, 1), /Split: dim 1 of \[2, 3\] \(3\) is not divisible into 2 parts/],
    [
      'gatherElements rank',
      () => ops.gatherElements(x, g.constant(Tensor.i64([2], [0, 1]))),
      /GatherElements: indices \[2\] must have the rank of data \[2, 3\]/,
    ],
    ['gather float idx', () => ops.gather(x, x), /Gather: indices .* must be int64\/int32, got float32/],
    [
      'scatterND updates',
      () => ops.scatterND(x, g.constant(Tensor.i64([1, 1], [0])), x),
      /ScatterND: updates .* do not fit data/,
    ],
    [
      'layerNorm scale',
      () => ops.layerNormalization(x, g.constant(Tensor.f32([2])), null),
      /LayerNormalization: scale \[2\] does not match last dim of \[2, 3\]/,
    ],
    [
      'reshape symbol',
      () => ops.reshape(x, ['batch', 3]),
      /Reshape: symbolic dim "batch" .* is not carried by/,
    ],
    ['unary int', () => ops.exp(i), /Exp: i must be floating point, got int64/],
    [
      'crossEntropy labels',
      () => F.crossEntropy(x, g.constant(Tensor.i64([3], [0, 1, 2]))),
      /crossEntropy: labels \[3\] do not match logits \[2, 3\]/,
    ],
    ['attention rank', () => F.scaledDotProductAttention(x, x, x), /attention: q\/k\/v must be \[B,H,L,d\]/],
  ];
  for (const [name, fn, re] of table)
    it(name, () => {
      expect(fn).toThrow(re);
      try {
        fn();
      } catch (e) {
        expect(e instanceof ShapeError || e instanceof GraphError).toBe(true);
      }
    });
});
