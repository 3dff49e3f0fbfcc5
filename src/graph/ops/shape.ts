import type { DType } from '../dtype.js';

import { type Attr, GraphError, type Value } from '../ir.js';
import { broadcastShapes, type Dim, normAxis, ShapeError, shapeToString } from '../shape.js';
import { Tensor } from '../tensor.js';
import { int64Const, lift, type Operand } from './util.js';

let freshSymbols = 0;
/** A new symbolic dim name for sizes only known at run time. */
export function freshDim(hint: string): string {
  return `${hint}_${++freshSymbols}`;
}

/** Shape(x) as a 1-D int64 value; `start`/`end` select a sub-range of dims (ONNX Shape-15). */
export function shapeOf(x: Value, start = 0, end = x.rank): Value {
  const s = normAxis('Shape', start, x.rank + 1);
  const e = Math.min(end < 0 ? end + x.rank : end, x.rank);
  const attrs = { ...(s !== 0 ? { start: { i: s } } : {}), ...(e !== x.rank ? { end: { i: e } } : {}) };
  return x.graph.addNode('Shape', [x], [{ dtype: 'int64', shape: [Math.max(0, e - s)] }], attrs)[0];
}

/** Finds a value that carries symbolic dim `sym`, for reading its run-time size. */
function findSymbol(like: Value, sym: string): [Value, number] | null {
  const i = like.shape.indexOf(sym);
  if (i >= 0) return [like, i];
  for (const v of like.graph.inputs) {
    const j = v.shape.indexOf(sym);
    if (j >= 0) return [v, j];
  }
  return null;
}

/**
 * A 1-D int64 value holding `dims`: static runs become constants, symbolic dims are read at run
 * time from a value (first `like`, then the graph inputs) that has the same symbol.
 */
export function shapeVector(like: Value, dims: readonly Dim[], op = 'Reshape'): Value {
  if (dims.every((d) => typeof d === 'number')) return int64Const(like, dims as number[]);
  const parts: Value[] = [];
  let run: number[] = [];
  const flush = () => {
    if (run.length) parts.push(int64Const(like, run));
    run = [];
  };
  for (const d of dims) {
    if (typeof d === 'number') {
      run.push(d);
      continue;
    }
    flush();
    const src = findSymbol(like, d);
    if (!src)
      throw new ShapeError(
        `${op}: symbolic dim "${d}" of ${shapeToString(dims)} is not carried by ${like.toString()} or any graph input`,
      );
    parts.push(shapeOf(src[0], src[1], src[1] + 1));
  }
  flush();
  return parts.length === 1
    ? parts[0]
    : like.graph.addNode('Concat', parts, [{ dtype: 'int64', shape: [dims.length] }], { axis: { i: 0 } })[0];
}

/** Infers the output dims of a reshape (resolving one -1) where static information allows. */
function reshapeDims(x: Value, target: readonly Dim[]): Dim[] {
  const out = [...target];
  const inferAt = target.indexOf(-1);
  if (target.filter((d) => d === -1).length > 1)
    throw new ShapeError(`Reshape: more than one -1 in ${shapeToString(target)}`);
  const known = (target.filter((d) => typeof d === 'number' && d !== -1) as number[]).reduce(
    (p, c) => p * c,
    1,
  );
  const inNum = (x.shape.filter((d) => typeof d === 'number') as number[]).reduce((p, c) => p * c, 1);
  const inSyms = (x.shape.filter((d) => typeof d === 'string') as string[]).sort();
  const outSyms = (target.filter((d) => typeof d === 'string') as string[]).sort();
  const symsCancel = inSyms.length === outSyms.length && inSyms.every((s, i) => s === outSyms[i]);
  if (inferAt >= 0) {
    if (symsCancel) {
      if (inNum % known !== 0)
        throw new ShapeError(`Reshape: cannot reshape ${shapeToString(x.shape)} to ${shapeToString(target)}`);
      out[inferAt] = inNum / known;
    } else out[inferAt] = freshDim(`${x.name}_reshape`);
  } else if (symsCancel && inNum !== known)
    throw new ShapeError(
      `Reshape: cannot reshape ${shapeToString(x.shape)} (${inNum} elements) to ${shapeToString(target)}`,
    );
  return out;
}

