import type { Tensor } from '../graph/tensor.js';
import { checkRgb, cropImage, flipHorizontal, ImageShapeError, type RgbImage } from './image.js';
import { Rng, toRng } from '../util/random.js';
import { resize, type ResampleFilter } from './resize.js';
import { IMAGENET_NORM, INCEPTION_NORM, toNormalizedTensor } from './transforms.js';

/**
 * Training augmentations as the official BEiT-3 fine-tuning uses them:
 *  - timm `RandomResizedCropAndInterpolation` + torchvision `RandomHorizontalFlip`;
 *  - unilm `beit3/randaug.py` `RandomAugment(N, M, augs)` and its image ops.
 * The ops follow randaug.py's formulas (lookup tables; affine warps re-done with OpenCV's
 * fixed-point bilinear scheme and a gray fill); the random numbers come from our seeded Rng, so
 * results are reproducible but are not the same draws as numpy's.
 */

// ---------------------------------------------------------------------------------------------
// Random resized crop

export interface RandomResizedCropOptions {
  /** Area fraction range; BEiT-3 VL tasks use [0.5, 1], ImageNet (timm default) [0.08, 1]. */
  scale?: [number, number];
  /** Aspect ratio (w/h) range, drawn log-uniformly; default [3/4, 4/3]. */
  ratio?: [number, number];
  /** Interpolation of the final resize; BEiT-3's `train_interpolation` default is bicubic. */
  filter?: ResampleFilter;
}

/** The crop box of timm's `RandomResizedCropAndInterpolation.get_params`: 10 tries, then a central fallback. */
export function randomResizedCropBox(
  width: number,
  height: number,
  scale: [number, number],
  ratio: [number, number],
  rng: Rng,
): { top: number; left: number; h: number; w: number } {
  const area = width * height;
  const logRatio: [number, number] = [Math.log(ratio[0]), Math.log(ratio[1])];
  for (let attempt = 0; attempt < 10; attempt++) {
    const targetArea = rng.uniform(scale[0], scale[1]) * area;
    const aspect = Math.exp(rng.uniform(logRatio[0], logRatio[1]));
    const w = pyRound(Math.sqrt(targetArea * aspect));
    const h = pyRound(Math.sqrt(targetArea / aspect));
    if (w <= width && h <= height && w > 0 && h > 0) {
      const top = rng.randint(0, height - h);
      const left = rng.randint(0, width - w);
      return { top, left, h, w };
    }
  }
  const inRatio = width / height;
  const lo = Math.min(...ratio);
  const hi = Math.max(...ratio);
  let w = width;
  let h = height;
  if (inRatio < lo) h = pyRound(w / lo);
  else if (inRatio > hi) w = pyRound(h * hi);
  return { top: Math.floor((height - h) / 2), left: Math.floor((width - w) / 2), h, w };
}

/** Crop a random box (area/aspect per options) and resize it to size×size. */
export function randomResizedCrop(img: RgbImage, size: number, opts: RandomResizedCropOptions, rng: Rng): RgbImage {
  checkRgb(img);
  const box = randomResizedCropBox(img.width, img.height, opts.scale ?? [0.08, 1], opts.ratio ?? [3 / 4, 4 / 3], rng);
  const crop = cropImage(img, box.left, box.top, box.w, box.h);
  return resize(crop, size, size, { filter: opts.filter ?? 'bicubic' });
}

/** torchvision `RandomHorizontalFlip(p)`. */
export function randomHorizontalFlip(img: RgbImage, rng: Rng, p = 0.5): RgbImage {
  return rng.next() < p ? flipHorizontal(img) : img;
}

