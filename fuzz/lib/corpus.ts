/** Corpus folders: fuzz/<target>/ (committed: seeds + every input that found a bug). */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const FUZZ_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export const corpusDir = (target: string) => join(FUZZ_ROOT, target);

export function readCorpus(dir: string): { name: string; bytes: Uint8Array }[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((n) => !n.startsWith('.') && statSync(join(dir, n)).isFile() && !n.endsWith('.md'))
    .sort()
    .map((name) => ({ name, bytes: new Uint8Array(readFileSync(join(dir, name))) }));
}

export const sha1 = (b: Uint8Array) => createHash('sha1').update(b).digest('hex').slice(0, 16);

/** Writes `bytes` as `<prefix>-<sha1>` in `dir` (idempotent); returns the path. */
export function saveInput(dir: string, prefix: string, bytes: Uint8Array): string {
  mkdirSync(dir, { recursive: true });
  const p = join(dir, `${prefix}-${sha1(bytes)}`);
  if (!existsSync(p)) writeFileSync(p, bytes);
  return p;
}
