/**
 * The vector-Jacobian products: one entry per ONNX op, each mapping the gradient(s) of a node's
 * outputs to thunks producing the gradients of its inputs (null = not differentiable there).
 * Thunks let the engine build only the gradients that some `wrt` value actually needs. Every
 * rule uses standard ONNX ops only, so gradient graphs run on any ORT build.
 */
import type { Node, Value } from '../graph/ir.js';
import { GraphError } from '../graph/ir.js';
import * as ops from '../graph/ops/index.js';
import { normAxis } from '../graph/shape.js';
import { Tensor } from '../graph/tensor.js';
import { constInts, expandLike, sizeRatio, unbroadcast as unb } from './broadcast.js';

export interface VjpContext {
  node: Node;
  /** Node inputs (null for omitted optional inputs). */
  x: readonly (Value | null)[];
  /** Node outputs. */
  y: readonly Value[];
  /** Gradient of the loss w.r.t. each output (zeros are materialized for unused outputs). */
  g: readonly Value[];
}

export type Thunk = (() => Value) | null;
export type Vjp = (c: VjpContext) => Thunk[];

const attrInt = (n: Node, name: string, dflt: number): number => {
  const a = n.attrs[name];
  return a && 'i' in a ? a.i : dflt;
};
const attrFloat = (n: Node, name: string, dflt: number): number => {
  const a = n.attrs[name];
  return a && 'f' in a ? a.f : dflt;
};
const attrInts = (n: Node, name: string): number[] | null => {
  const a = n.attrs[name];
  return a && 'ints' in a ? [...a.ints] : null;
};
const X = (c: VjpContext, i: number): Value => c.x[i] as Value;
/**
 * Transpose, cancelling a transpose of a transpose: a Linear's weight enters as Wᵀ, so its
 * backward would otherwise materialise (Wᵀ)ᵀ and transpose dWᵀ back — two copies of every weight
 * per step that ORT does not always remove.
 */
const T = (v: Value, perm: number[]): Value => {
  const p = v.producer;
  if (p?.op === 'Transpose' && p.inputs[0]) {
    const inner = attrInts(p, 'perm');
    if (inner && inner.length === perm.length && perm.every((q, i) => inner[q] === i)) return p.inputs[0];
  }
  return ops.transpose(v, perm);
};
const swapLast = (v: Value) =>
  T(v, [...Array.from({ length: v.rank - 2 }, (_, i) => i), v.rank - 1, v.rank - 2]);

/** Reduction axes of a Reduce* node (opset 17: ReduceSum takes them as input, others as attribute). */
function reduceAxes(c: VjpContext): number[] {
  const x = X(c, 0);
  const fromInput = c.node.op === 'ReduceSum' ? c.x[1] : null;
  const axes = fromInput ? constInts(fromInput, c.node.op, 'axes') : attrInts(c.node, 'axes');
  if (!axes || axes.length === 0) return Array.from({ length: x.rank }, (_, i) => i);
  return axes.map((a) => normAxis(c.node.op, a, x.rank));
}

/** Gradient of a reduction output, reshaped to keep the reduced dims (as size-1 axes). */
function keptGrad(c: VjpContext, axes: number[]): Value {
  return attrInt(c.node, 'keepdims', 1) ? c.g[0] : ops.unsqueeze(c.g[0], axes);
}
function keptOut(c: VjpContext, axes: number[]): Value {
  return attrInt(c.node, 'keepdims', 1) ? c.y[0] : ops.unsqueeze(c.y[0], axes);
}

/** Gradient of ReduceMax/ReduceMin: split evenly between tied extremes (as torch amax/amin). */
const extremumVjp: Vjp = (c) => [
  () => {
    const x = X(c, 0);
    const axes = reduceAxes(c);
    const mask = ops.cast(ops.equal(x, keptOut(c, axes)), x.dtype);
    return ops.div(ops.mul(expandLike(keptGrad(c, axes), x), mask), ops.reduceSum(mask, axes, true));
  },
];

