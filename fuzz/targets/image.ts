import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as fc from 'fast-check';
import { decodeImage } from '../../src/vision/decode.js';
import { evalTransform } from '../../src/vision/transforms.js';
import { expect, type FuzzTarget } from '../lib/target.js';

/** Decoder pixel limit used here: small enough that memory bounds are meaningful, as a server would set. */
const MAX_PIXELS = 2 ** 22;

const SEEDS = ['gray2bit.png', 'p-trns.png', 'gray.jpg', 'lossy.webp', 'gif-small-frame-trns.gif', 'mode1-group4.tif', 'bmp4bit.bmp', 'mode1.bmp', 'animated.png', 'cmyk.jpg', 'la.tif'];

/** A PNG header claiming `w`×`h` (IHDR only, CRC fixed), no pixel data. */
export function pngHeader(w: number, h: number): Uint8Array {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w >>> 0, 0);
  ihdr.writeUInt32BE(h >>> 0, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  const chunk = Buffer.concat([Buffer.from('IHDR'), ihdr]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(chunk), 0);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(13, 0);
  return new Uint8Array(Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), len, chunk, crc]));
}

function crc32(b: Uint8Array): number {
  let c = ~0;
  for (const x of b) {
    c ^= x;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return ~c >>> 0;
}

/** A 24-bit BMP of `w`×`h` whose pixel data really is there (so only the shape is hostile). */
export function bmp(w: number, h: number): Uint8Array {
  const row = Math.ceil((w * 3) / 4) * 4;
  const b = Buffer.alloc(54 + row * h);
  b.write('BM', 0);
  b.writeUInt32LE(b.length, 2);
  b.writeUInt32LE(54, 10);
  b.writeUInt32LE(40, 14);
  b.writeInt32LE(w, 18);
  b.writeInt32LE(h, 22);
  b.writeUInt16LE(1, 26);
  b.writeUInt16LE(24, 28);
  return new Uint8Array(b);
}

export const target: FuzzTarget = {
  name: 'image',
  entry: 'decodeImage (file and bytes: JPEG/PNG/WebP/GIF/TIFF/BMP) then the vl and imagenet eval transforms',
  async run(input, { dir }) {
    const path = join(dir, 'in.img');
    writeFileSync(path, input);
    const img = await decodeImage(path, { maxPixels: MAX_PIXELS });
    expect(img.width > 0 && img.height > 0 && img.width * img.height <= MAX_PIXELS, `decoded ${img.width}x${img.height}`);
    expect(img.data.length === img.width * img.height * 3, 'RGB data length');
    // every later stage must be bounded too, not only the decoder
    for (const name of ['vl', 'imagenet'] as const) {
      const t = evalTransform(name, img, 64);
      expect(t.shape.join() === '3,64,64' || t.shape.join() === '1,3,64,64', `${name} transform shape ${t.shape}`);
      for (const v of t.data as Float32Array) expect(Number.isFinite(v), `${name}: non-finite pixel`);
    }
  },
  seeds: () => SEEDS.map((f) => new Uint8Array(readFileSync(`fixtures/images/kinds/${f}`))),
  hostile: () =>
    fc.oneof(
      fc.tuple(fc.integer({ min: 1, max: MAX_PIXELS }), fc.constantFrom(1, 2, 3)).map(([w, h]) => bmp(Math.floor(w / h), h)),
      fc.tuple(fc.constantFrom(1, 2), fc.integer({ min: 1, max: MAX_PIXELS })).map(([w, h]) => bmp(w, Math.floor(h / w))),
      fc.tuple(fc.nat(2 ** 31), fc.nat(2 ** 31)).map(([w, h]) => pngHeader(w, h)),
    ),
  dict: ['\x89PNG\r\n\x1a\n', 'IHDR', 'IDAT', 'IEND', 'tRNS', 'PLTE', 'acTL', '\xff\xd8\xff', '\xff\xc0', 'GIF89a', 'RIFF', 'WEBPVP8 ', 'II*\x00', 'MM\x00*', 'BM', '\xff\xff\xff\x7f'],
  maxLen: 32768,
  timeMs: 5000,
  memBytes: (n) => 256 * 2 ** 20 + 16 * MAX_PIXELS + 64 * n,
};
