import { GraphError, type Value } from '../graph/ir.js';
import * as ops from '../graph/ops/index.js';
import type { Dim } from '../graph/shape.js';
import { Tensor } from '../graph/tensor.js';

const sameShape = (a: readonly Dim[], b: readonly Dim[]) =>
  a.length === b.length && a.every((d, i) => d === b[i]);

/** Integer values of a constant input (axes, starts, ...), or an error naming the op. */
export function constInts(v: Value | null | undefined, op: string, what: string): number[] {
  const t = v ? v.graph.constants.get(v) : undefined;
  if (!t) throw new GraphError(`grad ${op}: ${what} must be a constant to differentiate`);
  return t.toArray();
}

/**
 * Sums gradient `g` (shaped like a broadcast result) back to the shape of operand `x`.
 * Axes decided by static shapes are reduced directly; where a symbolic dim of `x` could be 1
 * at run time, the broadcast axes are found at run time from Shape(x) and Shape(g).
 */
export function unbroadcast(g: Value, x: Value): Value {
  if (sameShape(g.shape, x.shape)) return g;
  const lead = g.rank - x.rank;
  if (lead < 0)
    throw new GraphError(`grad: gradient ${g.toString()} has lower rank than operand ${x.toString()}`);
  const staticAxes: number[] = [];
  let ambiguous = false;
  for (let i = 0; i < x.rank; i++) {
    const xd = x.shape[i];
    const gd = g.shape[i + lead];
    if (xd === gd) continue;
    if (xd === 1) staticAxes.push(i + lead);
    else if (typeof xd === 'string') ambiguous = true;
    // numeric xd != 1: broadcasting guarantees gd equals it at run time
  }
  let r = g;
  if (lead > 0)
    r = ops.reduceSum(
      r,
      Array.from({ length: lead }, (_, i) => i),
      false,
    );
  const axes = staticAxes.map((a) => a - lead);
  if (axes.length) r = ops.reduceSum(r, axes, true);
  if (ambiguous) {
    const sx = ops.shapeOf(x);
    const sr = ops.shapeOf(r);
    const one = g.graph.constant(Tensor.i64([], [1]), 'one');
    const mask = ops.and(ops.equal(sx, one), ops.not(ops.equal(sr, one)));
    const dynAxes = ops.reshape(ops.nonZero(mask), [-1]);
    r = ops.reduceSumDynamic(r, dynAxes, x.shape);
  }
  return ops.reshapeLike(r, x);
}

/** Broadcasts `g` (shape of a reduction result, kept dims) back to the shape of `x`. */
export function expandLike(g: Value, x: Value): Value {
  if (sameShape(g.shape, x.shape)) return g;
  if (x.shape.every((d) => typeof d === 'number')) return ops.expand(g, x.shape);
  return ops.expand(g, ops.shapeOf(x), x.shape);
}

/** Number of elements of `x` divided by that of `y`, as a scalar of x's dtype (static when possible). */
export function sizeRatio(x: Value, y: Value): Value | number {
  const n = (v: Value) =>
    v.shape.every((d) => typeof d === 'number') ? (v.shape as number[]).reduce((p, c) => p * c, 1) : null;
  const nx = n(x);
  const ny = n(y);
  if (nx !== null && ny !== null) return nx / ny;
  return ops.div(ops.cast(ops.size(x), x.dtype), ops.cast(ops.size(y), x.dtype));
}