/** Slice gradient: pad the incoming gradient back to the input's shape (steps must be 1). */
function sliceVjp(c: VjpContext): Value {
  const x = X(c, 0);
  const starts = constInts(c.x[1], 'Slice', 'starts');
  const ends = constInts(c.x[2], 'Slice', 'ends');
  const axes = c.x[3] ? constInts(c.x[3], 'Slice', 'axes') : starts.map((_, i) => i);
  const steps = c.x[4] ? constInts(c.x[4], 'Slice', 'steps') : starts.map(() => 1);
  if (steps.some((s) => s !== 1))
    throw new GraphError(`grad Slice: only step 1 is supported, got steps [${steps}]`);
  const before: (number | Value)[] = new Array(x.rank).fill(0);
  const after: (number | Value)[] = new Array(x.rank).fill(0);
  axes.forEach((ax, k) => {
    const a = normAxis('Slice', ax, x.rank);
    const d = x.shape[a];
    const [s, e] = [starts[k], ends[k]];
    if (typeof d === 'number') {
      const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + d : v, 0), d);
      before[a] = clamp(s);
      after[a] = d - Math.max(clamp(e), clamp(s));
    } else if (s >= 0 && e >= 2 ** 31 - 1) {
      before[a] = s;
    } else {
      // Symbolic dim with negative or bounded indices: resolve the clamped bounds at run time.
      const D = ops.shapeOf(x, a, a + 1);
      const zero = x.graph.constant(Tensor.i64([1], [0]), 'zero');
      const norm = (v: number) => {
        const raw =
          v < 0
            ? ops.add(D, x.graph.constant(Tensor.i64([1], [v]), 'idx'))
            : x.graph.constant(Tensor.i64([1], [Math.min(v, 2 ** 53)]), 'idx');
        return ops.min(ops.max(raw, zero), D);
      };
      const sN = norm(s);
      before[a] = sN;
      after[a] = ops.sub(D, ops.max(norm(e), sN));
    }
  });
  const all = [...before, ...after];
  if (all.every((p) => typeof p === 'number')) return ops.pad(c.g[0], all as number[], 0, x.shape);
  const parts = all.map((p) => (typeof p === 'number' ? x.graph.constant(Tensor.i64([1], [p]), 'pad') : p));
  return ops.pad(c.g[0], ops.concat(parts, 0), 0, x.shape);
}

/** Gather gradient: scatter-add the incoming rows into zeros shaped like the data. */
function gatherVjp(c: VjpContext): Value {
  const data = X(c, 0);
  const idx = ops.cast(X(c, 1), 'int64');
  const a = normAxis('Gather', attrInt(c.node, 'axis', 0), data.rank);
  const k = idx.rank;
  const idxN = ops.unsqueeze(idx, [-1]);
  if (a === 0) return ops.scatterND(ops.zerosLike(data), idxN, c.g[0], 'add');
  // Move the gathered axis to the front, scatter, and move it back.
  const perm = [a, ...Array.from({ length: data.rank }, (_, i) => i).filter((i) => i !== a)];
  const gPerm = [
    ...Array.from({ length: k }, (_, i) => a + i),
    ...Array.from({ length: a }, (_, i) => i),
    ...Array.from({ length: data.rank - a - 1 }, (_, i) => a + k + i),
  ];
  const scattered = ops.scatterND(ops.zerosLike(T(data, perm)), idxN, T(c.g[0], gPerm), 'add');
  const inv = perm.map((_, i) => perm.indexOf(i));
  return T(scattered, inv);
}

function matmulVjp(c: VjpContext): Thunk[] {
  const [a, b] = [X(c, 0), X(c, 1)];
  const g = c.g[0];
  return [
    () => unb(ops.matmul(g, swapLast(b)), a),
    () => {
      if (b.rank === 2 && a.rank > 2) {
        // Fold the batch into rows: one [K, rows]·[rows, N] product instead of a batched one + sum.
        const a2 = ops.reshape(a, [-1, a.shape[a.rank - 1]]);
        const g2 = ops.reshape(g, [-1, g.shape[g.rank - 1]]);
        // b = Wᵀ (a Linear): (gᵀ·a)ᵀ, whose outer transpose cancels against Wᵀ's VJP → dW directly
        if (b.producer?.op === 'Transpose') return T(ops.matmul(T(g2, [1, 0]), a2), [1, 0]);
        return ops.matmul(T(a2, [1, 0]), g2);
      }
      return unb(ops.matmul(swapLast(a), g), b);
    },
  ];
}

