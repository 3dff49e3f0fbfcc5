import { Tensor } from '../graph/tensor.js';
import type { DType, TypedArray } from '../graph/dtype.js';
import { DataError } from './errors.js';

/** Padding of a variable-length integer field (token ids) when collating. */
export interface PadSpec {
  /** Pad value (BEiT-3: <pad> = 1). */
  value: number;
  /** Name of the padding-mask field to add (int64, 1 = padding, like the official collate). */
  mask?: string;
  /** Pad to this length (longer rows are an error); default: the longest row of the batch. */
  length?: number;
}

export interface CollateOptions {
  pad?: Record<string, PadSpec>;
}

export type CollatedValue = Tensor | unknown[];
export type Collated = Record<string, CollatedValue>;

const ARRAY_DTYPE = new Map<unknown, DType>([
  [Float32Array, 'float32'],
  [Float64Array, 'float64'],
  [BigInt64Array, 'int64'],
  [Int32Array, 'int32'],
  [Int8Array, 'int8'],
  [Uint8Array, 'uint8'],
]);

/** Duck-typed tensor (e.g. a CHW image from another module): typed `data` and a `shape`. */
interface TensorLike {
  data: TypedArray;
  shape: readonly number[];
  dtype?: DType;
}

function isTensorLike(v: unknown): v is TensorLike {
  return (
    typeof v === 'object' &&
    v !== null &&
    ArrayBuffer.isView((v as TensorLike).data) &&
    Array.isArray((v as TensorLike).shape)
  );
}

function dtypeOfArray(a: unknown): DType | undefined {
  if (Buffer.isBuffer(a)) return undefined; // raw bytes (encoded images) are not tensors
  return ARRAY_DTYPE.get((a as object)?.constructor);
}

/**
 * Collates samples (records with the same keys) into a batch, like unilm's
 * `merge_batch_tensors_by_dict_key`: tensors (and CHW image tensors) are stacked on a new
 * leading axis; integers and integer lists become int64 tensors, other numbers float32,
 * booleans bool; anything else (strings, raw bytes, objects) stays a plain array.
 * Fields named in `pad` may have different lengths: they are padded and get a padding mask.
 */
export function collate(samples: readonly Record<string, unknown>[], options: CollateOptions = {}): Collated {
  if (samples.length === 0) throw new DataError('collate: empty batch');
  const keys = Object.keys(samples[0]);
  samples.forEach((s, i) => {
    const ks = Object.keys(s);
    if (ks.length !== keys.length || ks.some((k) => !(k in samples[0])))
      throw new DataError(`collate: sample ${i} has fields [${ks.join(', ')}], sample 0 has [${keys.join(', ')}]`);
  });
  const out: Collated = {};
  for (const key of keys) {
    const values = samples.map((s) => s[key]);
    const pad = options.pad?.[key];
    if (pad) {
      const { tokens, mask } = padRows(key, values, pad);
      out[key] = tokens;
      if (pad.mask) out[pad.mask] = mask;
    } else out[key] = collateField(key, values);
  }
  return out;
}

function collateField(key: string, values: unknown[]): CollatedValue {
  const first = values[0];
  if (first instanceof Tensor || isTensorLike(first)) return stackTensors(key, values);
  const arrDtype = dtypeOfArray(first);
  if (arrDtype) {
    return stackTensors(
      key,
      values.map((v, i) => {
        if (dtypeOfArray(v) !== arrDtype) throw new DataError(`collate: field "${key}" sample ${i}: expected ${first?.constructor.name}`);
        return { data: v as TypedArray, shape: [(v as TypedArray).length], dtype: arrDtype };
      }),
    );
  }
  if (typeof first === 'number') {
    if (!values.every((v) => typeof v === 'number')) throw new DataError(`collate: field "${key}" mixes numbers and other values`);
    const nums = values as number[];
    return nums.every(Number.isInteger) ? Tensor.i64([nums.length], nums) : Tensor.f32([nums.length], nums);
  }
  if (typeof first === 'boolean') {
    if (!values.every((v) => typeof v === 'boolean')) throw new DataError(`collate: field "${key}" mixes booleans and other values`);
    return new Tensor('bool', [values.length], Uint8Array.from(values as boolean[], Number));
  }
  if (Array.isArray(first) && isNumericNested(first)) return stackNested(key, values);
  return values;
}

