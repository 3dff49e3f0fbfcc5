import { readFile } from 'node:fs/promises';
import sharp, { type OutputInfo } from 'sharp';
import type { RgbImage } from './image.js';

/** A file that is not a decodable image (or is truncated and the caller did not opt in). */
export class ImageDecodeError extends Error {
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
 * Decodes JPEG / PNG / WebP / GIF (first frame) / TIFF into 8-bit RGB with Pillow's
 * `Image.open(f).convert("RGB")` semantics: alpha is dropped without compositing, palettes are
 * expanded, grayscale is replicated to three channels. No colour management (embedded ICC
 * profiles are ignored, as Pillow does) and no EXIF auto-rotation (Pillow does not rotate either).
 */
export async function decodeImage(input: string | Uint8Array, opts: DecodeOptions = {}): Promise<RgbImage> {
  const source = typeof input === 'string' ? input : (opts.name ?? '<bytes>');
  let bytes: Uint8Array;
  if (typeof input === 'string') {
    try {
      bytes = await readFile(input);
    } catch (e) {
      throw new ImageDecodeError(source, `cannot read file (${(e as Error).message})`, { cause: e });
    }
  } else bytes = input;
  if (bytes.length === 0) throw new ImageDecodeError(source, 'empty input, not an image');

  let raw: { data: Buffer; info: OutputInfo };
  try {
    raw = await sharp(bytes, {
      // 'truncated' makes libvips fail on premature end of data; 'none' lets it fill in.
      failOn: opts.allowTruncated ? 'none' : 'truncated',
      // Pillow never applies embedded ICC profiles; libvips would convert to sRGB through them.
      ignoreIcc: true,
      limitInputPixels: opts.maxPixels ?? 2 ** 28,
      pages: 1,
      page: 0,
    })
      .raw()
      .toBuffer({ resolveWithObject: true });
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
  // sharp reduces 16-bit sources to 8 bits (high byte, as Pillow's RGB;16 modes do)
  const depth = (info as { depth?: string }).depth;
  if (depth !== undefined && depth !== 'uchar')
    throw new ImageDecodeError(source, `unexpected sample format ${depth} from the decoder (expected 8-bit)`);
  const n = width * height;
  const out = new Uint8Array(n * 3);
  if (channels === 3) out.set(data.subarray(0, n * 3));
  else if (channels === 4) {
    for (let i = 0, s = 0, d = 0; i < n; i++, s += 4, d += 3) {
      out[d] = data[s];
      out[d + 1] = data[s + 1];
      out[d + 2] = data[s + 2];
    }
  } else if (channels === 1 || channels === 2) {
    for (let i = 0, s = 0, d = 0; i < n; i++, s += channels, d += 3) out[d] = out[d + 1] = out[d + 2] = data[s];
  } else throw new ImageDecodeError(source, `unsupported channel count ${channels}`);
  return { width, height, data: out };
}
