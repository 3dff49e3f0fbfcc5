import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeImage } from '../../src/vision/decode.js';
import {
  centerCrop,
  imagenetEvalTransform,
  imagenetResizeCrop,
  resizeShorterSide,
  roundHalfEven,
  stackImages,
  toNormalizedTensor,
  vlEvalTransform,
  vlResize,
} from '../../src/vision/transforms.js';
import { asFloat32, E2E, IMAGES, readSafetensors } from './helpers.js';

const cases = JSON.parse(readFileSync(join(E2E, 'cases.json'), 'utf8')) as {
  images: Record<string, { file: string; imagenet_resized_hw: [number, number] }>;
};
const config = JSON.parse(readFileSync(join(E2E, 'config.json'), 'utf8')) as { tiny_config: { img_size: number } };
const S = config.tiny_config.img_size;
const tensors = readSafetensors(join(E2E, 'e2e.safetensors'));

function path(file: string): string {
  return file.startsWith('../../images/') ? join(IMAGES, file.slice('../../images/'.length)) : join(E2E, file);
}

function bitsEqual(a: Float32Array, b: Float32Array): number {
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  let bad = 0;
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) bad++;
  return bad;
}

describe(`official eval transforms vs e2e.safetensors (S = ${S})`, () => {
  for (const [name, c] of Object.entries(cases.images)) {
    it(`${name}: vl resized_u8 and float32 tensor are bit-exact`, async () => {
      const img = await decodeImage(path(c.file));
      const u8 = tensors.get(`image.${name}.vl.resized_u8`)!;
      expect(Array.from(vlResize(img, S).data)).toEqual(Array.from(u8.bytes));
      const t = vlEvalTransform(img, S);
      const ref = tensors.get(`image.${name}.vl`)!;
      expect(t.shape).toEqual(ref.shape);
      expect(bitsEqual(t.data as Float32Array, asFloat32(ref))).toBe(0);
    });
    it(`${name}: imagenet resize, crop and tensor are bit-exact`, async () => {
      const img = await decodeImage(path(c.file));
      const resized = resizeShorterSide(img, S);
      expect([resized.height, resized.width]).toEqual(c.imagenet_resized_hw);
      expect(Array.from(resized.data)).toEqual(Array.from(tensors.get(`image.${name}.imagenet.resized_u8`)!.bytes));
      expect(Array.from(imagenetResizeCrop(img, S).data)).toEqual(
        Array.from(tensors.get(`image.${name}.imagenet.cropped_u8`)!.bytes),
      );
      const t = imagenetEvalTransform(img, S);
      expect(bitsEqual(t.data as Float32Array, asFloat32(tensors.get(`image.${name}.imagenet`)!))).toBe(0);
    });
  }
});

describe('transform details', () => {
  it('roundHalfEven is Python round', () => {
    expect([0.5, 1.5, 2.5, 15.5, 9.5, -0.5, -1.5, 2.4, 2.6].map(roundHalfEven)).toEqual([0, 2, 2, 16, 10, -0, -2, 2, 3]);
  });
  it('centerCrop uses half-to-even offsets', () => {
    const img = { width: 4, height: 1, data: Uint8Array.from({ length: 12 }, (_, i) => i) };
    // (4 - 1) / 2 = 1.5 -> 2
    expect(Array.from(centerCrop(img, 1, 1).data)).toEqual([6, 7, 8]);
    expect(() => centerCrop(img, 5, 1)).toThrow(/larger/);
  });
  it('imagenet transform does not resize at S <= 32', () => {
    const img = { width: 7, height: 5, data: new Uint8Array(7 * 5 * 3).fill(9) };
    expect(imagenetResizeCrop(img, 32)).toBe(img);
    expect(imagenetEvalTransform(img, 32).shape).toEqual([3, 5, 7]);
  });
  it('toNormalizedTensor maps 0 -> -1 and 255 -> 1 with the VL constants; stackImages makes NCHW', () => {
    const img = { width: 2, height: 1, data: Uint8Array.from([0, 0, 0, 255, 255, 255]) };
    const t = toNormalizedTensor(img);
    expect(Array.from(t.data as Float32Array)).toEqual([-1, 1, -1, 1, -1, 1]);
    const b = stackImages([t, t, t]);
    expect(b.shape).toEqual([3, 3, 1, 2]);
    expect(() => stackImages([t, toNormalizedTensor({ width: 1, height: 1, data: new Uint8Array(3) })])).toThrow(/item 1/);
  });
});
