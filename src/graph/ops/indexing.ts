/**
 * Indexing ops: gathers, scatters, top-k / arg-max selections, one-hot and index ranges.
 * Integer outputs here carry no gradient; the float ones have VJPs in autodiff/rules.ts.
 */
import type { DType } from '../dtype.js';
import { type Attr, GraphError, type Value } from '../ir.js';
import { type Dim, normAxis, ShapeError, shapeToString } from '../shape.js';
import { Tensor } from '../tensor.js';
import { freshDim, reshape } from './shape.js';
import { int64Const, type Operand } from './util.js';

/** Gather rows of `x` along `axis` with integer `indices` (embedding lookup). */
export function gather(x: Value, indices: Value, axis = 0): Value {
  if (indices.dtype !== 'int64' && indices.dtype !== 'int32')
    throw new GraphError(`Gather: indices ${indices.name} must be int64/int32, got ${indices.dtype}`);
  const a = normAxis('Gather', axis, x.rank);
  const shape = [...x.shape.slice(0, a), ...indices.shape, ...x.shape.slice(a + 1)];
  return x.graph.addNode('Gather', [x, indices], [{ dtype: x.dtype, shape }], { axis: { i: a } })[0];
}

function requireIndices(op: string, idx: Value): void {
  if (idx.dtype !== 'int64' && idx.dtype !== 'int32')
    throw new GraphError(`${op}: indices ${idx.name} must be int64/int32, got ${idx.dtype}`);
}

/** out[i][j] = x[idx[i][j]][j] (axis 0), etc.; output has the indices' shape. */
export function gatherElements(x: Value, idx: Value, axis = 0): Value {
  requireIndices('GatherElements', idx);
  const a = normAxis('GatherElements', axis, x.rank);
  if (idx.rank !== x.rank)
    throw new ShapeError(
      `GatherElements: indices ${shapeToString(idx.shape)} must have the rank of data ${shapeToString(x.shape)}`,
    );
  return x.graph.addNode('GatherElements', [x, idx], [{ dtype: x.dtype, shape: idx.shape }], {
    axis: { i: a },
  })[0];
}

export type ScatterReduction = 'none' | 'add' | 'mul' | 'max' | 'min';

/** Copy of `data` with `updates` written (or reduced) at `idx` along `axis` (ONNX ScatterElements). */
export function scatterElements(
  data: Value,
  idx: Value,
  updates: Value,
  axis = 0,
  reduction: ScatterReduction = 'none',
): Value {
  requireIndices('ScatterElements', idx);
  const a = normAxis('ScatterElements', axis, data.rank);
  if (idx.rank !== data.rank || updates.rank !== idx.rank || updates.dtype !== data.dtype)
    throw new ShapeError(
      `ScatterElements: data ${data.toString()}, indices ${idx.toString()} and updates ${updates.toString()} must share rank (and data/updates dtype)`,
    );
  const attrs = { axis: { i: a }, ...(reduction !== 'none' ? { reduction: { s: reduction } } : {}) };
  return data.graph.addNode(
    'ScatterElements',
    [data, idx, updates],
    [{ dtype: data.dtype, shape: data.shape }],
    attrs,
  )[0];
}

/** Copy of `data` with slices `updates` written (or reduced) at index tuples `idx[..., k]` (ONNX ScatterND). */
export function scatterND(
  data: Value,
  idx: Value,
  updates: Value,
  reduction: ScatterReduction = 'none',
): Value {
  if (idx.dtype !== 'int64')
    throw new GraphError(`ScatterND: indices ${idx.name} must be int64, got ${idx.dtype}`);
  const k = idx.shape[idx.rank - 1];
  if (typeof k !== 'number' || k > data.rank)
    throw new ShapeError(
      `ScatterND: last dim of indices ${shapeToString(idx.shape)} must be static and <= rank of data ${shapeToString(data.shape)}`,
    );
  const want = [...idx.shape.slice(0, -1), ...data.shape.slice(k)];
  const fits =
    updates.rank === want.length &&
    updates.shape.every((d, j) => typeof d !== 'number' || typeof want[j] !== 'number' || d === want[j]);
  if (!fits || updates.dtype !== data.dtype)
    throw new ShapeError(
      `ScatterND: updates ${updates.toString()} do not fit data ${data.toString()} with indices ${idx.toString()} (want ${shapeToString(want)})`,
    );
  const attrs: Record<string, Attr> = reduction !== 'none' ? { reduction: { s: reduction } } : {};
  return data.graph.addNode(
    'ScatterND',
    [data, idx, updates],
    [{ dtype: data.dtype, shape: data.shape }],
    attrs,
  )[0];
}

