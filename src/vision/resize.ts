import { checkRgb, ImageShapeError, type RgbImage } from './image.js';

/**
 * PIL-exact resampling (`Image.resize` on 8-bit images, Pillow's ImagingResample).
 *
 * Hand-written because no image library in npm reproduces Pillow bit for bit: libvips (sharp)
 * uses different kernels/rounding and lands up to ~70 gray levels away on upscales. The official
 * BEiT-3 preprocessing runs through Pillow, so the numbers here follow its algorithm:
 *  - separable convolution, horizontal pass first, then vertical;
 *  - on downscale the kernel is stretched by the scale factor (antialiasing);
 *  - weights are normalised per output pixel, then converted to 22-bit fixed point;
 *  - each pass rounds (adds half) and clips to 0..255 before the next pass.
 */

export type ResampleFilter = 'bicubic' | 'bilinear' | 'box' | 'hamming' | 'lanczos';

interface Filter {
  support: number;
  weight(x: number): number;
}

function sinc(x: number): number {
  if (x === 0) return 1;
  x *= Math.PI;
  return Math.sin(x) / x;
}

const FILTERS: Record<ResampleFilter, Filter> = {
  box: { support: 0.5, weight: (x) => (x > -0.5 && x <= 0.5 ? 1 : 0) },
  bilinear: {
    support: 1,
    weight: (x) => {
      x = Math.abs(x);
      return x < 1 ? 1 - x : 0;
    },
  },
  hamming: {
    support: 1,
    weight: (x) => {
      x = Math.abs(x);
      if (x === 0) return 1;
      if (x >= 1) return 0;
      x *= Math.PI;
      // Pillow writes the constants as C floats (0.54f, 0.46f)
      return (Math.sin(x) / x) * (Math.fround(0.54) + Math.fround(0.46) * Math.cos(x));
    },
  },
  // Keys' cubic convolution with a = -0.5 (Pillow's BICUBIC)
  bicubic: {
    support: 2,
    weight: (x) => {
      const a = -0.5;
      x = Math.abs(x);
      if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
      if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
      return 0;
    },
  },
  lanczos: { support: 3, weight: (x) => (x >= -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0) },
};

/** 32 bits minus 8 for the result minus 2 for overshoot (negative lobes, sums above 1). */
const PRECISION_BITS = 22;
const HALF = 1 << (PRECISION_BITS - 1);
const ONE = 1 << PRECISION_BITS;

/** Per output pixel: first source index, tap count, and `ksize` fixed-point weights. */
interface Coefficients {
  ksize: number;
  start: Int32Array;
  count: Int32Array;
  weights: Int32Array;
}

/** Weights for mapping source range [in0, in1) of an axis of length inSize onto outSize pixels. */
function coefficients(inSize: number, in0: number, in1: number, outSize: number, filter: Filter): Coefficients {
  // Pillow passes the box as C floats and subtracts them in float before widening to double.
  const scale = Math.fround(Math.fround(in1) - Math.fround(in0)) / outSize;
  const filterScale = scale < 1 ? 1 : scale;
  const support = filter.support * filterScale;
  const ksize = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Int32Array(outSize * ksize);
  const pre = new Float64Array(ksize);
  const ss = 1 / filterScale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = Math.fround(in0) + (xx + 0.5) * scale;
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let total = 0;
    for (let x = 0; x < xmax; x++) {
      const w = filter.weight((x + xmin - center + 0.5) * ss);
      pre[x] = w;
      total += w;
    }
    for (let x = 0; x < xmax; x++) {
      const w = total !== 0 ? pre[x] / total : pre[x];
      // round half away from zero into fixed point, as Pillow's normalize_coeffs_8bpc
      weights[xx * ksize + x] = w < 0 ? Math.trunc(-0.5 + w * ONE) : Math.trunc(0.5 + w * ONE);
    }
    start[xx] = xmin;
    count[xx] = xmax;
  }
  return { ksize, start, count, weights };
}

