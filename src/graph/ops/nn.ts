import { isFloat } from '../dtype.js';
import { GraphError, type Value } from '../ir.js';
import { normAxis, ShapeError, shapeToString } from '../shape.js';
import { int64Const } from './util.js';

function reduce(op: string, x: Value, axes: readonly number[], keepdims: boolean): Value {
  const norm = axes.map((a) => normAxis(op, a, x.rank));
  const shape = keepdims ? x.shape.map((d, i) => (norm.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !norm.includes(i));
  // opset 17: ReduceSum takes axes as an input; ReduceMean/ReduceMax as an attribute.
  if (op === 'ReduceSum')
    return x.graph.addNode(op, [x, int64Const(x, norm, 'axes')], [{ dtype: x.dtype, shape }], { keepdims: { i: keepdims ? 1 : 0 } })[0];
  return x.graph.addNode(op, [x], [{ dtype: x.dtype, shape }], { axes: { ints: norm }, keepdims: { i: keepdims ? 1 : 0 } })[0];
}

export const reduceSum = (x: Value, axes: readonly number[], keepdims = false): Value => reduce('ReduceSum', x, axes, keepdims);
export const reduceMean = (x: Value, axes: readonly number[], keepdims = false): Value => reduce('ReduceMean', x, axes, keepdims);
export const reduceMax = (x: Value, axes: readonly number[], keepdims = false): Value => reduce('ReduceMax', x, axes, keepdims);

export function softmax(x: Value, axis = -1): Value {
  if (!isFloat(x.dtype)) throw new GraphError(`Softmax: ${x.name} must be floating point`);
  return x.graph.addNode('Softmax', [x], [{ dtype: x.dtype, shape: x.shape }], { axis: { i: normAxis('Softmax', axis, x.rank) } })[0];
}

export function logSoftmax(x: Value, axis = -1): Value {
  if (!isFloat(x.dtype)) throw new GraphError(`LogSoftmax: ${x.name} must be floating point`);
  return x.graph.addNode('LogSoftmax', [x], [{ dtype: x.dtype, shape: x.shape }], { axis: { i: normAxis('LogSoftmax', axis, x.rank) } })[0];
}

/** ONNX LayerNormalization over the last axis (opset 17). */
export function layerNormalization(x: Value, scale: Value, bias: Value | null, epsilon = 1e-5): Value {
  const d = x.shape[x.rank - 1];
  if (scale.rank !== 1 || (typeof d === 'number' && scale.shape[0] !== d))
    throw new ShapeError(`LayerNormalization: scale ${shapeToString(scale.shape)} does not match last dim of ${shapeToString(x.shape)}`);
  return x.graph.addNode('LayerNormalization', bias ? [x, scale, bias] : [x, scale], [{ dtype: x.dtype, shape: x.shape }], {
    axis: { i: -1 },
    epsilon: { f: epsilon },
  })[0];
}
