import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { decodeImage, ImageDecodeError } from '../../src/vision/decode.js';
import { E2E, IMAGES } from './helpers.js';
import { crc32, gzipSync } from 'node:zlib';

interface ImageCase {
  file: string;
  pil_mode: string;
  size_wh: [number, number];
  decoded_rgb: { shape_hwc: number[]; sha256_of_hwc_uint8_bytes: string };
}
const images = (
  JSON.parse(readFileSync(join(E2E, 'cases.json'), 'utf8')) as { images: Record<string, ImageCase> }
).images;

describe('decodeImage matches PIL convert("RGB") (e2e cases.json sha256 of decoded bytes)', () => {
  for (const [name, c] of Object.entries(images)) {
    it(`${name} (${c.pil_mode}, ${c.file.split('.').pop()})`, async () => {
      // e2e paths point at ../../images/source; the project copy lives at fixtures/images/source
      const path = c.file.startsWith('../../images/')
        ? join(IMAGES, c.file.slice('../../images/'.length))
        : join(E2E, c.file);
      const img = await decodeImage(path);
      expect([img.height, img.width, 3]).toEqual(c.decoded_rgb.shape_hwc);
      expect(createHash('sha256').update(img.data).digest('hex')).toBe(
        c.decoded_rgb.sha256_of_hwc_uint8_bytes,
      );
    });
  }
});

describe('decodeImage formats and errors', () => {
  const rgb = { width: 5, height: 4, channels: 3 as const };
  const pixels = Buffer.from(Array.from({ length: 5 * 4 * 3 }, (_, i) => (i * 37) % 256));

  it('lossless WebP and TIFF round-trip exactly; bytes input works', async () => {
    for (const fmt of ['webp', 'tiff', 'png'] as const) {
      let s = sharp(pixels, { raw: rgb });
      s =
        fmt === 'webp'
          ? s.webp({ lossless: true })
          : fmt === 'tiff'
            ? s.tiff({ compression: 'lzw' })
            : s.png();
      const bytes = await s.toBuffer();
      const img = await decodeImage(new Uint8Array(bytes), { name: `x.${fmt}` });
      expect([img.width, img.height]).toEqual([5, 4]);
      expect(Buffer.from(img.data).equals(pixels)).toBe(true);
    }
  });

  it('RGBA drops alpha without compositing', async () => {
    const rgba = Buffer.from([255, 0, 0, 0, 0, 255, 0, 128, 10, 20, 30, 255, 1, 2, 3, 7]);
    const png = await sharp(rgba, { raw: { width: 2, height: 2, channels: 4 } })
      .png()
      .toBuffer();
    const img = await decodeImage(png);
    expect(Array.from(img.data)).toEqual([255, 0, 0, 0, 255, 0, 10, 20, 30, 1, 2, 3]);
  });

  it('truncated JPEG: typed error naming the file', async () => {
    const path = join(IMAGES, 'source', 'truncated.jpg');
    await expect(decodeImage(path)).rejects.toBeInstanceOf(ImageDecodeError);
    await expect(decodeImage(path)).rejects.toThrow(/truncated\.jpg/);
  });

  it('a JPEG cut in the middle of its scan is refused by default and accepted with allowTruncated', async () => {
    const full = readFileSync(join(IMAGES, 'source', 'rocket.jpg'));
    const cut = full.subarray(0, Math.floor(full.length * 0.6));
    await expect(decodeImage(cut, { name: 'cut.jpg' })).rejects.toThrow(/cut\.jpg.*truncated/);
    const img = await decodeImage(cut, { name: 'cut.jpg', allowTruncated: true });
    expect([img.width, img.height]).toEqual([640, 427]);
  });

  it('garbage, empty input and missing files are typed errors', async () => {
    await expect(decodeImage(new Uint8Array([1, 2, 3, 4, 5]), { name: 'junk.bin' })).rejects.toThrow(
      ImageDecodeError,
    );
    await expect(decodeImage(new Uint8Array(0))).rejects.toThrow(/empty/);
    await expect(decodeImage('/nonexistent/x.png')).rejects.toThrow(/x\.png.*cannot read/);
  });
});

