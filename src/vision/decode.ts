import bmpJs from 'bmp-js';
import sharp, { type OutputInfo } from 'sharp';
import type { RgbImage } from './image.js';
import { Beit3Error } from '../util/errors.js';
import { InputFileError, READ_LIMITS, readFileBounded } from '../util/read.node.js';

/** A file that is not a decodable image (or is truncated and the caller did not opt in). */
export class ImageDecodeError extends Beit3Error {
  override name = 'ImageDecodeError';
  constructor(
    readonly source: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${source}: ${message}`, options);
  }
}

export interface DecodeOptions {
  /**
   * Accept files whose data ends early (decoders fill the missing part). Off by default, as
   * Pillow refuses them ("image file is truncated") unless `LOAD_TRUNCATED_IMAGES` is set.
   */
  allowTruncated?: boolean;
  /** Name used in error messages when `input` is bytes. */
  name?: string;
  /** Refuse images with more pixels than this (decompression bombs); default 2^28 like sharp. */
  maxPixels?: number;
}

/**
 * Decodes JPEG / PNG / WebP / GIF (first frame) / TIFF (not SVG) into 8-bit RGB with Pillow's
 * `Image.open(f).convert("RGB")` semantics: alpha is dropped without compositing, palettes are
 * expanded, grayscale is replicated to three channels. No colour management (embedded ICC
 * profiles are ignored, as Pillow does) and no EXIF auto-rotation (Pillow does not rotate either).
 */
export async function decodeImage(input: string | Uint8Array, opts: DecodeOptions = {}): Promise<RgbImage> {
  const source = typeof input === 'string' ? input : (opts.name ?? '<bytes>');
  let bytes: Uint8Array;
  if (typeof input === 'string') {
    try {
      bytes = await readFileBounded(input, READ_LIMITS.image, 'image');
    } catch (e) {
      const why = e instanceof InputFileError ? e.reason : (e as Error).message;
      throw new ImageDecodeError(source, `cannot read file (${why})`, { cause: e });
    }
  } else bytes = input;
  if (bytes.length === 0) throw new ImageDecodeError(source, 'empty input, not an image');
  const markup = markupKind(bytes);
  if (markup)
    throw new ImageDecodeError(source, `${markup}, not a raster image (JPEG, PNG, WebP, GIF, TIFF)`);

  if (isBmp(bytes)) return decodeBmpRgb(bytes, source, opts.maxPixels ?? 2 ** 28);

  let raw: { data: Buffer; info: OutputInfo };
  let space: string | undefined;
  try {
    const open = () =>
      sharp(bytes, {
        // 'truncated' makes libvips fail on premature end of data; 'none' lets it fill in.
        failOn: opts.allowTruncated ? 'none' : 'truncated',
        // Pillow never applies embedded ICC profiles; libvips would convert to sRGB through them.
        ignoreIcc: true,
        limitInputPixels: opts.maxPixels ?? 2 ** 28,
        pages: 1,
        page: 0,
      });
    const meta = await open().metadata();
    space = meta.space;
    let pipeline = open();
    // CMYK: take the raw (Adobe-uninverted, as Pillow's "CMYK;I") samples and convert below with
    // Pillow's formula; libvips' own CMYK -> sRGB goes through a profile.
    if (space === 'cmyk') pipeline = pipeline.pipelineColourspace('cmyk').toColourspace('cmyk');
    // 16-bit grayscale: Pillow's I / I;16 -> RGB clips at 255, so the full 16-bit values are needed.
    // A 16-bit gray PNG with tRNS has an alpha band in libvips but is still mode I in Pillow.
    const pngGrayNoAlpha = meta.format === 'png' && bytes[25] === 0;
    const gray16 = space === 'grey16' && (meta.channels === 1 || pngGrayNoAlpha);
    if (gray16) pipeline = pipeline.toColourspace('grey16').raw({ depth: 'ushort' });
    else pipeline = pipeline.raw();
    raw = await pipeline.toBuffer({ resolveWithObject: true });
  } catch (e) {
    const msg = (e as Error).message.split('\n')[0];
    const truncated = /premature end|truncated|end of (file|data)|unexpected end/i.test((e as Error).message);
    throw new ImageDecodeError(
      source,
      truncated
        ? `image file is truncated or corrupt (${msg}); pass allowTruncated to accept partial images`
        : `cannot decode image (${msg})`,
      { cause: e },
    );
  }
  const { data, info } = raw;
  const { width, height, channels } = info;
  const n = width * height;
  const out = new Uint8Array(n * 3);
  // sharp reduces other 16-bit sources to 8 bits (high byte, as Pillow's RGB;16B / LA;16B modes do)
  const depth = (info as { depth?: string }).depth;
  if (depth === 'ushort' && channels <= 2) {
    const samples = new Uint16Array(data.buffer.slice(data.byteOffset, data.byteOffset + n * 2 * channels));
    for (let i = 0, d = 0; i < n; i++, d += 3)
      out[d] = out[d + 1] = out[d + 2] = Math.min(samples[i * channels], 255);
    return { width, height, data: out };
  }
  if (depth !== undefined && depth !== 'uchar')
    throw new ImageDecodeError(source, `unexpected sample format ${depth} from the decoder (expected 8-bit)`);
  if (space === 'cmyk' && channels === 4) {
    cmykToRgb(data, out, n);
    return { width, height, data: out };
  }
  if (channels === 3) {
    out.set(data.subarray(0, n * 3));
    if (isGif(bytes)) fillGifUncovered(bytes, out, width, height);
  } else if (channels === 4) {
    // libvips paints transparent GIF pixels black; Pillow's first frame keeps the transparent
    // index, whose palette colour convert("RGB") then shows.
    const gifTransparent = isGif(bytes) ? gifFirstFrameTransparentColour(bytes) : undefined;
    for (let i = 0, s = 0, d = 0; i < n; i++, s += 4, d += 3) {
      if (gifTransparent && data[s + 3] === 0) out.set(gifTransparent, d);
      else {
        out[d] = data[s];
        out[d + 1] = data[s + 1];
        out[d + 2] = data[s + 2];
      }
    }
  } else if (channels === 1 || channels === 2) {
    for (let i = 0, s = 0, d = 0; i < n; i++, s += channels, d += 3)
      out[d] = out[d + 1] = out[d + 2] = data[s];
  } else throw new ImageDecodeError(source, `unsupported channel count ${channels}`);
  return { width, height, data: out };
}

/** Pillow's cmyk2rgb (Convert.c): each channel is (255-K) - round((255-K)*C/255), no profile. */
function cmykToRgb(cmyk: Uint8Array, out: Uint8Array, n: number): void {
  const mulDiv255 = (a: number, b: number) => {
    const t = a * b + 128;
    return ((t >> 8) + t) >> 8;
  };
  for (let i = 0, s = 0, d = 0; i < n; i++, s += 4, d += 3) {
    const nk = 255 - cmyk[s + 3];
    for (let c = 0; c < 3; c++) out[d + c] = Math.max(0, nk - mulDiv255(cmyk[s + c], nk));
  }
}

/**
 * libvips would render SVG (also gzipped) and Pillow cannot open it, so a vector file would be
 * rasterised unlike the reference pipeline: refuse text markup (SVG, HTML, XML) and gzip up front.
 */
function markupKind(b: Uint8Array): string | undefined {
  if (b[0] === 0x1f && b[1] === 0x8b) return 'gzip-compressed data (SVGZ?)';
  let i = b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf ? 3 : 0; // UTF-8 BOM
  while (i < b.length && i < 4096 && (b[i] === 0x20 || (b[i] >= 0x09 && b[i] <= 0x0d))) i++;
  return b[i] === 0x3c ? 'SVG/HTML/XML text' : undefined; // '<'
}

function isBmp(b: Uint8Array): boolean {
  return b.length > 26 && b[0] === 0x42 && b[1] === 0x4d; // "BM"
}

/**
 * libvips cannot read BMP, which Pillow opens (uncompressed 1/4/8/16/24/32-bit, bitfields, RLE):
 * decoded with bmp-js (ABGR pixels), then RGB as Pillow's convert("RGB") gives (palette expanded, alpha dropped).
 */
function decodeBmpRgb(bytes: Uint8Array, source: string, maxPixels: number): RgbImage {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerSize = view.getUint32(14, true);
  // OS/2 BITMAPCOREHEADER (12 bytes) stores 16-bit sizes; the others 32-bit signed ones.
  const w = headerSize === 12 ? view.getUint16(18, true) : view.getInt32(18, true);
  const h = Math.abs(headerSize === 12 ? view.getUint16(20, true) : view.getInt32(22, true));
  if (w <= 0 || h <= 0) throw new ImageDecodeError(source, `BMP has invalid size ${w}x${h}`);
  if (w * h > maxPixels)
    throw new ImageDecodeError(source, `BMP of ${w}x${h} pixels exceeds the limit of ${maxPixels} pixels`);
  if (headerSize >= 40) {
    // Uncompressed rows must all be in the file: refuse before bmp-js allocates w*h*4 bytes.
    const bitCount = view.getUint16(28, true);
    const compression = view.getUint32(30, true);
    // Only what Pillow opens (BI_RGB, RLE8/4, BI_BITFIELDS): bmp-js spent 10 s on a 332-byte file
    // with compression 0x78000000 before failing (found by fuzz/image)
    if (![0, 1, 2, 3].includes(compression) || ![1, 4, 8, 16, 24, 32].includes(bitCount))
      throw new ImageDecodeError(source, `unsupported BMP (compression ${compression}, ${bitCount} bits per pixel)`);
    // bmp-js loops over the declared palette size: 343 million colours in a 332-byte file took
    // 11 s (found by fuzz/image). Pillow also refuses palettes larger than the bit depth allows.
    const colors = view.getUint32(46, true);
    if (bitCount <= 8 && colors > 1 << bitCount)
      throw new ImageDecodeError(source, `BMP palette of ${colors} colours is larger than ${bitCount}-bit pixels allow`);
    const rowBytes = Math.ceil((w * bitCount) / 32) * 4;
    if ((compression === 0 || compression === 3) && rowBytes * h > bytes.length - view.getUint32(10, true))
      throw new ImageDecodeError(source, `BMP is truncated (${w}x${h} at ${bitCount} bits needs ${rowBytes * h} bytes of pixel data)`);
  }
  // bmp-js writes the first row of a bottom-up RLE bitmap at the top and never fills the bottom
  // row, so RLE BMPs (rare) are refused rather than decoded wrongly.
  if (headerSize >= 40 && (view.getUint32(30, true) === 1 || view.getUint32(30, true) === 2))
    throw new ImageDecodeError(source, 'RLE-compressed BMP is not supported');
  let bmp: { width: number; height: number; data: Buffer };
  try {
    bmp = bmpJs.decode(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (e) {
    throw new ImageDecodeError(source, `cannot decode BMP (${(e as Error).message})`, { cause: e });
  }
  const n = bmp.width * bmp.height;
  if (bmp.data.length < n * 4) throw new ImageDecodeError(source, 'BMP pixel data is truncated');
  const out = new Uint8Array(n * 3);
  for (let i = 0, s = 0, d = 0; i < n; i++, s += 4, d += 3) {
    out[d] = bmp.data[s + 3];
    out[d + 1] = bmp.data[s + 2];
    out[d + 2] = bmp.data[s + 1];
  }
  // 16-bit BI_RGB (x555): bmp-js shifts each 5-bit value left by 3; Pillow's "BGR;15" scales
  // it by 255/31 (31 -> 255, not 248).
  if (headerSize >= 40 && view.getUint16(28, true) === 16 && view.getUint32(30, true) === 0)
    for (let i = 0; i < out.length; i++) out[i] = Math.floor(((out[i] >> 3) * 255) / 31);
  return { width: bmp.width, height: bmp.height, data: out };
}

function isGif(b: Uint8Array): boolean {
  return b.length > 13 && b[0] === 0x47 && b[1] === 0x49 && b[2] === 0x46 && b[3] === 0x38; // "GIF8"
}

interface GifFirstFrame {
  /** Offset of the image descriptor (0x2c). */
  at: number;
  /** Transparent index from the graphic control extension, or -1. */
  transparent: number;
  /** Offset and byte size of the colour table the frame uses (local if present, else global). */
  table: number;
  tableSize: number;
}

/**
 * Walks the GIF block structure only as far as the first image descriptor; every offset is
 * bounds-checked. Undefined when the file ends before it.
 */
function gifFirstFrame(b: Uint8Array): GifFirstFrame | undefined {
  const flags = b[10];
  const globalSize = flags & 0x80 ? 3 << ((flags & 7) + 1) : 0;
  let p = 13 + globalSize;
  let transparent = -1;
  while (p < b.length) {
    const tag = b[p];
    if (tag === 0x21) {
      // extension: label, then sub-blocks
      if (p + 1 >= b.length) return undefined;
      if (b[p + 1] === 0xf9 && p + 6 < b.length && b[p + 2] === 4) transparent = b[p + 3] & 1 ? b[p + 6] : -1;
      p += 2;
      while (p < b.length && b[p] !== 0) p += b[p] + 1;
      p++;
    } else if (tag === 0x2c) {
      if (p + 9 >= b.length) return undefined;
      const local = b[p + 9];
      const table = local & 0x80 ? p + 10 : 13;
      const tableSize = local & 0x80 ? 3 << ((local & 7) + 1) : globalSize;
      return { at: p, transparent, table, tableSize };
    } else return undefined;
  }
  return undefined;
}

function paletteColour(b: Uint8Array, f: GifFirstFrame, index: number): Uint8Array | undefined {
  const at = f.table + index * 3;
  if (index * 3 + 3 > f.tableSize || at + 3 > b.length) return undefined;
  return b.slice(at, at + 3);
}

/**
 * The palette colour of the first frame's transparent index (local colour table if present, else
 * the global one), or undefined when the frame has none.
 */
export function gifFirstFrameTransparentColour(b: Uint8Array): Uint8Array | undefined {
  const f = gifFirstFrame(b);
  return f && f.transparent >= 0 ? paletteColour(b, f, f.transparent) : undefined;
}

/**
 * Pillow 9.4 starts a first GIF frame without transparency from a zeroed "P" image, so the part
 * of the logical screen the frame does not cover shows palette entry 0 (not the background index);
 * libvips leaves it black. Paints that area over `rgb` (width x height x 3).
 */
function fillGifUncovered(b: Uint8Array, rgb: Uint8Array, width: number, height: number): void {
  const f = gifFirstFrame(b);
  if (!f || f.transparent >= 0) return;
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const [x0, y0] = [view.getUint16(f.at + 1, true), view.getUint16(f.at + 3, true)];
  const [x1, y1] = [x0 + view.getUint16(f.at + 5, true), y0 + view.getUint16(f.at + 7, true)];
  if (x0 === 0 && y0 === 0 && x1 >= width && y1 >= height) return;
  const colour = paletteColour(b, f, 0);
  if (!colour) return;
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) if (x < x0 || x >= x1 || y < y0 || y >= y1) rgb.set(colour, (y * width + x) * 3);
}
