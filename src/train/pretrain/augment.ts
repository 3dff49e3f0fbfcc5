/**
 * The pretraining image view (BEiT / BEiT v2 `DataAugmentationForBEiT`): colour jitter 0.4
 * (brightness, contrast, saturation, in random order), horizontal flip, random resized crop
 * (scale 0.08–1, bicubic). The same crop goes to the model (normalised with mean = std = 0.5) and
 * to the visual tokenizer (as [0, 1] values; the tokenizer applies its own input scaling).
 * `fixedView` is the deterministic view visual targets are cached for (resize + centre crop).
 */
import { Tensor } from '../../graph/tensor.js';
import { randomHorizontalFlip, randomResizedCrop } from '../../vision/augment.js';
import type { RgbImage } from '../../vision/image.js';
import { Rng, toRng } from '../../util/random.js';
import { centerCrop, INCEPTION_NORM, resizeShorterSide } from '../../vision/transforms.js';

export interface PretrainViewOptions {
  /** ColorJitter strength for brightness, contrast and saturation (BEiT: 0.4; 0 = off). */
  colorJitter?: number;
  flip?: boolean;
  /** Random resized crop area range (BEiT: [0.08, 1]). */
  scale?: [number, number];
}

/** Both renderings of one view: CHW float32. */
export interface ImageView {
  /** Normalised with mean = std = 0.5 (the BEiT-3 backbone's input). */
  input: Tensor;
  /** [0, 1] (the visual tokenizer's input). */
  raw: Tensor;
}

const gray = (r: number, g: number, b: number) => 0.299 * r + 0.587 * g + 0.114 * b;
const clamp = (x: number) => (x < 0 ? 0 : x > 255 ? 255 : x);

/**
 * torchvision ColorJitter(b, c, s) on uint8 RGB: each factor uniform in [1 − x, 1 + x], the three
 * adjustments applied in a random order, each a blend with black (brightness), the mean gray
 * level (contrast) or the pixel's gray value (saturation), clamped to [0, 255]. Hand-written: a
 * few arithmetic loops; the vision module has only RandAugment's discrete enhance ops.
 */
export function colorJitter(img: RgbImage, strength: number, rng: Rng): RgbImage {
  if (strength <= 0) return img;
  const order = [0, 1, 2];
  for (let i = 2; i > 0; i--) {
    const j = rng.int(i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  const f = order.map(() => rng.uniform(Math.max(0, 1 - strength), 1 + strength));
  const x = Float32Array.from(img.data);
  const n = img.width * img.height;
  order.forEach((op, k) => {
    const a = f[k];
    if (op === 0) for (let i = 0; i < x.length; i++) x[i] = clamp(x[i] * a);
    else if (op === 1) {
      let mean = 0;
      for (let p = 0; p < n; p++) mean += gray(x[3 * p], x[3 * p + 1], x[3 * p + 2]);
      mean /= n;
      for (let i = 0; i < x.length; i++) x[i] = clamp(a * x[i] + (1 - a) * mean);
    } else
      for (let p = 0; p < n; p++) {
        const g = gray(x[3 * p], x[3 * p + 1], x[3 * p + 2]);
        for (let c = 0; c < 3; c++) x[3 * p + c] = clamp(a * x[3 * p + c] + (1 - a) * g);
      }
  });
  const out = new Uint8Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = Math.round(x[i]);
  return { width: img.width, height: img.height, data: out };
}

/** HWC uint8 → the two CHW float renderings. */
export function toViews(img: RgbImage): ImageView {
  const { width: W, height: H, data } = img;
  const input = new Float32Array(3 * H * W);
  const raw = new Float32Array(3 * H * W);
  const [m, s] = [INCEPTION_NORM.mean, INCEPTION_NORM.std];
  for (let p = 0; p < H * W; p++)
    for (let c = 0; c < 3; c++) {
      const v = data[3 * p + c] / 255;
      raw[c * H * W + p] = v;
      input[c * H * W + p] = (v - m[c]) / s[c];
    }
  return { input: new Tensor('float32', [3, H, W], input), raw: new Tensor('float32', [3, H, W], raw) };
}

/** One random pretraining view of `img` at `size`×`size` (deterministic in the seed). */
export function pretrainView(img: RgbImage, size: number, seed: number | string | Rng, opts: PretrainViewOptions = {}): ImageView {
  const rng = toRng(seed);
  let x = colorJitter(img, opts.colorJitter ?? 0.4, rng);
  if (opts.flip ?? true) x = randomHorizontalFlip(x, rng);
  x = randomResizedCrop(x, size, { scale: opts.scale ?? [0.08, 1], ratio: [3 / 4, 4 / 3], filter: 'bicubic' }, rng);
  return toViews(x);
}

/** The fixed view (shorter side resized, centre crop) whose visual targets can be cached once. */
export function fixedView(img: RgbImage, size: number): ImageView {
  return toViews(centerCrop(resizeShorterSide(img, size, 'bicubic'), size));
}
