// Numeric comparisons shared by the tests. Tensors go through the parity harness's maxAbsDiff
// (shape check included), so a test and `beit3 parity` measure error the same way.
import { expect } from 'vitest';
import { Tensor } from '../../src/graph/tensor.js';
import { maxAbsDiff } from '../../src/models/beit3/parity/compare.js';

/**
 * Max |a − b| over two equally long arrays or two equally shaped tensors; a length or shape
 * mismatch fails the test, and a NaN anywhere gives Infinity (so it can never pass a tolerance).
 */
export function maxAbs(a: ArrayLike<number> | Tensor, b: ArrayLike<number> | Tensor): number {
  if (a instanceof Tensor && b instanceof Tensor) {
    expect(a.shape).toEqual(b.shape);
    return maxAbsDiff(a, b, 'tensor');
  }
  const x = a instanceof Tensor ? (a.data as ArrayLike<number>) : a;
  const y = b instanceof Tensor ? (b.data as ArrayLike<number>) : b;
  expect(x.length).toBe(y.length);
  let m = 0;
  for (let i = 0; i < x.length; i++) {
    const d = Math.abs(Number(x[i]) - Number(y[i]));
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

/** Max |a − b| / (|b| + eps): relative error against a reference `b`. */
export function maxRel(a: ArrayLike<number>, b: ArrayLike<number>, eps = 1e-12): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]) / (Math.abs(b[i]) + eps);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}
