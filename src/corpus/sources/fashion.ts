import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { SourceFormatError } from '../util.js';

const DIR = join('usr', 'share', 'datasets', 'fashion-mnist');

export interface IdxImages {
  count: number;
  rows: number;
  cols: number;
  pixels: Uint8Array;
}

/** IDX format (LeCun): big-endian magic 0x00000803 for images, 0x00000801 for labels. Sizes checked. */
export function parseIdxImages(buf: Uint8Array, name: string): IdxImages {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (buf.length < 16 || v.getUint32(0) !== 0x803)
    throw new SourceFormatError(`${name}: not an IDX image file (magic)`);
  const count = v.getUint32(4);
  const rows = v.getUint32(8);
  const cols = v.getUint32(12);
  if (16 + count * rows * cols !== buf.length) {
    throw new SourceFormatError(
      `${name}: header says ${count}x${rows}x${cols} but file has ${buf.length - 16} pixel bytes`,
    );
  }
  return { count, rows, cols, pixels: buf.subarray(16) };
}

export function parseIdxLabels(buf: Uint8Array, name: string): Uint8Array {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (buf.length < 8 || v.getUint32(0) !== 0x801)
    throw new SourceFormatError(`${name}: not an IDX label file (magic)`);
  const count = v.getUint32(4);
  if (8 + count !== buf.length)
    throw new SourceFormatError(`${name}: header says ${count} labels, file has ${buf.length - 8}`);
  return buf.subarray(8);
}

export interface FashionSplit {
  images: IdxImages;
  labels: Uint8Array;
}

export async function readFashion(from: string): Promise<{ train: FashionSplit; test: FashionSplit }> {
  const load = async (prefix: string): Promise<FashionSplit> => {
    const dir = join(from, 'dataset-fashion-mnist', DIR);
    const imgName = join(dir, `${prefix}-images-idx3-ubyte.gz`);
    const lblName = join(dir, `${prefix}-labels-idx1-ubyte.gz`);
    const images = parseIdxImages(gunzipSync(await readFile(imgName)), imgName);
    const labels = parseIdxLabels(gunzipSync(await readFile(lblName)), lblName);
    if (labels.length !== images.count)
      throw new SourceFormatError(`${prefix}: ${images.count} images but ${labels.length} labels`);
    return { images, labels };
  };
  return { train: await load('train'), test: await load('t10k') };
}
