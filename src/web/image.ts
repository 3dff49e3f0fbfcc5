// Image preprocessing in the browser: decoded pixels (ImageData or any RGBA/RGB buffer) go through
// the same platform-free official eval transforms as Node (src/vision/transforms.ts: PIL bicubic
// resize, center crop, ToTensor + Normalize), so the tensors are bit-identical for equal pixels.
import type { Tensor } from '../graph/tensor.js';
import type { RgbImage } from '../vision/image.js';
import { imagenetEvalTransform, stackImages, vlEvalTransform } from '../vision/transforms.js';
import { WebError } from './errors.js';

/** Pixels as ImageData holds them (RGBA) or packed RGB. */
export interface Pixels {
  width: number;
  height: number;
  data: Uint8ClampedArray | Uint8Array;
}

/** Drops alpha as PIL `convert('RGB')` does (colour values kept, not composited). */
export function toRgb(p: Pixels): RgbImage {
  const { width, height, data } = p;
  const n = width * height;
  if (!Number.isInteger(width) || !Number.isInteger(height) || n <= 0)
    throw new WebError(`image size must be positive integers, got ${width}x${height}`);
  if (data.length === n * 3)
    return { width, height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
  if (data.length !== n * 4)
    throw new WebError(
      `image ${width}x${height} needs ${n * 3} (RGB) or ${n * 4} (RGBA) bytes, got ${data.length}`,
    );
  const out = new Uint8Array(n * 3);
  for (let i = 0, j = 0; i < n * 4; i += 4, j += 3) {
    out[j] = data[i];
    out[j + 1] = data[i + 1];
    out[j + 2] = data[i + 2];
  }
  return { width, height, data: out };
}

export interface ImageSettings {
  size: number;
  transform: 'vl' | 'imagenet';
  crop_pct?: number;
}

/** One image → (3, size, size) float32, by the task's official eval transform. */
export function preprocessPixels(p: Pixels, s: ImageSettings): Tensor {
  const rgb = toRgb(p);
  if (s.transform === 'imagenet') return imagenetEvalTransform(rgb, s.size, s.crop_pct ?? 1);
  if (s.transform === 'vl') return vlEvalTransform(rgb, s.size);
  throw new WebError(`unknown image transform '${s.transform as string}'`);
}

/** A batch (N, 3, size, size). */
export function preprocessBatch(images: readonly Pixels[], s: ImageSettings): Tensor {
  if (!images.length) throw new WebError('no images given');
  return stackImages(images.map((p) => preprocessPixels(p, s)));
}

/**
 * Decodes an encoded image (Blob / bytes) to RGBA pixels in a window or worker. Colour-space
 * conversion and alpha premultiplication are off: the pixels are the file's, as PIL reads them
 * (a canvas stores premultiplied colour, so fully transparent pixels may read back as 0).
 */
export async function decodeImage(src: Blob | Uint8Array): Promise<Pixels> {
  const blob = src instanceof Blob ? src : new Blob([src as BlobPart]);
  let bmp: ImageBitmap;
  try {
    bmp = await createImageBitmap(blob, { premultiplyAlpha: 'none', colorSpaceConversion: 'none' });
  } catch (e) {
    throw new WebError(`cannot decode the image: ${(e as Error).message}`, { cause: e });
  }
  const canvas = new OffscreenCanvas(bmp.width, bmp.height);
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  if (!ctx) throw new WebError('no 2d canvas context');
  ctx.drawImage(bmp, 0, 0);
  bmp.close();
  return ctx.getImageData(0, 0, canvas.width, canvas.height);
}
