import sharp from 'sharp';
import { CorpusError } from './util.js';

export class RasterError extends CorpusError {
  override name = 'RasterError';
}

/**
 * SVG -> size x size RGB PNG, drawn at the resolution of the target (not upscaled), letterboxed
 * and composited on white: icons drawn in currentColor on a transparent background would
 * otherwise become black squares once alpha is dropped.
 */
export async function rasterizeSvg(svg: string | Buffer, size: number, label = 'svg'): Promise<Buffer> {
  const buf = typeof svg === 'string' ? Buffer.from(svg) : svg;
  try {
    const meta = await sharp(buf).metadata();
    const w = meta.width ?? size;
    const h = meta.height ?? size;
    // librsvg renders at 72 dpi by default; scale the density so the longer side lands on `size`.
    const density = Math.max(1, Math.min(5000, (72 * size) / Math.max(w, h)));
    return await sharp(buf, { density })
      .resize(size, size, { fit: 'contain', background: '#ffffff' })
      .flatten({ background: '#ffffff' })
      .removeAlpha()
      .png({ compressionLevel: 9 })
      .toBuffer();
  } catch (e) {
    throw new RasterError(`cannot rasterize ${label}: ${(e as Error).message}`);
  }
}

/** 8-bit grayscale pixels -> size x size PNG. */
export async function grayToPng(pixels: Uint8Array, rows: number, cols: number, size: number): Promise<Buffer> {
  let img = sharp(Buffer.from(pixels.buffer, pixels.byteOffset, rows * cols), { raw: { width: cols, height: rows, channels: 1 } });
  if (size !== cols || size !== rows) img = img.resize(size, size, { kernel: 'lanczos3' });
  return img.png({ compressionLevel: 9 }).toBuffer();
}

/** Run `fn` over `items` with at most `limit` in flight, keeping order of results. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (x: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
