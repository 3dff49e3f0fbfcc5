/**
 * Several files in one fuzz input, for parsers that read a folder (index folders, a model plus
 * its external data, a config plus its labels file). Each file is `\0@@<name>\n<bytes>`; byte
 * mutations keep most of the structure, so the fuzzer explores each file's contents.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const MARK = [0, 0x40, 0x40]; // "\0@@"
const enc = new TextEncoder();

export function packFiles(files: Record<string, string | Uint8Array>): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const [name, data] of Object.entries(files)) {
    parts.push(new Uint8Array([...MARK, ...enc.encode(`${name}\n`)]));
    parts.push(typeof data === 'string' ? enc.encode(data) : data);
  }
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Splits a bundle; names are reduced to safe file names (no folders, no dot-dot). */
export function unpackFiles(b: Uint8Array): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  const starts: number[] = [];
  for (let i = 0; i + 2 < b.length; i++) if (b[i] === 0 && b[i + 1] === 0x40 && b[i + 2] === 0x40) starts.push(i);
  for (let k = 0; k < starts.length; k++) {
    const s = starts[k] + 3;
    const end = k + 1 < starts.length ? starts[k + 1] : b.length;
    const nl = b.indexOf(0x0a, s);
    if (nl < 0 || nl >= end) continue;
    const name = new TextDecoder().decode(b.subarray(s, nl)).replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_').slice(0, 64);
    if (name) files.set(name, b.subarray(nl + 1, end));
  }
  return files;
}

/** Writes a bundle's files into `dir`; returns their names. */
export function writeBundle(dir: string, b: Uint8Array): string[] {
  mkdirSync(dir, { recursive: true });
  const files = unpackFiles(b);
  for (const [name, data] of files) writeFileSync(join(dir, name), data);
  return [...files.keys()];
}