describe('GIF transparency (Pillow keeps the transparent index, convert("RGB") shows its palette colour)', () => {
  it('transparent pixels of the first frame get the palette colour of the transparent index', async () => {
    const px = Buffer.from([255, 0, 0, 255, 0, 0, 255, 0, 0, 255, 0, 255, 50, 60, 70, 0]);
    const gif = await sharp(px, { raw: { width: 2, height: 2, channels: 4 } })
      .gif()
      .toBuffer();
    const { gifFirstFrameTransparentColour } = await import('../../src/vision/decode.js');
    const colour = gifFirstFrameTransparentColour(gif);
    expect(colour).toBeDefined();
    const img = await decodeImage(gif);
    expect(Array.from(img.data.subarray(0, 3))).toEqual([255, 0, 0]);
    expect(Array.from(img.data.subarray(6, 9))).toEqual([0, 255, 0]);
    expect(Array.from(img.data.subarray(3, 6))).toEqual(Array.from(colour!));
    expect(Array.from(img.data.subarray(9, 12))).toEqual(Array.from(colour!));
  });
  it('the parser refuses truncated headers instead of reading past the end', async () => {
    const { gifFirstFrameTransparentColour } = await import('../../src/vision/decode.js');
    const gif = await sharp(Buffer.from([1, 2, 3, 0]), { raw: { width: 1, height: 1, channels: 4 } })
      .gif()
      .toBuffer();
    for (let cut = 14; cut < gif.length; cut += 3)
      expect(() => gifFirstFrameTransparentColour(gif.subarray(0, cut))).not.toThrow();
  });
});

describe('decodeImage rejects hostile inputs', () => {
  // Hostile image inputs: markup with an image extension, decompression bombs. Each is a typed
  // ImageDecodeError naming the source, decided before any large allocation.
  const svg =
    '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10" fill="red"/></svg>';
  const bytes = (s: string) => new TextEncoder().encode(s);

  describe('decodeImage refuses non-raster and oversized inputs', () => {
    it('SVG (plain, with BOM/whitespace/XML prolog, gzipped) and HTML named like images', async () => {
      const inputs: [string, Uint8Array][] = [
        ['logo.png', bytes(svg)],
        ['bom.png', bytes(`\ufeff \n<?xml version="1.0"?>${svg}`)],
        ['page.jpg', bytes('<!doctype html><html><body>404</body></html>')],
        ['logo.svgz.png', gzipSync(bytes(svg))],
      ];
      for (const [name, b] of inputs) {
        const err = await decodeImage(b, { name }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ImageDecodeError);
        expect((err as Error).message).toMatch(
          new RegExp(`^${name.replace(/\./g, '\\.')}: .*not a raster image`),
        );
      }
    });

    it('a PNG declaring 30000×30000 pixels (a decompression bomb) is refused by its declared size', async () => {
      // A small PNG with its IHDR patched to 30000×30000 (CRC fixed): what a bomb's header says.
      const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: 'red' } })
        .png()
        .toBuffer();
      png.writeUInt32BE(30000, 16);
      png.writeUInt32BE(30000, 20);
      png.writeUInt32BE(crc32(png.subarray(12, 29)), 29);
      await expect(decodeImage(png, { name: 'bomb.png' })).rejects.toThrow(
        /bomb\.png: cannot decode image \(.*pixel limit/,
      );
    });

    it('a small PNG still decodes', async () => {
      const png = await sharp({
        create: { width: 3, height: 2, channels: 3, background: { r: 1, g: 2, b: 3 } },
      })
        .png()
        .toBuffer();
      const img = await decodeImage(png);
      expect([img.width, img.height, ...img.data.subarray(0, 3)]).toEqual([3, 2, 1, 2, 3]);
    });
  });
});
