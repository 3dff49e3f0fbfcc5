import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  applyAug,
  ALL_AUGS,
  BEIT3_AUGS,
  imagenetTrainTransform,
  ops,
  RandomAugment,
  randomResizedCrop,
  randomResizedCropBox,
  vlTrainTransform,
} from '../../src/vision/augment.js';
import { decodeImage } from '../../src/vision/decode.js';
import { cropImage, flipHorizontal, type RgbImage } from '../../src/vision/image.js';
import { Rng } from '../../src/util/random.js';
import { resize } from '../../src/vision/resize.js';
import { IMAGES } from './helpers.js';

/** A w×h image whose pixel (x, y) is [x, y, x + y]. */
function ramp(w: number, h: number): RgbImage {
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) data.set([x, y, (x + y) & 255], (y * w + x) * 3);
  return { width: w, height: h, data };
}
const at = (img: RgbImage, x: number, y: number) => Array.from(img.data.subarray((y * img.width + x) * 3, (y * img.width + x) * 3 + 3));

describe('Rng', () => {
  it('is deterministic, uniform-looking, and randint includes both ends', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const xs = Array.from({ length: 1000 }, () => a.next());
    expect(xs).toEqual(Array.from({ length: 1000 }, () => b.next()));
    expect(new Rng(43).next()).not.toBe(xs[0]);
    const mean = xs.reduce((s, v) => s + v, 0) / xs.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.03);
    const seen = new Set(Array.from({ length: 500 }, () => a.randint(2, 5)));
    expect([...seen].sort()).toEqual([2, 3, 4, 5]);
    expect(new Set(a.sample(10, 10)).size).toBe(10);
  });
});

describe('crop and flip (known answers)', () => {
  const img = ramp(6, 4);
  it('flipHorizontal mirrors columns and is an involution', () => {
    const f = flipHorizontal(img);
    expect(at(f, 0, 2)).toEqual(at(img, 5, 2));
    expect(at(f, 5, 0)).toEqual(at(img, 0, 0));
    expect(flipHorizontal(f).data).toEqual(img.data);
  });
  it('cropImage takes the exact box', () => {
    const c = cropImage(img, 2, 1, 3, 2);
    expect([c.width, c.height]).toEqual([3, 2]);
    expect(at(c, 0, 0)).toEqual([2, 1, 3]);
    expect(at(c, 2, 1)).toEqual([4, 2, 6]);
    expect(() => cropImage(img, 4, 0, 3, 1)).toThrow(/does not fit/);
  });
});

describe('RandomResizedCrop (timm get_params)', () => {
  it('boxes respect scale and ratio bounds and lie inside the image; deterministic', () => {
    const rng = new Rng(3);
    for (let i = 0; i < 500; i++) {
      const b = randomResizedCropBox(640, 427, [0.5, 1], [3 / 4, 4 / 3], rng);
      expect(b.top).toBeGreaterThanOrEqual(0);
      expect(b.left).toBeGreaterThanOrEqual(0);
      expect(b.top + b.h).toBeLessThanOrEqual(427);
      expect(b.left + b.w).toBeLessThanOrEqual(640);
      const area = (b.w * b.h) / (640 * 427);
      expect(area).toBeGreaterThan(0.49);
      expect(area).toBeLessThanOrEqual(1.01);
    }
    expect(randomResizedCropBox(100, 80, [0.08, 1], [0.75, 4 / 3], new Rng(9))).toEqual(
      randomResizedCropBox(100, 80, [0.08, 1], [0.75, 4 / 3], new Rng(9)),
    );
  });
  it('falls back to a central crop clamped to the ratio range for extreme images', () => {
    // a 1000×10 strip: no random box with ratio <= 4/3 fits, fallback h = 10, w = round(10 * 4/3) = 13
    const b = randomResizedCropBox(1000, 10, [0.9, 1], [3 / 4, 4 / 3], new Rng(1));
    expect(b).toEqual({ top: 0, left: Math.floor((1000 - 13) / 2), h: 10, w: 13 });
  });
  it('output equals crop + PIL resize of the drawn box', () => {
    const img = ramp(50, 40);
    const out = randomResizedCrop(img, 16, { scale: [0.5, 1] }, new Rng(5));
    const b = randomResizedCropBox(50, 40, [0.5, 1], [3 / 4, 4 / 3], new Rng(5));
    expect(out.data).toEqual(resize(cropImage(img, b.left, b.top, b.w, b.h), 16, 16).data);
  });
});

