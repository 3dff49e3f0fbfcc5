import { Beit3Error } from '../util/errors.js';
/** An 8-bit RGB image, row-major HWC: `data[(y * width + x) * 3 + c]`. */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

export class ImageShapeError extends Beit3Error {
  override name = 'ImageShapeError';
}

/** Checks that `img.data` holds exactly width*height*3 bytes; returns the image for chaining. */
export function checkRgb(img: RgbImage, what = 'image'): RgbImage {
  const { width, height, data } = img;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0)
    throw new ImageShapeError(`${what}: size must be positive integers, got ${width}x${height}`);
  if (data.length !== width * height * 3)
    throw new ImageShapeError(`${what}: ${width}x${height}x3 needs ${width * height * 3} bytes, data has ${data.length}`);
  return img;
}

/** PIL `Image.crop((left, top, left + w, top + h))` for boxes inside the image. */
export function cropImage(img: RgbImage, left: number, top: number, w: number, h: number): RgbImage {
  if (left < 0 || top < 0 || w <= 0 || h <= 0 || left + w > img.width || top + h > img.height)
    throw new ImageShapeError(
      `crop box (left ${left}, top ${top}, ${w}x${h}) does not fit in a ${img.width}x${img.height} image`,
    );
  const out = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    const src = ((top + y) * img.width + left) * 3;
    out.set(img.data.subarray(src, src + w * 3), y * w * 3);
  }
  return { width: w, height: h, data: out };
}

/** Mirror left-right (PIL `FLIP_LEFT_RIGHT`, torchvision `hflip`). */
export function flipHorizontal(img: RgbImage): RgbImage {
  const { width, height, data } = img;
  const out = new Uint8Array(data.length);
  for (let y = 0; y < height; y++) {
    const row = y * width * 3;
    for (let x = 0; x < width; x++) {
      const s = row + x * 3;
      const d = row + (width - 1 - x) * 3;
      out[d] = data[s];
      out[d + 1] = data[s + 1];
      out[d + 2] = data[s + 2];
    }
  }
  return { width, height, data: out };
}