/**
 * Reshape. Target dims: numbers (-1 = inferred) and symbols. A symbol at the same index as in the
 * input is encoded as ONNX 0 (copy); a symbol elsewhere is read from the run-time shape of a
 * value that carries it, so symbolic batch/sequence sizes survive any reshape. A 1-D int64 Value
 * may be given as the target with `outShape` describing the result.
 */
export function reshape(x: Value, target: readonly Dim[] | Value, outShape?: readonly Dim[]): Value {
  if (!Array.isArray(target)) {
    const tv = target as Value;
    if (tv.dtype !== 'int64' || tv.rank !== 1)
      throw new ShapeError(`Reshape: shape value must be 1-D int64, got ${tv.toString()}`);
    const n = tv.shape[0];
    const shape =
      outShape ??
      (typeof n === 'number' ? Array.from({ length: n }, () => freshDim(`${x.name}_reshape`)) : null);
    if (!shape)
      throw new ShapeError(`Reshape: shape value ${tv.toString()} has unknown length; pass outShape`);
    return x.graph.addNode('Reshape', [x, tv], [{ dtype: x.dtype, shape }])[0];
  }
  const dims = target as readonly Dim[];
  const out = reshapeDims(x, dims);
  const copyable = dims.every((d, i) => typeof d === 'number' || x.shape[i] === d);
  let shapeVal: Value;
  if (copyable)
    shapeVal = int64Const(
      x,
      dims.map((d) => (typeof d === 'number' ? d : 0)),
    );
  else shapeVal = shapeVector(x, dims);
  for (const d of dims)
    if (typeof d === 'number' && (d === 0 || d < -1))
      throw new ShapeError(`Reshape: invalid target dim ${d} in ${shapeToString(dims)}`);
  return x.graph.addNode('Reshape', [x, shapeVal], [{ dtype: x.dtype, shape: out }])[0];
}

/** Reshapes `x` to the (possibly symbolic) shape of `like`. */
export function reshapeLike(x: Value, like: Value): Value {
  if (x.shape.length === like.shape.length && x.shape.every((d, i) => d === like.shape[i])) return x;
  const target = like.shape.every((d) => typeof d === 'number')
    ? int64Const(x, like.shape as number[])
    : shapeOf(like);
  return x.graph.addNode('Reshape', [x, target], [{ dtype: x.dtype, shape: like.shape }])[0];
}

export function transpose(x: Value, perm: readonly number[]): Value {
  if (perm.length !== x.rank || [...perm].sort((a, b) => a - b).some((p, i) => p !== i))
    throw new ShapeError(`Transpose: perm [${perm}] is not a permutation of rank ${x.rank}`);
  return x.graph.addNode('Transpose', [x], [{ dtype: x.dtype, shape: perm.map((p) => x.shape[p]) }], {
    perm: { ints: perm },
  })[0];
}

export function concat(xs: readonly Value[], axis: number): Value {
  if (xs.length === 0) throw new GraphError('Concat: no inputs');
  const r = xs[0].rank;
  const a = normAxis('Concat', axis, r);
  let total: Dim = 0;
  for (const x of xs) {
    if (x.rank !== r || x.dtype !== xs[0].dtype)
      throw new ShapeError(`Concat: inputs differ in rank or dtype: ${xs.map(String).join(', ')}`);
    const d = x.shape[a];
    total = typeof total === 'number' && typeof d === 'number' ? total + d : freshDim('concat');
  }
  const shape = xs[0].shape.map((d, i) => (i === a ? total : d));
  return xs[0].graph.addNode('Concat', xs, [{ dtype: xs[0].dtype, shape }], { axis: { i: a } })[0];
}

export function unsqueeze(x: Value, axes: readonly number[]): Value {
  const r = x.rank + axes.length;
  const norm = axes.map((a) => normAxis('Unsqueeze', a, r)).sort((a, b) => a - b);
  const shape: Dim[] = [];
  let j = 0;
  for (let i = 0; i < r; i++) shape.push(norm.includes(i) ? 1 : x.shape[j++]);
  return x.graph.addNode('Unsqueeze', [x, int64Const(x, norm, 'axes')], [{ dtype: x.dtype, shape }])[0];
}