function clip8(acc: number): number {
  const v = acc >> PRECISION_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/** Horizontal pass over rows [rowFirst, rowFirst + rows) of `src` (width srcW). */
function horizontalPass(src: Uint8Array, srcW: number, rowFirst: number, rows: number, c: Coefficients, outW: number): Uint8Array {
  const out = new Uint8Array(outW * rows * 3);
  const { ksize, start, count, weights } = c;
  for (let y = 0; y < rows; y++) {
    const rowIn = (y + rowFirst) * srcW * 3;
    const rowOut = y * outW * 3;
    for (let xx = 0; xx < outW; xx++) {
      const k0 = xx * ksize;
      const n = count[xx];
      let p = rowIn + start[xx] * 3;
      let s0 = HALF;
      let s1 = HALF;
      let s2 = HALF;
      for (let x = 0; x < n; x++, p += 3) {
        // int32 arithmetic like Pillow's C (sums stay far below 2^31: weights sum to ~2^22)
        const k = weights[k0 + x];
        s0 = (s0 + src[p] * k) | 0;
        s1 = (s1 + src[p + 1] * k) | 0;
        s2 = (s2 + src[p + 2] * k) | 0;
      }
      const o = rowOut + xx * 3;
      out[o] = clip8(s0);
      out[o + 1] = clip8(s1);
      out[o + 2] = clip8(s2);
    }
  }
  return out;
}

/** Vertical pass; `rowShift` is subtracted from the coefficient start rows (rows skipped by the horizontal pass). */
function verticalPass(src: Uint8Array, w: number, c: Coefficients, rowShift: number, outH: number): Uint8Array {
  const out = new Uint8Array(w * outH * 3);
  const { ksize, start, count, weights } = c;
  const stride = w * 3;
  // row-at-a-time accumulation: sequential memory access instead of striding down columns
  const acc = new Int32Array(stride);
  for (let yy = 0; yy < outH; yy++) {
    const k0 = yy * ksize;
    const n = count[yy];
    const first = start[yy] - rowShift;
    acc.fill(HALF);
    for (let y = 0; y < n; y++) {
      const k = weights[k0 + y];
      const base = (first + y) * stride;
      for (let i = 0; i < stride; i++) acc[i] = (acc[i] + src[base + i] * k) | 0;
    }
    const rowOut = yy * stride;
    for (let i = 0; i < stride; i++) out[rowOut + i] = clip8(acc[i]);
  }
  return out;
}

export interface ResizeOptions {
  /** Resampling filter (Pillow's names); default 'bicubic' (the BEiT-3 eval transform). */
  filter?: ResampleFilter;
  /** Source region [x0, y0, x1, y1] in (fractional) pixels, as Pillow's `box`; default the whole image. */
  box?: readonly [number, number, number, number];
}

/**
 * Largest output (and intermediate) of one resize, in pixels: 2^24 (a 4096x4096 image, 48 MiB of
 * RGB). The decoder's pixel limit bounds the input only; an absurd shape such as 10,000,000x1
 * resized to a shorter side of 224 would ask for 2.24e9x224 pixels (found by fuzz/image).
 */
export const MAX_RESIZE_PIXELS = 2 ** 24;

/** Pillow `img.resize((width, height), filter, box)` for an 8-bit RGB image, bit-exact. */
export function resize(img: RgbImage, width: number, height: number, opts: ResizeOptions = {}): RgbImage {
  checkRgb(img, 'resize input');
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0)
    throw new ImageShapeError(`resize: target size must be positive integers, got ${width}x${height}`);
  // the horizontal pass writes width x (source rows), the vertical one width x height
  if (width * Math.max(height, img.height) > MAX_RESIZE_PIXELS)
    throw new ImageShapeError(
      `resize: ${img.width}x${img.height} to ${width}x${height} needs more than ${MAX_RESIZE_PIXELS} pixels (limit); is the image's shape absurd?`,
    );
  const filter = FILTERS[opts.filter ?? 'bicubic'];
  if (!filter) throw new ImageShapeError(`resize: unknown filter '${opts.filter}' (expected one of ${Object.keys(FILTERS).join(', ')})`);
  const box = opts.box ?? [0, 0, img.width, img.height];
  const [x0, y0, x1, y1] = box;
  if (!(x0 >= 0 && y0 >= 0 && x1 <= img.width && y1 <= img.height && x1 - x0 > 0 && y1 - y0 > 0))
    throw new ImageShapeError(`resize: box [${box.join(', ')}] is not inside the ${img.width}x${img.height} image`);
  const needH = width !== img.width || x0 !== 0 || x1 !== width;
  const needV = height !== img.height || y0 !== 0 || y1 !== height;
  if (!needH && !needV) return { width, height, data: img.data.slice() };

  const vert = coefficients(img.height, y0, y1, height, filter);
  // Only the source rows the vertical pass reads need the horizontal pass (as Pillow does).
  const rowFirst = vert.start[0];
  const rowLast = vert.start[height - 1] + vert.count[height - 1];
  let data = img.data;
  let w = img.width;
  let shift = 0;
  if (needH) {
    const horiz = coefficients(img.width, x0, x1, width, filter);
    data = horizontalPass(img.data, img.width, rowFirst, rowLast - rowFirst, horiz, width);
    w = width;
    shift = rowFirst;
  }
  if (needV) data = verticalPass(data, w, vert, shift, height);
  else if (data === img.data) data = data.slice();
  return { width: w, height: needV ? height : img.height, data };
}
