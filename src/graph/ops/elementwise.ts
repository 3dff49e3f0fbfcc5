import { type DType, isFloat, ONNX_DTYPE } from '../dtype.js';
import { GraphError, type Value } from '../ir.js';
import { broadcastShapes } from '../shape.js';
import { lift, type Operand, pair } from './util.js';

function binary(op: string, a: Operand, b: Operand, outDType?: DType): Value {
  const [x, y] = pair(op, a, b);
  const shape = broadcastShapes(op, x.shape, y.shape);
  return x.graph.addNode(op, [x, y], [{ dtype: outDType ?? x.dtype, shape }])[0];
}

function unary(op: string, x: Value, requireFloat = true): Value {
  if (requireFloat && !isFloat(x.dtype))
    throw new GraphError(`${op}: ${x.name} must be floating point, got ${x.dtype}`);
  return x.graph.addNode(op, [x], [{ dtype: x.dtype, shape: x.shape }])[0];
}

export const add = (a: Operand, b: Operand): Value => binary('Add', a, b);
export const sub = (a: Operand, b: Operand): Value => binary('Sub', a, b);
export const mul = (a: Operand, b: Operand): Value => binary('Mul', a, b);
export const div = (a: Operand, b: Operand): Value => binary('Div', a, b);
export const pow = (a: Operand, b: Operand): Value => binary('Pow', a, b);
export const max = (a: Operand, b: Operand): Value => binary('Max', a, b);
export const min = (a: Operand, b: Operand): Value => binary('Min', a, b);

export const equal = (a: Operand, b: Operand): Value => binary('Equal', a, b, 'bool');
export const less = (a: Operand, b: Operand): Value => binary('Less', a, b, 'bool');
export const greater = (a: Operand, b: Operand): Value => binary('Greater', a, b, 'bool');
export const lessOrEqual = (a: Operand, b: Operand): Value => binary('LessOrEqual', a, b, 'bool');
export const greaterOrEqual = (a: Operand, b: Operand): Value => binary('GreaterOrEqual', a, b, 'bool');
export const and = (a: Value, b: Value): Value => binary('And', a, b, 'bool');
export const or = (a: Value, b: Value): Value => binary('Or', a, b, 'bool');
export const not = (x: Value): Value => unary('Not', x, false);

export const neg = (x: Value): Value => unary('Neg', x, false);
export const abs = (x: Value): Value => unary('Abs', x, false);
export const sqrt = (x: Value): Value => unary('Sqrt', x);
export const exp = (x: Value): Value => unary('Exp', x);
export const log = (x: Value): Value => unary('Log', x);
export const erf = (x: Value): Value => unary('Erf', x);
export const tanh = (x: Value): Value => unary('Tanh', x);
export const sigmoid = (x: Value): Value => unary('Sigmoid', x);
export const relu = (x: Value): Value => unary('Relu', x);
export const reciprocal = (x: Value): Value => unary('Reciprocal', x);

/** Elementwise select: cond ? a : b, broadcasting all three. */
export function where(cond: Value, a: Operand, b: Operand): Value {
  if (cond.dtype !== 'bool')
    throw new GraphError(`Where: condition ${cond.name} must be bool, got ${cond.dtype}`);
  const [x, y] = pair('Where', a, b);
  const shape = broadcastShapes('Where', cond.shape, broadcastShapes('Where', x.shape, y.shape));
  return x.graph.addNode('Where', [cond, x, y], [{ dtype: x.dtype, shape }])[0];
}

export function cast(x: Value, to: DType): Value {
  if (x.dtype === to) return x;
  return x.graph.addNode('Cast', [x], [{ dtype: to, shape: x.shape }], { to: { i: ONNX_DTYPE[to] } })[0];
}

export const xor = (a: Value, b: Value): Value => binary('Xor', a, b, 'bool');
export const sign = (x: Value): Value => unary('Sign', x, false);
export const floor = (x: Value): Value => unary('Floor', x);
export const ceil = (x: Value): Value => unary('Ceil', x);
export const identity = (x: Value): Value => unary('Identity', x, false);

/** Clamps to [min, max]; either bound may be omitted (ONNX Clip, bounds as scalar inputs). */
export function clip(x: Value, min?: Operand, max?: Operand): Value {
  const lo = min === undefined ? null : typeof min === 'number' ? lift(min, x) : min;
  const hi = max === undefined ? null : typeof max === 'number' ? lift(max, x) : max;
  for (const b of [lo, hi])
    if (b && (b.rank !== 0 || b.dtype !== x.dtype))
      throw new GraphError(
        `Clip: bounds must be ${x.dtype} scalars, got ${b.toString()} for ${x.toString()}`,
      );
  const inputs = hi ? [x, lo, hi] : lo ? [x, lo] : [x];
  return x.graph.addNode('Clip', inputs, [{ dtype: x.dtype, shape: x.shape }])[0];
}