export function squeeze(x: Value, axes: readonly number[]): Value {
  const norm = axes.map((a) => normAxis('Squeeze', a, x.rank));
  for (const a of norm)
    if (x.shape[a] !== 1) throw new ShapeError(`Squeeze: dim ${a} of ${shapeToString(x.shape)} is not 1`);
  const shape = x.shape.filter((_, i) => !norm.includes(i));
  return x.graph.addNode('Squeeze', [x, int64Const(x, norm, 'axes')], [{ dtype: x.dtype, shape }])[0];
}

/** Static slice along axes (ONNX Slice semantics, ends clamped). */
export function slice(
  x: Value,
  starts: readonly number[],
  ends: readonly number[],
  axes: readonly number[],
  steps?: readonly number[],
): Value {
  const shape = [...x.shape];
  axes.forEach((ax, k) => {
    const a = normAxis('Slice', ax, x.rank);
    const d = x.shape[a];
    const step = steps?.[k] ?? 1;
    if (typeof d === 'number') {
      const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + d : v, 0), d);
      const s = clamp(starts[k]);
      const e = clamp(ends[k]);
      shape[a] = Math.max(0, Math.ceil((e - s) / step));
    } else if (starts[k] >= 0 && ends[k] >= 0 && ends[k] < 2 ** 31 && step === 1) {
      shape[a] = ends[k] - starts[k];
    } else {
      shape[a] = `${x.name}_slice${a}`;
    }
  });
  const inputs = [
    x,
    int64Const(x, starts, 'starts'),
    int64Const(x, ends, 'ends'),
    int64Const(x, axes, 'axes'),
  ];
  if (steps) inputs.push(int64Const(x, steps, 'steps'));
  return x.graph.addNode('Slice', inputs, [{ dtype: x.dtype, shape }])[0];
}

/** Broadcasts `x` to `shape` (numpy rules; dims may be symbolic, or a 1-D int64 Value with `outShape`). */
export function expand(x: Value, shape: readonly Dim[] | Value, outShape?: readonly Dim[]): Value {
  if (!Array.isArray(shape)) {
    const sv = shape as Value;
    const out =
      outShape ??
      (typeof sv.shape[0] === 'number'
        ? Array.from({ length: sv.shape[0] }, () => freshDim('expand'))
        : null);
    if (!out) throw new ShapeError(`Expand: shape value ${sv.toString()} has unknown length; pass outShape`);
    return x.graph.addNode('Expand', [x, sv], [{ dtype: x.dtype, shape: out }])[0];
  }
  const dims = shape as readonly Dim[];
  const out = broadcastShapes('Expand', x.shape, dims);
  return x.graph.addNode('Expand', [x, shapeVector(x, dims, 'Expand')], [{ dtype: x.dtype, shape: out }])[0];
}

/**
 * Splits along `axis` into pieces of the given sizes, or into `parts` equal pieces when a number
 * is given.
 */
export function split(x: Value, sizes: readonly number[] | number, axis = 0): Value[] {
  const a = normAxis('Split', axis, x.rank);
  const d = x.shape[a];
  if (typeof sizes === 'number') {
    if (typeof d === 'number' && d % sizes !== 0)
      throw new ShapeError(
        `Split: dim ${a} of ${shapeToString(x.shape)} (${d}) is not divisible into ${sizes} parts`,
      );
    const piece: Dim = typeof d === 'number' ? d / sizes : freshDim(`${x.name}_split`);
    const shapes = Array.from({ length: sizes }, () => ({
      dtype: x.dtype,
      shape: x.shape.map((e, i) => (i === a ? piece : e)),
    }));
    return x.graph.addNode('Split', [x], shapes, { axis: { i: a } });
  }
  const total = sizes.reduce((p, c) => p + c, 0);
  if (typeof d === 'number' && total !== d)
    throw new ShapeError(
      `Split: sizes [${sizes}] sum to ${total}, but dim ${a} of ${shapeToString(x.shape)} is ${d}`,
    );
  const shapes = sizes.map((s) => ({ dtype: x.dtype, shape: x.shape.map((e, i) => (i === a ? s : e)) }));
  return x.graph.addNode('Split', [x, int64Const(x, sizes, 'split')], shapes, { axis: { i: a } });
}