describe('randaug.py ops (known answers)', () => {
  const img = ramp(8, 6);
  it('lookup-table ops', () => {
    expect(at(ops.solarize(img, 4), 5, 3)).toEqual([250, 3, 247]);
    expect(at(ops.posterize(img, 2), 7, 5)).toEqual([0, 0, 0]);
    expect(at(ops.posterize({ width: 1, height: 1, data: Uint8Array.from([200, 130, 63]) }, 2), 0, 0)).toEqual([192, 128, 0]);
    // brightness 1.36: 100 * 1.36 = 136; 200 * 1.36 -> clipped 255
    expect(at(ops.brightness({ width: 1, height: 1, data: Uint8Array.from([100, 200, 0]) }, 1.36), 0, 0)).toEqual([136, 255, 0]);
    // autocontrast stretches each channel to [0, 255]: R in [0, 7] -> x * 255/7 truncated
    const ac = ops.autoContrast(img);
    expect(at(ac, 7, 5)).toEqual([255, 255, 255]);
    expect(at(ac, 0, 0)).toEqual([0, 0, 0]);
    expect(at(ac, 3, 0)[0]).toBe(Math.trunc((3 * 255) / 7));
    const flat = { width: 2, height: 2, data: new Uint8Array(12).fill(77) };
    expect(ops.autoContrast(flat).data).toEqual(flat.data);
    expect(ops.equalize(flat).data).toEqual(flat.data);
  });
  it('equalize: randaug.py formula (step = sum of all but the last nonzero bin // 255)', () => {
    // 510 pixels at 10 and 510 at 50: step = 2, table[10] = (1 + 0) // 2 = 0, table[50] = (1 + 510) // 2 = 255
    const data = new Uint8Array(1020 * 3);
    data.fill(10, 0, 510 * 3).fill(50, 510 * 3);
    const eq = ops.equalize({ width: 1020, height: 1, data });
    expect(at(eq, 0, 0)).toEqual([0, 0, 0]);
    expect(at(eq, 1019, 0)).toEqual([255, 255, 255]);
    // fewer than 255 pixels outside the last bin: step = 0, unchanged
    const small = { width: 4, height: 1, data: Uint8Array.from([10, 10, 10, 10, 10, 10, 50, 50, 50, 50, 50, 50]) };
    expect(ops.equalize(small).data).toEqual(small.data);
  });
  it('integer translations shift content and fill with gray', () => {
    const t = ops.translateX(img, 2);
    expect(at(t, 0, 1)).toEqual(at(img, 2, 1));
    expect(at(t, 7, 1)).toEqual([128, 128, 128]);
    const u = ops.translateY(img, -1);
    expect(at(u, 3, 1)).toEqual(at(img, 3, 0));
    expect(at(u, 3, 0)).toEqual([128, 128, 128]);
  });
  it('sub-pixel warps use OpenCV fixed-point bilinear weights (half-up rounding, fill outside)', () => {
    const row = { width: 3, height: 1, data: Uint8Array.from([10, 10, 10, 21, 21, 21, 40, 40, 40]) };
    const t = ops.translateX(row, -0.5);
    // x = 0 samples between the fill (128) and 10, x = 1 between 10 and 21, x = 2 between 21 and 40
    expect(Array.from(t.data)).toEqual([69, 69, 69, 16, 16, 16, 31, 31, 31]);
  });
  it('rotate by 0 and shear by 0 are the identity; rotate 180 about the center mirrors both axes', () => {
    expect(ops.rotate(img, 0).data).toEqual(img.data);
    expect(ops.shearX(img, 0).data).toEqual(img.data);
    const sq = ramp(6, 6);
    const r = ops.rotate(sq, 180);
    // center (3, 3): dst (x, y) = src(6 - x, 6 - y); x = 1 -> src 5
    expect(at(r, 1, 2)).toEqual(at(sq, 5, 4));
  });
  it('sharpness factor 1 is the identity; borders are untouched', () => {
    const img2 = ramp(9, 7);
    expect(ops.sharpness(img2, 1).data).toEqual(img2.data);
    const s = ops.sharpness(img2, 1.36);
    expect(at(s, 0, 3)).toEqual(at(img2, 0, 3));
    // a linear ramp is unchanged by the symmetric smoothing, so sharpening keeps it
    expect(at(s, 4, 3)).toEqual(at(img2, 4, 3));
  });
});

describe('RandomAugment and full train transforms', () => {
  it('every op keeps the size; RandomAugment is deterministic per seed', async () => {
    const img = resize(await decodeImage(join(IMAGES, 'source', 'chelsea.png')), 48, 32);
    for (const name of ALL_AUGS) {
      const out = applyAug(img, name, 7, new Rng(1));
      expect([out.width, out.height, out.data.length]).toEqual([48, 32, 48 * 32 * 3]);
    }
    const ra = new RandomAugment(2, 7, BEIT3_AUGS);
    expect(ra.apply(img, 11).data).toEqual(ra.apply(img, 11).data);
    let changed = 0;
    for (let s = 0; s < 20; s++) if (!Buffer.from(ra.apply(img, s).data).equals(Buffer.from(img.data))) changed++;
    expect(changed).toBeGreaterThan(5);
    expect(() => new RandomAugment(2, 7, ['Nope' as never])).toThrow(/unknown op/);
  });
  it('vl / imagenet train transforms: shapes, ranges, determinism, flip option', async () => {
    const img = await decodeImage(join(IMAGES, 'source', 'rocket.jpg'));
    const a = vlTrainTransform(img, 32, 123, { randaug: true });
    expect(a.shape).toEqual([3, 32, 32]);
    expect(a.data).toEqual(vlTrainTransform(img, 32, 123, { randaug: true }).data);
    expect(a.data).not.toEqual(vlTrainTransform(img, 32, 124, { randaug: true }).data);
    for (const v of a.data as Float32Array) expect(Math.abs(v)).toBeLessThanOrEqual(1);
    const b = imagenetTrainTransform(img, 40, 5, { flip: false });
    expect(b.shape).toEqual([3, 40, 40]);
  });
});