function gemmVjp(c: VjpContext): Thunk[] {
  const [a, b, cc] = [X(c, 0), X(c, 1), c.x[2]];
  const g = c.g[0];
  const tA = attrInt(c.node, 'transA', 0) === 1;
  const tB = attrInt(c.node, 'transB', 0) === 1;
  const alpha = attrFloat(c.node, 'alpha', 1);
  const beta = attrFloat(c.node, 'beta', 1);
  const gm = (p: Value, q: Value, transA: boolean, transB: boolean) =>
    ops.gemm(p, q, null, { transA, transB, alpha });
  return [
    () =>
      tA
        ? tB
          ? gm(b, g, true, true)
          : gm(b, g, false, true)
        : tB
          ? gm(g, b, false, false)
          : gm(g, b, false, true),
    () =>
      tB
        ? tA
          ? gm(g, a, true, true)
          : gm(g, a, true, false)
        : tA
          ? gm(a, g, false, false)
          : gm(a, g, true, false),
    cc ? () => unb(beta === 1 ? g : ops.mul(g, beta), cc) : null,
  ];
}

function layerNormVjp(c: VjpContext): Thunk[] {
  const [x, w, b] = [X(c, 0), X(c, 1), c.x[2]];
  const g = c.g[0];
  const axis = normAxis('LayerNormalization', attrInt(c.node, 'axis', -1), x.rank);
  const eps = attrFloat(c.node, 'epsilon', 1e-5);
  const axes = Array.from({ length: x.rank - axis }, (_, i) => axis + i);
  // Recompute the normalized input (cheap next to the matmuls around it).
  let cache: { xhat: Value; rstd: Value } | null = null;
  const stats = () => {
    if (!cache) {
      const xc = ops.sub(x, ops.reduceMean(x, axes, true));
      const rstd = ops.reciprocal(ops.sqrt(ops.add(ops.reduceMean(ops.mul(xc, xc), axes, true), eps)));
      cache = { xhat: ops.mul(xc, rstd), rstd };
    }
    return cache;
  };
  return [
    () => {
      const { xhat, rstd } = stats();
      const gw = ops.mul(g, w);
      const inner = ops.sub(
        ops.sub(gw, ops.reduceMean(gw, axes, true)),
        ops.mul(xhat, ops.reduceMean(ops.mul(gw, xhat), axes, true)),
      );
      return ops.mul(inner, rstd);
    },
    () => unb(ops.mul(g, stats().xhat), w),
    b ? () => unb(g, b) : null,
  ];
}