function pyRound(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

// ---------------------------------------------------------------------------------------------
// randaug.py image ops (uint8 RGB in, uint8 RGB out)

function mapTable(img: RgbImage, tables: readonly Uint8Array[]): RgbImage {
  const out = new Uint8Array(img.data.length);
  for (let i = 0; i < out.length; i++) out[i] = tables[i % 3][img.data[i]];
  return { width: img.width, height: img.height, data: out };
}

/** numpy `float.astype(np.uint8)` on x86: truncate toward zero, then keep the low 8 bits (wraps). */
function wrapToU8(v: number): number {
  return Math.trunc(v) & 255;
}

function channelHistograms(img: RgbImage): Float64Array[] {
  const h = [new Float64Array(256), new Float64Array(256), new Float64Array(256)];
  for (let i = 0; i < img.data.length; i++) h[i % 3][img.data[i]]++;
  return h;
}

export const ops = {
  identity(img: RgbImage): RgbImage {
    return img;
  },

  /** PIL ImageOps.autocontrast with cutoff 0: stretch each channel's [min, max] to [0, 255]. */
  autoContrast(img: RgbImage): RgbImage {
    const tables = channelHistograms(img).map((hist) => {
      let low = 0;
      while (low < 255 && hist[low] === 0) low++;
      let high = 255;
      while (high > 0 && hist[high] === 0) high--;
      const t = new Uint8Array(256);
      if (high <= low) for (let v = 0; v < 256; v++) t[v] = v;
      else {
        const scale = 255 / (high - low);
        const offset = -low * scale;
        for (let v = 0; v < 256; v++) t[v] = Math.trunc(Math.min(255, Math.max(0, v * scale + offset)));
      }
      return t;
    });
    return mapTable(img, tables);
  },

  /** PIL ImageOps.equalize (per channel), as randaug.py computes it. */
  equalize(img: RgbImage): RgbImage {
    const identity = Uint8Array.from({ length: 256 }, (_, v) => v);
    const tables = channelHistograms(img).map((hist) => {
      const nonZero: number[] = [];
      for (let v = 0; v < 256; v++) if (hist[v] !== 0) nonZero.push(hist[v]);
      let sum = 0;
      for (let i = 0; i < nonZero.length - 1; i++) sum += nonZero[i];
      const step = Math.floor(sum / 255);
      if (step === 0) return identity;
      const t = new Uint8Array(256);
      let acc = Math.floor(step / 2);
      for (let v = 0; v < 256; v++) {
        t[v] = Math.min(255, Math.floor(acc / step));
        acc += hist[v];
      }
      return t;
    });
    return mapTable(img, tables);
  },

  /** Values >= thresh are inverted. */
  solarize(img: RgbImage, thresh = 128): RgbImage {
    const t = Uint8Array.from({ length: 256 }, (_, v) => (v < thresh ? v : 255 - v));
    return mapTable(img, [t, t, t]);
  },

  /** Keep the top `bits` bits of every value. */
  posterize(img: RgbImage, bits: number): RgbImage {
    const m = (255 << (8 - bits)) & 255;
    const t = Uint8Array.from({ length: 256 }, (_, v) => v & m);
    return mapTable(img, [t, t, t]);
  },

  /** randaug.py color_func: blend with a gray image through one float32 3×3 matrix. */
  color(img: RgbImage, factor: number): RgbImage {
    const f = Math.fround(factor);
    const base = [
      [0.886, -0.114, -0.114],
      [-0.587, 0.413, -0.587],
      [-0.299, -0.299, 0.701],
    ];
    const gray = [0.114, 0.587, 0.299];
    const M = base.map((row, i) => row.map((v) => Math.fround(Math.fround(Math.fround(v) * f) + Math.fround(gray[i]))));
    const out = new Uint8Array(img.data.length);
    const d = img.data;
    for (let p = 0; p < d.length; p += 3) {
      for (let j = 0; j < 3; j++) {
        const v = Math.fround(Math.fround(Math.fround(d[p] * M[0][j]) + Math.fround(d[p + 1] * M[1][j])) + Math.fround(d[p + 2] * M[2][j]));
        out[p + j] = Math.trunc(Math.min(255, Math.max(0, v)));
      }
    }
    return { width: img.width, height: img.height, data: out };
  },

  /** randaug.py contrast_func: scale around the (weighted) mean gray level. */
  contrast(img: RgbImage, factor: number): RgbImage {
    const sums = [0, 0, 0];
    for (let i = 0; i < img.data.length; i++) sums[i % 3] += img.data[i];
    const n = img.width * img.height;
    const w = [0.114, 0.587, 0.299];
    const mean = (sums[0] / n) * w[0] + (sums[1] / n) * w[1] + (sums[2] / n) * w[2];
    const t = Uint8Array.from({ length: 256 }, (_, v) => Math.trunc(Math.min(255, Math.max(0, (v - mean) * factor + mean))));
    return mapTable(img, [t, t, t]);
  },

  /** randaug.py brightness_func: v * factor in float32, clipped. */
  brightness(img: RgbImage, factor: number): RgbImage {
    const f = Math.fround(factor);
    const t = Uint8Array.from({ length: 256 }, (_, v) => Math.trunc(Math.min(255, Math.max(0, Math.fround(v * f)))));
    return mapTable(img, [t, t, t]);
  },

  /** randaug.py sharpness_func: blend with a 3×3 smoothing ([1 1 1; 1 5 1; 1 1 1] / 13); borders untouched. */
  sharpness(img: RgbImage, factor: number): RgbImage {
    const { width: W, height: H, data } = img;
    const degenerate = smooth3x3(img);
    if (factor === 0) return degenerate;
    if (factor === 1 || W < 3 || H < 3) return { width: W, height: H, data: data.slice() };
    const out = data.slice();
    const f = Math.fround(factor);
    for (let y = 1; y < H - 1; y++)
      for (let x = 1; x < W - 1; x++)
        for (let c = 0; c < 3; c++) {
          const i = (y * W + x) * 3 + c;
          const d = degenerate.data[i];
          out[i] = wrapToU8(Math.fround(d + Math.fround(f * Math.fround(data[i] - d))));
        }
    return { width: W, height: H, data: out };
  },

  /** cv2.getRotationMatrix2D(center=(W/2, H/2), degrees, 1) + warpAffine; positive = counter-clockwise. */
  rotate(img: RgbImage, degrees: number, fill: Fill = [128, 128, 128]): RgbImage {
    const a = degrees * (Math.PI / 180); // as getRotationMatrix2D: angle *= CV_PI / 180
    const alpha = Math.cos(a);
    const beta = Math.sin(a);
    const cx = img.width / 2;
    const cy = img.height / 2;
    return warpAffine(img, [alpha, beta, (1 - alpha) * cx - beta * cy, -beta, alpha, beta * cx + (1 - alpha) * cy], fill);
  },

  /** Forward map (x, y) -> (x + factor·y, y). */
  shearX(img: RgbImage, factor: number, fill: Fill = [128, 128, 128]): RgbImage {
    return warpAffine(img, [1, Math.fround(factor), 0, 0, 1, 0], fill);
  },

  /** Forward map (x, y) -> (x, y + factor·x). */
  shearY(img: RgbImage, factor: number, fill: Fill = [128, 128, 128]): RgbImage {
    return warpAffine(img, [1, 0, 0, Math.fround(factor), 1, 0], fill);
  },

  /** Content moves left by `offset` pixels (randaug.py's sign convention). */
  translateX(img: RgbImage, offset: number, fill: Fill = [128, 128, 128]): RgbImage {
    return warpAffine(img, [1, 0, Math.fround(-offset), 0, 1, 0], fill);
  },

  /** Content moves up by `offset` pixels. */
  translateY(img: RgbImage, offset: number, fill: Fill = [128, 128, 128]): RgbImage {
    return warpAffine(img, [1, 0, 0, 0, 1, Math.fround(-offset)], fill);
  },
};

export type Fill = readonly [number, number, number];

/** 3×3 smoothing with OpenCV's default BORDER_REFLECT_101 and round-to-nearest-even output. */
function smooth3x3(img: RgbImage): RgbImage {
  const { width: W, height: H, data } = img;
  const out = new Uint8Array(data.length);
  const reflect = (i: number, n: number) => (n === 1 ? 0 : i < 0 ? -i : i >= n ? 2 * n - 2 - i : i);
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++)
      for (let c = 0; c < 3; c++) {
        let s = 0;
        for (let dy = -1; dy <= 1; dy++)
          for (let dx = -1; dx <= 1; dx++) {
            const v = data[(reflect(y + dy, H) * W + reflect(x + dx, W)) * 3 + c];
            s += dx === 0 && dy === 0 ? 5 * v : v;
          }
        const v = s / 13;
        const r = Math.round(v);
        out[(y * W + x) * 3 + c] = Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
      }
  return { width: W, height: H, data: out };
}

