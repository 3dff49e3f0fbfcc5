import { Beit3Error } from '../util/errors.js';
/** A dimension is a fixed size or a named symbol ("batch", "seq") resolved at run time. */
export type Dim = number | string;
export type Shape = readonly Dim[];

export class ShapeError extends Beit3Error {
  override name = 'ShapeError';
}

export function isStatic(shape: Shape): shape is readonly number[] {
  return shape.every((d) => typeof d === 'number');
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function shapeToString(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

/** Numpy broadcasting of two shapes; symbolic dims broadcast against 1 or themselves. */
export function broadcastShapes(op: string, a: Shape, b: Shape): Dim[] {
  const n = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < n; i++) {
    const da = i < n - a.length ? 1 : a[i - (n - a.length)];
    const db = i < n - b.length ? 1 : b[i - (n - b.length)];
    if (da === db) out.push(da);
    else if (da === 1) out.push(db);
    else if (db === 1) out.push(da);
    else if (typeof da === 'string' && typeof db === 'number') out.push(db);
    else if (typeof db === 'string' && typeof da === 'number') out.push(da);
    // Two different symbols: either may be 1 at run time, so the result is a new symbol.
    else if (typeof da === 'string' && typeof db === 'string') out.push(`${da}|${db}`);
    else
      throw new ShapeError(
        `${op}: shapes ${shapeToString(a)} and ${shapeToString(b)} do not broadcast (dim ${i}: ${da} vs ${db})`,
      );
  }
  return out;
}

/** Normalizes a possibly negative axis against a rank. */
export function normAxis(op: string, axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new ShapeError(`${op}: axis ${axis} out of range for rank ${rank}`);
  return a;
}
