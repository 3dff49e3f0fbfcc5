import { Tensor } from '../graph/tensor.js';
import { toFloat32 } from './half.js';
import { Beit3Error } from '../util/errors.js';

/**
 * Resizing position tables (timm `resample_abs_pos_embed`): PyTorch's bicubic interpolation of a
 * square grid of vectors, plus the prefix rows kept as they are. Model-agnostic: which keys hold
 * such tables, and how many prefix rows they have, is each model's checkpoint contract
 * (models/beit3/pretrained.ts). Small tables, so plain TypeScript arithmetic.
 */

export class InterpolateError extends Beit3Error {
  override name = 'InterpolateError';
}

/** PyTorch's cubic convolution kernel weights for the 4 taps x0-1..x0+2 at fraction t (A = -0.75). */
function cubicWeights(t: number): [number, number, number, number] {
  const A = -0.75;
  const near = (x: number) => ((A + 2) * x - (A + 3)) * x * x + 1; // |x| <= 1
  const far = (x: number) => ((A * x - 5 * A) * x + 8 * A) * x - 4 * A; // 1 < |x| < 2
  return [far(t + 1), near(t), near(1 - t), far(2 - t)];
}

/** For each output index: the 4 clamped source indices and their weights (align_corners=False). */
function taps(inSize: number, outSize: number): { idx: Int32Array; w: Float64Array } {
  const idx = new Int32Array(outSize * 4);
  const w = new Float64Array(outSize * 4);
  const scale = inSize / outSize;
  for (let o = 0; o < outSize; o++) {
    const x = (o + 0.5) * scale - 0.5; // not clamped for bicubic
    const x0 = Math.floor(x);
    const ws = cubicWeights(x - x0);
    for (let k = 0; k < 4; k++) {
      idx[o * 4 + k] = Math.min(Math.max(x0 - 1 + k, 0), inSize - 1);
      w[o * 4 + k] = ws[k];
    }
  }
  return { idx, w };
}

/**
 * Bicubic resize of a (g·g, D) row-major grid of D-vectors to (n·n, D), exactly
 * `F.interpolate(x.reshape(1,g,g,D).permute(0,3,1,2), size=(n,n), mode='bicubic', align_corners=False)`
 * permuted back; evaluated in float64.
 */
export function bicubicResizeGrid(grid: Float32Array, g: number, n: number, D: number): Float32Array {
  const ty = taps(g, n);
  const tx = taps(g, n);
  // Separable: columns (x) first into an (g, n, D) buffer, then rows (y).
  const tmp = new Float64Array(g * n * D);
  for (let y = 0; y < g; y++)
    for (let ox = 0; ox < n; ox++) {
      const dst = (y * n + ox) * D;
      for (let k = 0; k < 4; k++) {
        const src = (y * g + tx.idx[ox * 4 + k]) * D;
        const wk = tx.w[ox * 4 + k];
        for (let d = 0; d < D; d++) tmp[dst + d] += wk * grid[src + d];
      }
    }
  const acc = new Float64Array(D);
  const out = new Float32Array(n * n * D);
  for (let oy = 0; oy < n; oy++)
    for (let ox = 0; ox < n; ox++) {
      acc.fill(0);
      for (let k = 0; k < 4; k++) {
        const src = (ty.idx[oy * 4 + k] * n + ox) * D;
        const wk = ty.w[oy * 4 + k];
        for (let d = 0; d < D; d++) acc[d] += wk * tmp[src + d];
      }
      out.set(acc, (oy * n + ox) * D);
    }
  return out;
}

/**
 * Resizes a position table (R, D) for a model with `numPatches` patches: rows [0, prefixRows)
 * are kept, rows [prefixRows, R) form a g×g grid (g = floor(sqrt(R − prefixRows))) resized
 * bicubically to n×n (n = floor(sqrt(numPatches))). Returned unchanged when g = n. Output is float32.
 */
export function resamplePositionTable(table: Tensor, prefixRows: number, numPatches: number): Tensor {
  if (table.shape.length !== 2)
    throw new InterpolateError(`position table must be (rows, dim), got [${table.shape}]`);
  const [R, D] = table.shape;
  if (R < prefixRows)
    throw new InterpolateError(`position table has ${R} rows, fewer than the ${prefixRows} extra rows`);
  const g = Math.floor(Math.sqrt(R - prefixRows));
  const n = Math.floor(Math.sqrt(numPatches));
  if (g === n) return table;
  if (g * g !== R - prefixRows)
    throw new InterpolateError(`position table has ${R - prefixRows} patch rows, which is not a square grid`);
  const src = toFloat32(table).data as Float32Array;
  const out = new Float32Array((prefixRows + n * n) * D);
  out.set(src.subarray(0, prefixRows * D));
  out.set(bicubicResizeGrid(src.subarray(prefixRows * D), g, n, D), prefixRows * D);
  return new Tensor('float32', [prefixRows + n * n, D], out);
}
