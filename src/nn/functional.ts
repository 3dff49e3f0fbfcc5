/**
 * Small composite layers built from graph ops. Kept local to nn/ so the model does not wait on
 * the engine's composite library; each is a few primitive ops whose VJPs the autodiff knows.
 */
import { type Value, GraphError } from '../graph/ir.js';
import { F as G, ops } from '../graph/index.js';
import type { Dim } from '../graph/shape.js';
import { Tensor } from '../graph/tensor.js';

/** y = x·Wᵀ + b with a PyTorch-layout weight [out, in]. */
export function linear(x: Value, weight: Value, bias?: Value | null): Value {
  const y = ops.matmul(x, ops.transpose(weight, [1, 0]));
  return bias ? ops.add(y, bias) : y;
}

/** Exact (erf) GELU; the engine's composite also registers ORT's contrib Gelu as its fused form. */
export function gelu(x: Value): Value {
  return G.gelu(x);
}

export function layerNorm(x: Value, weight: Value, bias: Value, eps = 1e-5): Value {
  return ops.layerNormalization(x, weight, bias, eps);
}

/** F.normalize(x, dim=-1): x / max(‖x‖₂, eps). */
export function l2Normalize(x: Value, eps = 1e-12): Value {
  const norm = ops.sqrt(ops.reduceSum(ops.mul(x, x), [-1], true));
  return ops.div(x, ops.max(norm, eps));
}

/** (B, L, H·d) → (B, H, L, d). */
export function splitHeads(x: Value, heads: number): Value {
  const [b, l, c] = x.shape;
  if (typeof c !== 'number' || c % heads)
    throw new GraphError(`splitHeads: channels ${c} not divisible by ${heads}`);
  return ops.transpose(ops.reshape(x, [b, l, heads, c / heads] as Dim[]), [0, 2, 1, 3]);
}

/** (B, H, L, d) → (B, L, H·d). */
export function mergeHeads(x: Value): Value {
  const [b, h, , d] = x.shape;
  const t = ops.transpose(x, [0, 2, 1, 3]);
  return ops.reshape(t, [b, -1, (h as number) * (d as number)] as Dim[]);
}

/**
 * softmax(q·kᵀ + bias)·v over heads. q: (B,H,Lq,d) already scaled, k, v: (B,H,Lk,d);
 * every bias broadcasts to (B,H,Lq,Lk) and is added (−inf / −1e8 entries block keys).
 */
export function attention(q: Value, k: Value, v: Value, biases: readonly (Value | undefined)[] = []): Value {
  let s = ops.matmul(q, ops.transpose(k, [0, 1, 3, 2]));
  for (const b of biases) if (b) s = ops.add(s, b);
  return ops.matmul(ops.softmax(s, -1), v);
}

/** x broadcast to batch dimension of `like` ((1, ...) → (B, ...)), also for a symbolic batch. */
export function expandBatch(x: Value, like: Value): Value {
  const b = like.shape[0];
  if (typeof b === 'number') return ops.expand(x, [b, ...(x.shape.slice(1) as number[])]);
  // Symbolic batch: add a zero derived from `like` (finite values), which broadcasts x.
  const zero = ops.mul(
    ops.slice(like, Array(like.rank - 1).fill(0), Array(like.rank - 1).fill(1), range(1, like.rank)),
    0,
  );
  const z = ops.reshape(zero, [b, ...Array(x.rank - 1).fill(1)] as Dim[]);
  return ops.add(x, z);
}

/** Additive key bias (B,1,1,L): −inf where `padding` (int or bool, (B,L)) is non-zero, else 0. */
export function keyPaddingBias(padding: Value): Value {
  const isPad = padding.dtype === 'bool' ? padding : ops.not(ops.equal(padding, ops.lift(0, padding)));
  const bias = ops.where(isPad, -Infinity, constLike(padding.graph, 0));
  return ops.unsqueeze(bias, [1, 2]);
}

function constLike(g: Value['graph'], x: number): Value {
  return g.constant(Tensor.scalar(x, 'float32'), 'zero');
}

/** ONNX Pad along the last axis: `left` zeros (a number or an int64 scalar value) in front. */
export function padLastLeft(x: Value, left: number | Value): Value {
  const g = x.graph;
  const r = x.rank;
  let pads: Value;
  if (typeof left === 'number') {
    const p = Array(2 * r).fill(0);
    p[r - 1] = left;
    pads = g.constant(Tensor.i64([2 * r], p), 'pads');
  } else {
    const before = g.constant(Tensor.i64([r - 1], Array(r - 1).fill(0)), 'pads');
    const after = g.constant(Tensor.i64([r], Array(r).fill(0)), 'pads');
    pads = ops.concat([before, ops.reshape(left, [1]), after], 0);
  }
  const last = x.shape[r - 1];
  const out = typeof left === 'number' && typeof last === 'number' ? last + left : `${x.name}_padded`;
  return g.addNode('Pad', [x, pads], [{ dtype: x.dtype, shape: [...x.shape.slice(0, -1), out] }], {
    mode: { s: 'constant' },
  })[0];
}

/** Size of axis `axis` of x as an int64 scalar value (runtime shape). */
export function dimOf(x: Value, axis: number): Value {
  const g = x.graph;
  const [shape] = g.addNode('Shape', [x], [{ dtype: 'int64', shape: [x.rank] }]);
  return ops.squeeze(ops.slice(shape, [axis], [axis + 1], [0]), [0]);
}

/** Row-major indices of the non-zero entries of a (..)-shaped mask, as int64 (N,). */
export function nonzeroFlat(mask: Value): Value {
  const flat = ops.reshape(mask, [-1]);
  const b = flat.dtype === 'bool' ? flat : ops.not(ops.equal(flat, ops.lift(0, flat)));
  const [nz] = mask.graph.addNode('NonZero', [b], [{ dtype: 'int64', shape: [1, `${mask.name}_nnz`] }]);
  return ops.reshape(nz, [-1]);
}

export function range(a: number, b: number): number[] {
  return Array.from({ length: b - a }, (_, i) => a + i);
}

/** table[ids] for int64 ids of any shape. */
export function gatherRows(table: Value, ids: Value): Value {
  return ops.gather(table, ids, 0);
}
