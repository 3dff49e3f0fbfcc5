import { GraphError, type Value } from '../ir.js';
import { broadcastShapes, type Dim, ShapeError, shapeToString } from '../shape.js';

/** Batched, broadcasting matrix product (numpy.matmul semantics; rank >= 2 operands). */
export function matmul(a: Value, b: Value): Value {
  if (a.dtype !== b.dtype) throw new GraphError(`MatMul: dtype mismatch ${a.dtype} vs ${b.dtype}`);
  if (a.rank < 2 || b.rank < 2)
    throw new ShapeError(
      `MatMul: operands must have rank >= 2, got ${shapeToString(a.shape)} and ${shapeToString(b.shape)}`,
    );
  const m = a.shape[a.rank - 2];
  const k1 = a.shape[a.rank - 1];
  const k2 = b.shape[b.rank - 2];
  const n = b.shape[b.rank - 1];
  if (k1 !== k2 && typeof k1 === 'number' && typeof k2 === 'number')
    throw new ShapeError(`MatMul: inner dims differ: ${shapeToString(a.shape)} @ ${shapeToString(b.shape)}`);
  const batch = broadcastShapes('MatMul', a.shape.slice(0, -2), b.shape.slice(0, -2));
  return a.graph.addNode('MatMul', [a, b], [{ dtype: a.dtype, shape: [...batch, m, n] as Dim[] }])[0];
}

/** Gemm: alpha·op(A)·op(B) + beta·C for 2-D A, B. */
export function gemm(
  a: Value,
  b: Value,
  c: Value | null,
  opts: { transA?: boolean; transB?: boolean; alpha?: number; beta?: number } = {},
): Value {
  if (a.rank !== 2 || b.rank !== 2)
    throw new ShapeError(
      `Gemm: A and B must be 2-D, got ${shapeToString(a.shape)} and ${shapeToString(b.shape)}`,
    );
  const [m, k1] = opts.transA ? [a.shape[1], a.shape[0]] : [a.shape[0], a.shape[1]];
  const [k2, n] = opts.transB ? [b.shape[1], b.shape[0]] : [b.shape[0], b.shape[1]];
  if (k1 !== k2 && typeof k1 === 'number' && typeof k2 === 'number')
    throw new ShapeError(`Gemm: inner dims differ (${k1} vs ${k2})`);
  if (c) broadcastShapes('Gemm', [m, n], c.shape);
  return a.graph.addNode('Gemm', c ? [a, b, c] : [a, b], [{ dtype: a.dtype, shape: [m, n] }], {
    transA: { i: opts.transA ? 1 : 0 },
    transB: { i: opts.transB ? 1 : 0 },
    alpha: { f: opts.alpha ?? 1 },
    beta: { f: opts.beta ?? 1 },
  })[0];
}
