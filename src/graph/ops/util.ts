import type { DType } from '../dtype.js';
import { GraphError, type Value } from '../ir.js';
import { Tensor } from '../tensor.js';

export type Operand = Value | number;

/** Lifts a JS number to a scalar constant of the given dtype in the graph of `like`. */
export function lift(x: Operand, like: Value): Value {
  if (typeof x !== 'number') return x;
  return like.graph.constant(Tensor.scalar(x, like.dtype), 'scalar');
}

/** Resolves two operands (at least one a Value) to Values of one dtype. */
export function pair(op: string, a: Operand, b: Operand): [Value, Value] {
  if (typeof a === 'number' && typeof b === 'number')
    throw new GraphError(`${op}: at least one operand must be a graph value`);
  const av = typeof a === 'number' ? lift(a, b as Value) : a;
  const bv = typeof b === 'number' ? lift(b, av) : b;
  if (av.graph !== bv.graph) throw new GraphError(`${op}: operands belong to different graphs`);
  if (av.dtype !== bv.dtype)
    throw new GraphError(`${op}: dtype mismatch ${av.dtype} vs ${bv.dtype} (${av.name}, ${bv.name})`);
  return [av, bv];
}

export function requireDType(op: string, x: Value, allowed: readonly DType[]): void {
  if (!allowed.includes(x.dtype))
    throw new GraphError(`${op}: ${x.name} has dtype ${x.dtype}, expected one of ${allowed.join(', ')}`);
}

export function int64Const(like: Value, values: readonly number[], name = 'shape'): Value {
  return like.graph.constant(Tensor.i64([values.length], values), name);
}
