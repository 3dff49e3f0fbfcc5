import { createHash } from 'node:crypto';
import { Beit3Error } from '../util/errors.js';
import { Rng } from '../util/random.js';

/** Typed errors so the CLI can print one clear line. */
export class CorpusError extends Beit3Error {
  override name = 'CorpusError';
}
export class SourceUnavailableError extends CorpusError {
  override name = 'SourceUnavailableError';
}
export class SourceFormatError extends CorpusError {
  override name = 'SourceFormatError';
}

export function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** A fixed hash of a string to [0, 1): the same on every machine and every run. */
export function unitHash(salt: string, value: string): number {
  const h = createHash('sha256').update(`${salt}\u0000${value}`).digest();
  return h.readUInt32BE(0) / 0x1_0000_0000;
}

/**
 * Seeded PRNG for task generation: the same seed gives the same corpus. The one util Rng
 * (mulberry32, pinned by corpus determinism), seeded by the first 32 bits of sha256(seed).
 */
export function rng(seed: string): () => number {
  const r = new Rng(createHash('sha256').update(seed).digest().readUInt32BE(0), 'mulberry32');
  return () => r.next();
}

export function pick<T>(rand: () => number, items: readonly T[]): T {
  return items[Math.floor(rand() * items.length)]!;
}

/** Lowercase, collapse whitespace: the form under which captions are compared. */
export function normalizeText(s: string): string {
  return s.toLowerCase().replace(/\s+/g, ' ').trim();
}

export function jsonl(rows: readonly unknown[]): string {
  return rows.map((r) => JSON.stringify(r)).join('\n') + (rows.length ? '\n' : '');
}

export function uniq<T>(xs: Iterable<T>): T[] {
  return [...new Set(xs)];
}

/** Disjoint-set forest over string keys (identity grouping). */
export class UnionFind {
  private parent = new Map<string, string>();
  find(x: string): string {
    let p = this.parent.get(x);
    if (p === undefined) {
      this.parent.set(x, x);
      return x;
    }
    while (p !== x) {
      const gp = this.parent.get(p)!;
      this.parent.set(x, gp);
      x = p;
      p = this.parent.get(x)!;
    }
    return x;
  }
  union(a: string, b: string): void {
    const ra = this.find(a);
    const rb = this.find(b);
    // Smaller key becomes the root so that the result does not depend on union order.
    if (ra === rb) return;
    if (ra < rb) this.parent.set(rb, ra);
    else this.parent.set(ra, rb);
  }
}