/** OpenCV's cvRound / saturate_cast<int>(double): round half to even. */
function cvRound(v: number): number {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * cv2.warpAffine(img, M, (W, H), INTER_LINEAR, BORDER_CONSTANT, fill) with M the forward 2×3 map
 * [a b c; d e f]: dst(x, y) = src(M⁻¹(x, y)). Follows OpenCV's fixed-point scheme: the inverse map
 * is evaluated in 1/1024 pixel units, reduced to a 1/32 grid, and the bilinear weights
 * (32 − fx)(32 − fy)·32… are 15-bit fixed point, rounded with +2^14 >> 15. Neighbours outside the
 * image take the fill value.
 */
export function warpAffine(img: RgbImage, m: readonly number[], fill: Fill): RgbImage {
  // cv::warpAffine inverts the matrix the same way (double precision)
  let det = m[0] * m[4] - m[1] * m[3];
  det = det !== 0 ? 1 / det : 0;
  const a11 = m[4] * det;
  const a22 = m[0] * det;
  const a12 = -m[1] * det;
  const a21 = -m[3] * det;
  const b1 = -a11 * m[2] - a12 * m[5];
  const b2 = -a21 * m[2] - a22 * m[5];
  const AB_SCALE = 1024;
  const ROUND_DELTA = 16; // AB_SCALE / INTER_TAB_SIZE / 2
  const { width: W, height: H, data } = img;
  const adelta = new Int32Array(W);
  const bdelta = new Int32Array(W);
  for (let x = 0; x < W; x++) {
    adelta[x] = cvRound(a11 * x * AB_SCALE);
    bdelta[x] = cvRound(a21 * x * AB_SCALE);
  }
  const out = new Uint8Array(data.length);
  const px = (x: number, y: number, ch: number) => (x >= 0 && y >= 0 && x < W && y < H ? data[(y * W + x) * 3 + ch] : fill[ch]);
  for (let y = 0; y < H; y++) {
    const x0 = cvRound((a12 * y + b1) * AB_SCALE) + ROUND_DELTA;
    const y0 = cvRound((a22 * y + b2) * AB_SCALE) + ROUND_DELTA;
    for (let x = 0; x < W; x++) {
      const X = (x0 + adelta[x]) >> 5;
      const Y = (y0 + bdelta[x]) >> 5;
      const sx = X >> 5;
      const sy = Y >> 5;
      const fx = X & 31;
      const fy = Y & 31;
      const w00 = (32 - fx) * (32 - fy) * 32;
      const w01 = fx * (32 - fy) * 32;
      const w10 = (32 - fx) * fy * 32;
      const w11 = fx * fy * 32;
      const o = (y * W + x) * 3;
      for (let ch = 0; ch < 3; ch++) {
        const v = px(sx, sy, ch) * w00 + px(sx + 1, sy, ch) * w01 + px(sx, sy + 1, ch) * w10 + px(sx + 1, sy + 1, ch) * w11;
        const r = (v + (1 << 14)) >> 15;
        out[o + ch] = r < 0 ? 0 : r > 255 ? 255 : r;
      }
    }
  }
  return { width: W, height: H, data: out };
}

// ---------------------------------------------------------------------------------------------
// RandomAugment (randaug.py)

export type AugName =
  | 'Identity'
  | 'AutoContrast'
  | 'Equalize'
  | 'Rotate'
  | 'Solarize'
  | 'Color'
  | 'Contrast'
  | 'Brightness'
  | 'Sharpness'
  | 'ShearX'
  | 'TranslateX'
  | 'TranslateY'
  | 'Posterize'
  | 'ShearY';

/** randaug.py's full op list (its default when `augs` is empty). */
export const ALL_AUGS: readonly AugName[] = [
  'Identity', 'AutoContrast', 'Equalize', 'Rotate', 'Solarize', 'Color', 'Contrast',
  'Brightness', 'Sharpness', 'ShearX', 'TranslateX', 'TranslateY', 'Posterize', 'ShearY',
];

/** The ops BEiT-3 VL fine-tuning passes (`datasets.build_transform(is_train=True)` with --randaug). */
export const BEIT3_AUGS: readonly AugName[] = [
  'Identity', 'AutoContrast', 'Equalize', 'Brightness', 'Sharpness',
  'ShearX', 'ShearY', 'TranslateX', 'TranslateY', 'Rotate',
];

const MAX_LEVEL = 10;
const TRANSLATE_CONST = 10;
const REPLACE: Fill = [128, 128, 128];

/** Applies one op at `level` (randaug.py's level_to_args; signs drawn from rng where the op has one). */
export function applyAug(img: RgbImage, name: AugName, level: number, rng: Rng): RgbImage {
  const enhance = (level / MAX_LEVEL) * 1.8 + 0.1;
  switch (name) {
    case 'Identity':
      return img;
    case 'AutoContrast':
      return ops.autoContrast(img);
    case 'Equalize':
      return ops.equalize(img);
    case 'Rotate': {
      const deg = (level / MAX_LEVEL) * 30;
      return ops.rotate(img, rng.next() < 0.5 ? -deg : deg, REPLACE);
    }
    case 'Solarize':
      return ops.solarize(img, Math.trunc((level / MAX_LEVEL) * 256));
    case 'Color':
      return ops.color(img, enhance);
    case 'Contrast':
      return ops.contrast(img, enhance);
    case 'Brightness':
      return ops.brightness(img, enhance);
    case 'Sharpness':
      return ops.sharpness(img, enhance);
    case 'ShearX':
    case 'ShearY': {
      const s = (level / MAX_LEVEL) * 0.3;
      const v = rng.next() > 0.5 ? -s : s;
      return name === 'ShearX' ? ops.shearX(img, v, REPLACE) : ops.shearY(img, v, REPLACE);
    }
    case 'TranslateX':
    case 'TranslateY': {
      const t = (level / MAX_LEVEL) * TRANSLATE_CONST;
      const v = rng.next() > 0.5 ? -t : t;
      return name === 'TranslateX' ? ops.translateX(img, v, REPLACE) : ops.translateY(img, v, REPLACE);
    }
    case 'Posterize':
      return ops.posterize(img, Math.trunc((level / MAX_LEVEL) * 4));
    default:
      throw new ImageShapeError(`unknown augmentation '${name as string}' (expected one of ${ALL_AUGS.join(', ')})`);
  }
}

/**
 * randaug.py `RandomAugment(N, M, augs)`: draw N ops with replacement, apply each with probability
 * 0.5 at level M. BEiT-3 VL fine-tuning uses N = 2, M = 7, augs = BEIT3_AUGS.
 */
export class RandomAugment {
  constructor(
    readonly n = 2,
    readonly m = 10,
    readonly augs: readonly AugName[] = ALL_AUGS,
  ) {
    for (const a of augs) if (!ALL_AUGS.includes(a)) throw new ImageShapeError(`RandomAugment: unknown op '${a}'`);
  }

  apply(img: RgbImage, seed: number | string | Rng): RgbImage {
    const rng = toRng(seed);
    const chosen = Array.from({ length: this.n }, () => rng.choice(this.augs));
    for (const name of chosen) {
      if (rng.next() > 0.5) continue;
      img = applyAug(img, name, this.m, rng);
    }
    return img;
  }
}

// ---------------------------------------------------------------------------------------------
// Whole training transforms

export interface TrainTransformOptions {
  /** Random horizontal flip. The official VL recipe flips for every task; turn it off for tasks whose text talks about left/right. */
  flip?: boolean;
  /** unilm RandomAugment(2, 7, BEIT3_AUGS) after crop and flip (the `--randaug` flag). */
  randaug?: boolean;
  filter?: ResampleFilter;
}

/** unilm `build_transform(is_train=True)` for VL tasks: RRC(scale 0.5–1), flip, optional RandAugment, ToTensor, Normalize(0.5). */
export function vlTrainTransform(img: RgbImage, size: number, seed: number | string | Rng, opts: TrainTransformOptions = {}): Tensor {
  const rng = toRng(seed);
  let x = randomResizedCrop(img, size, { scale: [0.5, 1], ratio: [3 / 4, 4 / 3], filter: opts.filter ?? 'bicubic' }, rng);
  if (opts.flip ?? true) x = randomHorizontalFlip(x, rng);
  if (opts.randaug) x = new RandomAugment(2, 7, BEIT3_AUGS).apply(x, rng);
  return toNormalizedTensor(x, INCEPTION_NORM);
}

/**
 * The crop/flip part of timm's ImageNet training transform (RRC scale 0.08–1, flip 0.5), ImageNet
 * mean/std; `randaug` applies randaug.py's RandomAugment(2, 9, ALL_AUGS) as a stand-in for timm's
 * rand-m9-mstd0.5 policy. timm's RandomErasing and mixup are not applied here.
 */
export function imagenetTrainTransform(img: RgbImage, size: number, seed: number | string | Rng, opts: TrainTransformOptions = {}): Tensor {
  const rng = toRng(seed);
  let x = randomResizedCrop(img, size, { scale: [0.08, 1], ratio: [3 / 4, 4 / 3], filter: opts.filter ?? 'bicubic' }, rng);
  if (opts.flip ?? true) x = randomHorizontalFlip(x, rng);
  if (opts.randaug) x = new RandomAugment(2, 9, ALL_AUGS).apply(x, rng);
  return toNormalizedTensor(x, IMAGENET_NORM);
}
