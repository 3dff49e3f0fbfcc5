import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const IMAGES = join(ROOT, 'fixtures', 'images');
export const E2E = join(ROOT, 'fixtures', 'beit3-ref', 'e2e');

export interface RawTensor {
  dtype: string;
  shape: number[];
  bytes: Uint8Array;
}

/** Minimal safetensors reader for the fixtures (keeps these tests independent of src/io). */
export function readSafetensors(path: string): Map<string, RawTensor> {
  const buf = readFileSync(path);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<
    string,
    { dtype: string; shape: number[]; data_offsets: [number, number] }
  >;
  const out = new Map<string, RawTensor>();
  for (const [name, e] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const [b, f] = e.data_offsets;
    out.set(name, { dtype: e.dtype, shape: e.shape, bytes: new Uint8Array(buf.subarray(8 + n + b, 8 + n + f)) });
  }
  return out;
}

export function asFloat32(t: RawTensor): Float32Array {
  const copy = t.bytes.slice();
  return new Float32Array(copy.buffer, 0, copy.length / 4);
}