function isNumericNested(a: unknown): boolean {
  let v: unknown = a;
  while (Array.isArray(v)) {
    if (v.length === 0) return true;
    v = v[0];
  }
  return typeof v === 'number';
}

function nestedShape(a: unknown): number[] {
  const shape: number[] = [];
  let v: unknown = a;
  while (Array.isArray(v)) {
    shape.push(v.length);
    v = v[0];
  }
  return shape;
}

function stackNested(key: string, values: unknown[]): Tensor {
  const shape = nestedShape(values[0]);
  const flat: number[] = [];
  values.forEach((v, i) => {
    const s = nestedShape(v);
    if (s.join() !== shape.join())
      throw new DataError(`collate: field "${key}" sample ${i} has shape [${s}], sample 0 has [${shape}] (declare it in pad to pad token lists)`);
    const f = (v as unknown[]).flat(Infinity) as unknown[];
    if (f.length !== shape.reduce((a, b) => a * b, 1) || f.some((x) => typeof x !== 'number'))
      throw new DataError(`collate: field "${key}" sample ${i} is a ragged or non-numeric array`);
    for (const x of f) flat.push(x as number);
  });
  const full = [values.length, ...shape];
  return flat.every(Number.isInteger) ? Tensor.i64(full, flat) : Tensor.f32(full, flat);
}

function stackTensors(key: string, values: unknown[]): Tensor {
  const first = values[0] as TensorLike;
  const dtype = first.dtype ?? dtypeOfArray(first.data);
  if (!dtype) throw new DataError(`collate: field "${key}": unsupported array type ${first.data.constructor.name}`);
  const n = first.data.length;
  const out = Tensor.zeros(dtype, [values.length, ...first.shape]);
  values.forEach((v, i) => {
    if (!(v instanceof Tensor) && !isTensorLike(v)) throw new DataError(`collate: field "${key}" sample ${i} is not a tensor`);
    const t = v as TensorLike;
    if ((t.dtype ?? dtypeOfArray(t.data)) !== dtype || t.shape.join() !== first.shape.join())
      throw new DataError(
        `collate: field "${key}" sample ${i} is ${t.dtype ?? t.data.constructor.name}[${t.shape}], sample 0 is ${dtype}[${first.shape}]`,
      );
    if (t.data.length !== n) throw new DataError(`collate: field "${key}" sample ${i}: data length ${t.data.length} does not match shape [${t.shape}]`);
    (out.data as { set(a: ArrayLike<number | bigint>, o: number): void }).set(t.data as ArrayLike<number | bigint>, i * n);
  });
  return out;
}

function padRows(key: string, values: unknown[], pad: PadSpec): { tokens: Tensor; mask: Tensor } {
  const rows = values.map((v, i) => {
    const row = v instanceof Int32Array || v instanceof BigInt64Array ? Array.from(v as ArrayLike<number | bigint>, Number) : v;
    if (!Array.isArray(row) || !row.every((x) => typeof x === 'number' && Number.isInteger(x)))
      throw new DataError(`collate: field "${key}" sample ${i}: expected a list of integer ids`);
    return row as number[];
  });
  const longest = Math.max(...rows.map((r) => r.length));
  const length = pad.length ?? longest;
  if (longest > length) throw new DataError(`collate: field "${key}": a row has ${longest} ids, more than the pad length ${length}`);
  const tokens = new BigInt64Array(rows.length * length).fill(BigInt(pad.value));
  const mask = new BigInt64Array(rows.length * length).fill(1n);
  rows.forEach((r, i) => {
    for (let j = 0; j < r.length; j++) {
      tokens[i * length + j] = BigInt(r[j]);
      mask[i * length + j] = 0n;
    }
  });
  return { tokens: new Tensor('int64', [rows.length, length], tokens), mask: new Tensor('int64', [rows.length, length], mask) };
}
