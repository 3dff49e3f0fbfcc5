import { GraphError, type Value } from '../ir.js';
import { type Dim, normAxis, ShapeError, shapeToString } from '../shape.js';
import { int64Const } from './util.js';

/**
 * Reshape. Target dims: a number (-1 = inferred), or a symbol that must equal the input's dim
 * at the same index (encoded as ONNX 0 = copy), so symbolic batch sizes survive reshapes.
 */
export function reshape(x: Value, target: readonly Dim[]): Value {
  const onnxDims: number[] = [];
  const out: Dim[] = [];
  let inferAt = -1;
  let known = 1;
  for (let i = 0; i < target.length; i++) {
    const d = target[i];
    if (typeof d === 'string') {
      if (x.shape[i] !== d)
        throw new ShapeError(`Reshape: symbolic dim "${d}" at ${i} must match input dim ${x.shape[i]} of ${shapeToString(x.shape)}`);
      onnxDims.push(0);
      out.push(d);
    } else if (d === -1) {
      if (inferAt >= 0) throw new ShapeError(`Reshape: more than one -1 in ${shapeToString(target)}`);
      inferAt = i;
      onnxDims.push(-1);
      out.push(-1);
    } else {
      onnxDims.push(d);
      out.push(d);
      known *= d;
    }
  }
  if (inferAt >= 0) {
    const inStatic = x.shape.every((d) => typeof d === 'number');
    const symbolsCancel = target.filter((d) => typeof d === 'string');
    const inSyms = x.shape.filter((d) => typeof d === 'string');
    const inNum = (x.shape.filter((d) => typeof d === 'number') as number[]).reduce((p, c) => p * c, 1);
    if (inStatic || (symbolsCancel.length === inSyms.length && symbolsCancel.every((s, i) => s === inSyms[i]))) {
      if (inNum % known !== 0) throw new ShapeError(`Reshape: cannot reshape ${shapeToString(x.shape)} to ${shapeToString(target)}`);
      out[inferAt] = inNum / known;
    } else {
      out[inferAt] = `${x.name}_reshape${inferAt}`;
    }
  } else if (x.shape.every((d) => typeof d === 'number')) {
    const inNum = (x.shape as number[]).reduce((p, c) => p * c, 1);
    if (inNum !== known) throw new ShapeError(`Reshape: cannot reshape ${shapeToString(x.shape)} (${inNum} elements) to ${shapeToString(target)}`);
  }
  return x.graph.addNode('Reshape', [x, int64Const(x, onnxDims)], [{ dtype: x.dtype, shape: out }])[0];
}

export function transpose(x: Value, perm: readonly number[]): Value {
  if (perm.length !== x.rank || [...perm].sort((a, b) => a - b).some((p, i) => p !== i))
    throw new ShapeError(`Transpose: perm [${perm}] is not a permutation of rank ${x.rank}`);
  return x.graph.addNode('Transpose', [x], [{ dtype: x.dtype, shape: perm.map((p) => x.shape[p]) }], { perm: { ints: perm } })[0];
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
    total = typeof total === 'number' && typeof d === 'number' ? total + d : `concat_${x.graph.nodes.length}`;
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
  for (const a of norm) if (x.shape[a] !== 1) throw new ShapeError(`Squeeze: dim ${a} of ${shapeToString(x.shape)} is not 1`);
  const shape = x.shape.filter((_, i) => !norm.includes(i));
  return x.graph.addNode('Squeeze', [x, int64Const(x, norm, 'axes')], [{ dtype: x.dtype, shape }])[0];
}

/** Static slice along axes (ONNX Slice semantics, ends clamped). */
export function slice(x: Value, starts: readonly number[], ends: readonly number[], axes: readonly number[], steps?: readonly number[]): Value {
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
  const inputs = [x, int64Const(x, starts, 'starts'), int64Const(x, ends, 'ends'), int64Const(x, axes, 'axes')];
  if (steps) inputs.push(int64Const(x, steps, 'steps'));
  return x.graph.addNode('Slice', inputs, [{ dtype: x.dtype, shape }])[0];
}

/** Gather rows of `x` along `axis` with integer `indices` (embedding lookup). */
export function gather(x: Value, indices: Value, axis = 0): Value {
  if (indices.dtype !== 'int64' && indices.dtype !== 'int32') throw new GraphError(`Gather: indices ${indices.name} must be int64/int32, got ${indices.dtype}`);
  const a = normAxis('Gather', axis, x.rank);
  const shape = [...x.shape.slice(0, a), ...indices.shape, ...x.shape.slice(a + 1)];
  return x.graph.addNode('Gather', [x, indices], [{ dtype: x.dtype, shape }], { axis: { i: a } })[0];
}

export function expand(x: Value, shape: readonly number[]): Value {
  const n = Math.max(x.rank, shape.length);
  const out: Dim[] = [];
  for (let i = 0; i < n; i++) {
    const dx = i < n - x.rank ? 1 : x.shape[i - (n - x.rank)];
    const ds = i < n - shape.length ? 1 : shape[i - (n - shape.length)];
    out.push(ds === 1 ? dx : ds);
  }
  return x.graph.addNode('Expand', [x, int64Const(x, shape)], [{ dtype: x.dtype, shape: out }])[0];
}
