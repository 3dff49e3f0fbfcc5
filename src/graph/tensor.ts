import { allocArray, type DType, type TypedArray } from './dtype.js';
import { numel, shapeToString, ShapeError } from './shape.js';

/** A host tensor: dtype, static shape, row-major data. Used for constants, weights, feeds and results. */
export class Tensor {
  constructor(
    readonly dtype: DType,
    readonly shape: readonly number[],
    readonly data: TypedArray,
  ) {
    const n = numel(shape);
    if (data.length !== n)
      throw new ShapeError(
        `Tensor: shape ${shapeToString(shape)} needs ${n} elements, data has ${data.length}`,
      );
  }

  static zeros(dtype: DType, shape: readonly number[]): Tensor {
    return new Tensor(dtype, shape, allocArray(dtype, numel(shape)));
  }

  static f32(shape: readonly number[], data?: ArrayLike<number>): Tensor {
    return new Tensor('float32', shape, data ? Float32Array.from(data) : new Float32Array(numel(shape)));
  }

  static f64(shape: readonly number[], data?: ArrayLike<number>): Tensor {
    return new Tensor('float64', shape, data ? Float64Array.from(data) : new Float64Array(numel(shape)));
  }

  static i64(shape: readonly number[], data: ArrayLike<number | bigint>): Tensor {
    const a = new BigInt64Array(data.length);
    for (let i = 0; i < data.length; i++) a[i] = BigInt(data[i]);
    return new Tensor('int64', shape, a);
  }

  static scalar(value: number, dtype: DType = 'float32'): Tensor {
    const t = Tensor.zeros(dtype, []);
    t.data[0] = (dtype === 'int64' ? BigInt(value) : value) as never;
    return t;
  }

  get size(): number {
    return this.data.length;
  }

  /** Values as plain numbers (int64 converted; float16 left as raw words). */
  toArray(): number[] {
    return Array.from(this.data as ArrayLike<number | bigint>, Number);
  }

  reshape(shape: readonly number[]): Tensor {
    return new Tensor(this.dtype, shape, this.data);
  }
}