/** Gathers slices of `data` at index tuples `idx[..., k]` (ONNX GatherND, batch_dims 0). */
export function gatherND(data: Value, idx: Value): Value {
  if (idx.dtype !== 'int64')
    throw new GraphError(`GatherND: indices ${idx.name} must be int64, got ${idx.dtype}`);
  const k = idx.shape[idx.rank - 1];
  if (typeof k !== 'number' || k > data.rank)
    throw new ShapeError(
      `GatherND: last dim of indices ${shapeToString(idx.shape)} must be static and <= rank of data ${shapeToString(data.shape)}`,
    );
  const shape = [...idx.shape.slice(0, -1), ...data.shape.slice(k)];
  return data.graph.addNode('GatherND', [data, idx], [{ dtype: data.dtype, shape }])[0];
}

/** One-hot encoding along a new last axis (ONNX OneHot with off/on = 0/1). */
export function oneHot(indices: Value, depth: number, dtype: DType = 'float32'): Value {
  requireIndices('OneHot', indices);
  const d = indices.graph.constant(Tensor.i64([1], [depth]), 'depth');
  const vals = indices.graph.constant(
    new Tensor(dtype, [2], dtype === 'float64' ? Float64Array.from([0, 1]) : Float32Array.from([0, 1])),
    'onehot',
  );
  return indices.graph.addNode('OneHot', [indices, d, vals], [{ dtype, shape: [...indices.shape, depth] }], {
    axis: { i: -1 },
  })[0];
}

/** ONNX Range: [start, start+delta, ...) below `limit`; operands are scalars of one dtype. */
export function range(
  like: Value,
  start: Operand,
  limit: Operand,
  delta: Operand = 1,
  dtype: DType = 'int64',
): Value {
  const mk = (o: Operand) =>
    typeof o === 'number' ? like.graph.constant(Tensor.scalar(o, dtype), 'range') : o;
  const [s, l, d] = [mk(start), mk(limit), mk(delta)];
  for (const v of [s, l, d])
    if (v.rank !== 0 || v.dtype !== dtype)
      throw new ShapeError(`Range: operands must be ${dtype} scalars, got ${v.toString()}`);
  let n: Dim = freshDim('range');
  if (typeof start === 'number' && typeof limit === 'number' && typeof delta === 'number')
    n = Math.max(0, Math.ceil((limit - start) / delta));
  return like.graph.addNode('Range', [s, l, d], [{ dtype, shape: [n] }])[0];
}

/** Indices of non-zero elements, int64 [rank, n] (ONNX NonZero). */
export function nonZero(x: Value): Value {
  return x.graph.addNode('NonZero', [x], [{ dtype: 'int64', shape: [x.rank, freshDim('nonzero')] }])[0];
}

/** Index of the largest element along `axis` (int64; first occurrence on ties). */
export function argMax(x: Value, axis = -1, keepdims = false): Value {
  const a = normAxis('ArgMax', axis, x.rank);
  const shape = keepdims ? x.shape.map((d, i) => (i === a ? 1 : d)) : x.shape.filter((_, i) => i !== a);
  return x.graph.addNode('ArgMax', [x], [{ dtype: 'int64', shape }], {
    axis: { i: a },
    keepdims: { i: keepdims ? 1 : 0 },
  })[0];
}

/**
 * The k largest (or smallest) elements along `axis` and their int64 indices, sorted. `k` is a
 * number, or an int64 scalar / [1] value computed at run time (then that axis becomes symbolic).
 */
export function topK(x: Value, k: number | Value, axis = -1, largest = true): [Value, Value] {
  const a = normAxis('TopK', axis, x.rank);
  const d = x.shape[a];
  let kv: Value;
  let kd: Dim;
  if (typeof k === 'number') {
    if (typeof d === 'number' && k > d)
      throw new ShapeError(`TopK: k=${k} exceeds dim ${a} of ${shapeToString(x.shape)}`);
    kv = int64Const(x, [k], 'k');
    kd = k;
  } else {
    if (k.dtype !== 'int64' || k.rank > 1 || (k.rank === 1 && k.shape[0] !== 1))
      throw new ShapeError(`TopK: run-time k must be an int64 scalar or [1], got ${k.toString()}`);
    kv = k.rank === 0 ? reshape(k, [1]) : k;
    kd = freshDim('topk');
  }
  const shape = x.shape.map((e, i) => (i === a ? kd : e));
  const [v, idx] = x.graph.addNode(
    'TopK',
    [x, kv],
    [
      { dtype: x.dtype, shape },
      { dtype: 'int64', shape },
    ],
    { axis: { i: a }, largest: { i: largest ? 1 : 0 }, sorted: { i: 1 } },
  );
  return [v, idx];
}