export const VJP: Readonly<Record<string, Vjp>> = {
  Identity: (c) => [() => c.g[0]],
  Add: (c) => [() => unb(c.g[0], X(c, 0)), () => unb(c.g[0], X(c, 1))],
  Sub: (c) => [() => unb(c.g[0], X(c, 0)), () => unb(ops.neg(c.g[0]), X(c, 1))],
  Mul: (c) => [() => unb(ops.mul(c.g[0], X(c, 1)), X(c, 0)), () => unb(ops.mul(c.g[0], X(c, 0)), X(c, 1))],
  Div: (c) => [
    () => unb(ops.div(c.g[0], X(c, 1)), X(c, 0)),
    () => unb(ops.neg(ops.div(ops.mul(c.g[0], c.y[0]), X(c, 1))), X(c, 1)),
  ],
  Pow: (c) => [
    () => unb(ops.mul(ops.mul(c.g[0], X(c, 1)), ops.pow(X(c, 0), ops.sub(X(c, 1), 1))), X(c, 0)),
    () => unb(ops.mul(ops.mul(c.g[0], c.y[0]), ops.log(X(c, 0))), X(c, 1)),
  ],
  Max: (c) => {
    const ge = () => ops.greaterOrEqual(X(c, 0), X(c, 1));
    return [() => unb(ops.where(ge(), c.g[0], 0), X(c, 0)), () => unb(ops.where(ge(), 0, c.g[0]), X(c, 1))];
  },
  Min: (c) => {
    const le = () => ops.lessOrEqual(X(c, 0), X(c, 1));
    return [() => unb(ops.where(le(), c.g[0], 0), X(c, 0)), () => unb(ops.where(le(), 0, c.g[0]), X(c, 1))];
  },
  Neg: (c) => [() => ops.neg(c.g[0])],
  Abs: (c) => [() => ops.mul(c.g[0], ops.sign(X(c, 0)))],
  Sqrt: (c) => [() => ops.div(c.g[0], ops.mul(c.y[0], 2))],
  Exp: (c) => [() => ops.mul(c.g[0], c.y[0])],
  Log: (c) => [() => ops.div(c.g[0], X(c, 0))],
  Reciprocal: (c) => [() => ops.neg(ops.mul(c.g[0], ops.mul(c.y[0], c.y[0])))],
  Erf: (c) => [
    () => ops.mul(ops.mul(c.g[0], 2 / Math.sqrt(Math.PI)), ops.exp(ops.neg(ops.mul(X(c, 0), X(c, 0))))),
  ],
  Tanh: (c) => [() => ops.mul(c.g[0], ops.sub(1, ops.mul(c.y[0], c.y[0])))],
  Sigmoid: (c) => [() => ops.mul(c.g[0], ops.mul(c.y[0], ops.sub(1, c.y[0])))],
  Relu: (c) => [() => ops.where(ops.greater(X(c, 0), 0), c.g[0], 0)],
  Clip: (c) => [
    () => {
      const x = X(c, 0);
      let inside: Value | null = null;
      if (c.x[1]) inside = ops.greaterOrEqual(x, c.x[1]);
      if (c.x[2]) inside = inside ? ops.and(inside, ops.lessOrEqual(x, c.x[2])) : ops.lessOrEqual(x, c.x[2]);
      return inside ? ops.where(inside, c.g[0], 0) : c.g[0];
    },
    null,
    null,
  ],
  Where: (c) => [
    null,
    () => unb(ops.where(X(c, 0), c.g[0], 0), X(c, 1)),
    () => unb(ops.where(X(c, 0), 0, c.g[0]), X(c, 2)),
  ],
  Cast: (c) => [() => ops.cast(c.g[0], X(c, 0).dtype)],
  Reshape: (c) => [() => ops.reshapeLike(c.g[0], X(c, 0)), null],
  Squeeze: (c) => [() => ops.reshapeLike(c.g[0], X(c, 0)), null],
  Unsqueeze: (c) => [() => ops.reshapeLike(c.g[0], X(c, 0)), null],
  Flatten: (c) => [() => ops.reshapeLike(c.g[0], X(c, 0))],
  Expand: (c) => [() => unb(c.g[0], X(c, 0)), null],
  Transpose: (c) => [
    () => {
      const perm =
        attrInts(c.node, 'perm') ?? Array.from({ length: X(c, 0).rank }, (_, i) => X(c, 0).rank - 1 - i);
      return T(
        c.g[0],
        perm.map((_, i) => perm.indexOf(i)),
      );
    },
  ],
  Concat: (c) => {
    const xs = c.x as Value[];
    const a = attrInt(c.node, 'axis', 0);
    let parts: Value[] | null = null;
    const pieces = () => {
      if (!parts) {
        const sizes = xs.map((v) => v.shape[a]);
        if (sizes.every((d) => typeof d === 'number')) parts = ops.split(c.g[0], sizes as number[], a);
        else
          parts = ops.splitDynamic(
            c.g[0],
            ops.concat(
              xs.map((v) => ops.shapeOf(v, a, a + 1)),
              0,
            ),
            xs.map((v) => v.shape),
            a,
          );
      }
      return parts;
    };
    return xs.map((_, i) => () => pieces()[i]);
  },
  Split: (c) => [() => ops.concat(c.g, attrInt(c.node, 'axis', 0)), null],
  Slice: (c) => [() => sliceVjp(c), null, null, null, null],
  Pad: (c) => [
    () => {
      const x = X(c, 0);
      const pads = constInts(c.x[1], 'Pad', 'pads');
      if (pads.some((p) => p < 0)) throw new GraphError('grad Pad: negative pads are not supported');
      const axes = Array.from({ length: x.rank }, (_, i) => i);
      return ops.slice(
        c.g[0],
        axes.map((i) => pads[i]),
        axes.map((i) => (pads[i + x.rank] > 0 ? -pads[i + x.rank] : 2 ** 62)),
        axes,
      );
    },
    null,
    null,
  ],
  Gather: (c) => [() => gatherVjp(c), null],
  GatherElements: (c) => [
    () => ops.scatterElements(ops.zerosLike(X(c, 0)), X(c, 1), c.g[0], attrInt(c.node, 'axis', 0), 'add'),
    null,
  ],
  GatherND: (c) => [() => ops.scatterND(ops.zerosLike(X(c, 0)), X(c, 1), c.g[0], 'add'), null],
  ScatterElements: (c) => {
    if (c.node.attrs.reduction && 's' in c.node.attrs.reduction && c.node.attrs.reduction.s !== 'none')
      throw new GraphError('grad ScatterElements: only reduction "none" is differentiable here');
    const axis = attrInt(c.node, 'axis', 0);
    return [
      () => ops.scatterElements(c.g[0], X(c, 1), ops.zerosLike(X(c, 2)), axis),
      null,
      () => ops.gatherElements(c.g[0], X(c, 1), axis),
    ];
  },
  ScatterND: (c) => {
    if (c.node.attrs.reduction && 's' in c.node.attrs.reduction && c.node.attrs.reduction.s !== 'none')
      throw new GraphError('grad ScatterND: only reduction "none" is differentiable here');
    return [
      () => ops.scatterND(c.g[0], X(c, 1), ops.zerosLike(X(c, 2))),
      null,
      () => ops.gatherND(c.g[0], X(c, 1)),
    ];
  },
  TopK: (c) => [
    () => ops.scatterElements(ops.zerosLike(X(c, 0)), c.y[1], c.g[0], attrInt(c.node, 'axis', -1), 'add'),
    null,
  ],
  MatMul: matmulVjp,
  Gemm: gemmVjp,
  ReduceSum: (c) => [() => expandLike(keptGrad(c, reduceAxes(c)), X(c, 0)), null],
  ReduceMean: (c) => [
    () => {
      const x = X(c, 0);
      const ratio = sizeRatio(x, c.y[0]);
      return expandLike(ops.div(keptGrad(c, reduceAxes(c)), ratio), x);
    },
  ],
  ReduceMax: extremumVjp,
  ReduceMin: extremumVjp,
  Softmax: (c) => {
    const a = attrInt(c.node, 'axis', -1);
    return [() => ops.mul(c.y[0], ops.sub(c.g[0], ops.reduceSum(ops.mul(c.g[0], c.y[0]), [a], true)))];
  },
  LogSoftmax: (c) => {
    const a = attrInt(c.node, 'axis', -1);
    return [() => ops.sub(c.g[0], ops.mul(ops.exp(c.y[0]), ops.reduceSum(c.g[0], [a], true)))];
  },
  LayerNormalization: layerNormVjp,
};

/** Ops whose outputs carry no gradient (integer/boolean results, randomness, shape queries). */
export const NON_DIFFERENTIABLE = new Set([
  'Shape',
  'Size',
  'NonZero',
  'ArgMax',
  'ArgMin',
  'Equal',
  'Less',
  'Greater',
  'LessOrEqual',
  'GreaterOrEqual',
  'And',
  'Or',
  'Xor',
  'Not',
  'Sign',
  'Floor',
  'Ceil',
  'Round',
  'RandomUniformLike',
  'RandomNormalLike',
  'ConstantOfShape',
  'Range',
  'OneHot',
  'Constant',
]);
