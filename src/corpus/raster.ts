import sharp from 'sharp';
import { CorpusError } from './util.js';

export class RasterError extends CorpusError {
  override name = 'RasterError';
}
/** The drawing rendered to a single flat colour (empty, or using SVG features librsvg ignores). */
export class BlankImageError extends RasterError {
  override name = 'BlankImageError';
}

/**
 * SVG -> size x size RGB PNG, drawn at the resolution of the target (not upscaled), letterboxed
 * and composited on white: icons drawn in currentColor on a transparent background would
 * otherwise become black squares once alpha is dropped.
 */
export async function rasterizeSvg(
  svg: string | Buffer,
  size: number,
  label = 'svg',
  opts: { trim?: boolean } = {},
): Promise<Buffer> {
  const buf = Buffer.from(withViewBox(typeof svg === 'string' ? svg : svg.toString('utf8')));
  try {
    const meta = await sharp(buf).metadata();
    const w = meta.width ?? size;
    const h = meta.height ?? size;
    // librsvg renders at 72 dpi by default; scale the density so the longer side lands on the
    // target (2x the target when trimming, so that the crop keeps detail).
    const target = opts.trim ? size * 2 : size;
    const density = Math.max(1, Math.min(5000, (72 * target) / Math.max(w, h)));
    let img = sharp(buf, { density });
    if (opts.trim) {
      // Clip art sits somewhere on a page: crop the white margin first.
      const page = await img.flatten({ background: '#ffffff' }).png().toBuffer();
      img = sharp(page).trim({ background: '#ffffff', threshold: 10 });
    }
    const { data, info } = await img
      .resize(size, size, { fit: 'contain', background: '#ffffff' })
      .flatten({ background: '#ffffff' })
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (data.every((v, i) => v === data[i % 3]!))
      throw new BlankImageError(`${label} renders as a blank image`);
    return await sharp(data, { raw: { width: info.width, height: info.height, channels: info.channels } })
      .png({ compressionLevel: 9 })
      .toBuffer();
  } catch (e) {
    if (e instanceof RasterError) throw e;
    throw new RasterError(`cannot rasterize ${label}: ${(e as Error).message}`);
  }
}

const CSS_PX: Record<string, number> = {
  '': 1,
  px: 1,
  pt: 96 / 72,
  pc: 16,
  mm: 96 / 25.4,
  cm: 96 / 2.54,
  in: 96,
};

/**
 * Old drawings often give width/height in mm or pt and no viewBox; librsvg then draws the
 * user-unit paths at 1:1 pixel scale and a small render shows only a blank corner. Adding
 * the viewBox the page size implies makes the drawing scale with the canvas.
 */
export function withViewBox(svg: string): string {
  const m = /<svg\b[^>]*>/.exec(svg);
  if (!m || /\bviewBox\s*=/.test(m[0])) return svg;
  const attr = (name: string) =>
    new RegExp(`\\s${name}\\s*=\\s*["']\\s*([0-9.]+)\\s*(px|pt|pc|mm|cm|in)?\\s*["']`).exec(m[0]);
  const w = attr('width');
  const h = attr('height');
  if (!w || !h) return svg;
  const wpx = parseFloat(w[1]!) * CSS_PX[w[2] ?? '']!;
  const hpx = parseFloat(h[1]!) * CSS_PX[h[2] ?? '']!;
  if (!(wpx > 0 && hpx > 0)) return svg;
  const tag = m[0].replace(/<svg\b/, `<svg viewBox="0 0 ${wpx.toFixed(3)} ${hpx.toFixed(3)}"`);
  return svg.slice(0, m.index) + tag + svg.slice(m.index + m[0].length);
}

/** 8-bit grayscale pixels -> size x size PNG. */
export async function grayToPng(
  pixels: Uint8Array,
  rows: number,
  cols: number,
  size: number,
): Promise<Buffer> {
  let img = sharp(Buffer.from(pixels.buffer, pixels.byteOffset, rows * cols), {
    raw: { width: cols, height: rows, channels: 1 },
  });
  if (size !== cols || size !== rows) img = img.resize(size, size, { kernel: 'lanczos3' });
  return img.png({ compressionLevel: 9 }).toBuffer();
}

/** Run `fn` over `items` with at most `limit` in flight, keeping order of results. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (x: T, i: number) => Promise<R>,
): Promise<R[]> {
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
