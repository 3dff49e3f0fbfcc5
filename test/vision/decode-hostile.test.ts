// Hostile image inputs: markup with an image extension, decompression bombs. Each is a typed
// ImageDecodeError naming the source, decided before any large allocation.
import { crc32, gzipSync } from 'node:zlib';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { decodeImage, ImageDecodeError } from '../../src/vision/decode.js';

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
