import { Tensor } from '../graph/tensor.js';
import { checkRgb, cropImage, ImageShapeError, type RgbImage } from './image.js';
import { resize, type ResampleFilter } from './resize.js';

/** Per-channel normalization constants, as torchvision `Normalize(mean, std)`. */
export interface Normalization {
  mean: readonly [number, number, number];
  std: readonly [number, number, number];
}

/** timm IMAGENET_INCEPTION_MEAN/STD: what every BEiT-3 vision-language task uses (maps to [-1, 1]). */
export const INCEPTION_NORM: Normalization = { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] };
/** timm IMAGENET_DEFAULT_MEAN/STD: BEiT-3 image classification. */
export const IMAGENET_NORM: Normalization = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };

/** The official eval transforms: 'vl' (VQA, NLVR2, retrieval, captioning) and 'imagenet' (classification). */
export type EvalTransformName = 'vl' | 'imagenet';

/**
 * torchvision `ToTensor()` + `Normalize(mean, std)` in float32, bit-exact: x = float32(v) / 255,
 * then `(x - mean) / std` with float32 mean/std, each step rounded to float32.
 * Returns a (3, H, W) float32 tensor.
 */
export function toNormalizedTensor(img: RgbImage, norm: Normalization = INCEPTION_NORM): Tensor {
  checkRgb(img);
  const { width, height, data } = img;
  const plane = width * height;
  const out = new Float32Array(3 * plane);
  // 256-entry table per channel: the float32 arithmetic is done once per gray level.
  const tables = [0, 1, 2].map((c) => {
    const mean = Math.fround(norm.mean[c]);
    const std = Math.fround(norm.std[c]);
    const t = new Float32Array(256);
    for (let v = 0; v < 256; v++) t[v] = Math.fround(Math.fround(Math.fround(v / 255) - mean) / std);
    return t;
  });
  const [t0, t1, t2] = tables;
  for (let i = 0, p = 0; i < plane; i++, p += 3) {
    out[i] = t0[data[p]];
    out[plane + i] = t1[data[p + 1]];
    out[2 * plane + i] = t2[data[p + 2]];
  }
  return new Tensor('float32', [3, height, width], out);
}

/** Python's round(): half to even. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * torchvision `Resize(size: int)` on a PIL image: the shorter side becomes `size`, the longer one
 * `int(size * long / short)` (truncated); nothing happens when the shorter side already matches.
 */
export function resizeShorterSide(img: RgbImage, size: number, filter: ResampleFilter = 'bicubic'): RgbImage {
  const { width: w, height: h } = img;
  const [short, long] = w <= h ? [w, h] : [h, w];
  if (short === size) return img;
  const newLong = Math.trunc((size * long) / short);
  return w <= h ? resize(img, size, newLong, { filter }) : resize(img, newLong, size, { filter });
}

/** torchvision `CenterCrop(size)` (offsets rounded half to even); the image must be at least size×size. */
export function centerCrop(img: RgbImage, width: number, height: number = width): RgbImage {
  if (width > img.width || height > img.height)
    throw new ImageShapeError(`centerCrop: ${width}x${height} crop is larger than the ${img.width}x${img.height} image`);
  const top = roundHalfEven((img.height - height) / 2);
  const left = roundHalfEven((img.width - width) / 2);
  return cropImage(img, left, top, width, height);
}

/** The 8-bit image the 'vl' eval transform feeds to ToTensor: square bicubic resize, aspect ignored. */
export function vlResize(img: RgbImage, size: number): RgbImage {
  return resize(img, size, size, { filter: 'bicubic' });
}

/**
 * The 8-bit image the 'imagenet' eval transform feeds to ToTensor: Resize(int(size / cropPct)) then
 * CenterCrop(size); at size ≤ 32 the official transform does neither (CIFAR-style path).
 */
export function imagenetResizeCrop(img: RgbImage, size: number, cropPct = 1): RgbImage {
  if (size <= 32) return img;
  const resized = resizeShorterSide(img, Math.trunc(size / cropPct), 'bicubic');
  return centerCrop(resized, size);
}

/** unilm `build_transform(is_train=False)` for VL tasks: (3, size, size) float32 in [-1, 1]. */
export function vlEvalTransform(img: RgbImage, size: number): Tensor {
  return toNormalizedTensor(vlResize(img, size), INCEPTION_NORM);
}

/** unilm `build_imagenet_transform(is_train=False)`: (3, size, size) float32, ImageNet mean/std. */
export function imagenetEvalTransform(img: RgbImage, size: number, cropPct = 1): Tensor {
  return toNormalizedTensor(imagenetResizeCrop(img, size, cropPct), IMAGENET_NORM);
}

export function evalTransform(name: EvalTransformName, img: RgbImage, size: number): Tensor {
  switch (name) {
    case 'vl':
      return vlEvalTransform(img, size);
    case 'imagenet':
      return imagenetEvalTransform(img, size);
    default:
      throw new ImageShapeError(`unknown eval transform '${name as string}' (expected 'vl' or 'imagenet')`);
  }
}

/** Stacks (3, H, W) float32 tensors into one (N, 3, H, W) batch. */
export function stackImages(images: readonly Tensor[]): Tensor {
  if (images.length === 0) throw new ImageShapeError('stackImages: empty batch');
  const shape = images[0].shape;
  if (shape.length !== 3) throw new ImageShapeError(`stackImages: expected (C, H, W) tensors, got shape [${shape.join(', ')}]`);
  const n = images[0].data.length;
  const out = new Float32Array(n * images.length);
  images.forEach((t, i) => {
    if (t.dtype !== 'float32' || t.shape.join() !== shape.join())
      throw new ImageShapeError(
        `stackImages: item ${i} is ${t.dtype} [${t.shape.join(', ')}], expected float32 [${shape.join(', ')}]`,
      );
    out.set(t.data as Float32Array, i * n);
  });
  return new Tensor('float32', [images.length, ...shape], out);
}