/** Split with run-time sizes (a 1-D int64 value); used where sizes are symbolic. */
export function splitDynamic(
  x: Value,
  sizes: Value,
  outShapes: readonly (readonly Dim[])[],
  axis: number,
): Value[] {
  const a = normAxis('Split', axis, x.rank);
  return x.graph.addNode(
    'Split',
    [x, sizes],
    outShapes.map((shape) => ({ dtype: x.dtype, shape })),
    { axis: { i: a } },
  );
}

/** A tensor of `shape` (1-D int64 value, or static/symbolic dims) filled with `value`. */
export function constantOfShape(
  like: Value,
  shape: readonly Dim[] | Value,
  value: number,
  dtype: DType = like.dtype,
  outShape?: readonly Dim[],
): Value {
  const sv = Array.isArray(shape) ? shapeVector(like, shape as Dim[], 'ConstantOfShape') : (shape as Value);
  const dims = Array.isArray(shape) ? (shape as Dim[]) : outShape;
  if (!dims) throw new ShapeError('ConstantOfShape: pass outShape when the shape is a value');
  return like.graph.addNode('ConstantOfShape', [sv], [{ dtype, shape: dims }], {
    value: { t: Tensor.scalar(value, dtype).reshape([1]) },
  })[0];
}

/** Zeros with the (possibly symbolic) shape and dtype of `x`. */
export function zerosLike(x: Value): Value {
  if (x.shape.every((d) => typeof d === 'number')) return constantOfShape(x, x.shape, 0, x.dtype);
  return constantOfShape(x, shapeOf(x), 0, x.dtype, x.shape);
}

/** Constant-mode Pad; `pads` = [begin_0.., end_0..] as numbers, or a 1-D int64 value with `outShape`. */
export function pad(x: Value, pads: readonly number[] | Value, value = 0, outShape?: readonly Dim[]): Value {
  const cv = lift(value, x);
  if (Array.isArray(pads)) {
    const p = pads as number[];
    if (p.length !== 2 * x.rank)
      throw new ShapeError(`Pad: ${p.length} pads for rank ${x.rank} input ${shapeToString(x.shape)}`);
    const shape = x.shape.map((d, i) =>
      typeof d === 'number' ? d + p[i] + p[i + x.rank] : p[i] + p[i + x.rank] === 0 ? d : freshDim('pad'),
    );
    return x.graph.addNode('Pad', [x, int64Const(x, p, 'pads'), cv], [{ dtype: x.dtype, shape }], {
      mode: { s: 'constant' },
    })[0];
  }
  if (!outShape) throw new ShapeError('Pad: pass outShape when pads is a value');
  return x.graph.addNode('Pad', [x, pads as Value, cv], [{ dtype: x.dtype, shape: outShape }], {
    mode: { s: 'constant' },
  })[0];
}

/** Number of elements of `x` as an int64 scalar (ONNX Size). */
export function size(x: Value): Value {
  return x.graph.addNode('Size', [x], [{ dtype: 'int64', shape: [] }])[0];
}

/** ONNX Flatten: dims before `axis` into the first output dim, the rest into the second. */
export function flatten(x: Value, axis = 1): Value {
  const a = normAxis('Flatten', axis, x.rank + 1);
  const prod = (ds: readonly Dim[]): Dim =>
    ds.every((d) => typeof d === 'number')
      ? (ds as number[]).reduce((p, c) => p * c, 1)
      : ds.length === 1
        ? ds[0]
        : freshDim(`${x.name}_flat`);
  const shape = [prod(x.shape.slice(0, a)), prod(x.shape.slice(a))];
  return x.graph.addNode('Flatten', [x], [{ dtype: x.dtype, shape }], { axis: { i: a } })[0];
}
