// SentencePiece's text normalizer, byte-exact with the official one (normalizer.cc):
// a precompiled character map (a darts-clone double-array trie over UTF-8 bytes whose leaves point at
// NUL-terminated replacement strings), longest-match rewriting, then whitespace handling
// (drop leading/trailing/repeated spaces, dummy prefix, escape ' ' as '▁').
import { SentencePieceModelError } from './errors.js';
import type { NormalizerSpec } from './model-proto.js';
import { utf8CharLength } from './utf8.js';

export const SPACE_SYMBOL = '\u2581';
const SPACE_SYMBOL_BYTES = [0xe2, 0x96, 0x81];
const REPLACEMENT_CHAR_BYTES = [0xef, 0xbf, 0xbd];
const SPACE = 0x20;

/** darts-clone double array (`Darts::DoubleArray`), read-only: only common-prefix search is needed. */
export class DoubleArrayTrie {
  constructor(private readonly units: Uint32Array) {}

  /** Longest key that is a prefix of bytes[start..end): returns [value, length] or null. */
  longestPrefix(bytes: Uint8Array, start: number, end: number): [number, number] | null {
    const units = this.units;
    if (units.length === 0) return null;
    let unit = units[0];
    let pos = offsetOf(unit);
    let best: [number, number] | null = null;
    for (let i = start; i < end; i++) {
      const c = bytes[i];
      pos ^= c;
      if (pos >= units.length) return best;
      unit = units[pos];
      // label() keeps the top bit too, so a leaf unit never compares equal to a byte.
      if ((unit & 0x800000ff) >>> 0 !== c) return best;
      pos ^= offsetOf(unit);
      if ((unit >>> 8) & 1) {
        if (pos >= units.length) return best;
        best = [units[pos] & 0x7fffffff, i + 1 - start];
      }
    }
    return best;
  }
}

function offsetOf(unit: number): number {
  return (unit >>> 10) << ((unit & (1 << 9)) >>> 6);
}

/** The precompiled charsmap blob: uint32 LE trie size, the trie units, then the replacement strings. */
export class CharsMap {
  readonly trie: DoubleArrayTrie;
  readonly strings: Uint8Array;

  constructor(blob: Uint8Array) {
    if (blob.length < 4)
      throw new SentencePieceModelError(`precompiled_charsmap: ${blob.length} bytes, need at least 4`);
    const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
    const trieSize = view.getUint32(0, true);
    if (trieSize % 4 !== 0 || 4 + trieSize > blob.length)
      throw new SentencePieceModelError(
        `precompiled_charsmap: trie size ${trieSize} does not fit the ${blob.length}-byte blob (or is not a multiple of 4)`,
      );
    const units = new Uint32Array(trieSize / 4);
    for (let i = 0; i < units.length; i++) units[i] = view.getUint32(4 + 4 * i, true);
    this.trie = new DoubleArrayTrie(units);
    this.strings = blob.subarray(4 + trieSize);
  }

  /** Replacement bytes stored at `offset` (NUL-terminated). */
  replacement(offset: number): Uint8Array {
    const s = this.strings;
    if (offset >= s.length)
      throw new SentencePieceModelError(
        `precompiled_charsmap: string offset ${offset} out of range (${s.length})`,
      );
    let end = offset;
    while (end < s.length && s[end] !== 0) end++;
    return s.subarray(offset, end);
  }
}

/** Growable byte buffer (normalization can expand the input, e.g. ligatures and ﷺ). */
class ByteBuilder {
  buf: Uint8Array;
  len = 0;
  constructor(capacity: number) {
    this.buf = new Uint8Array(Math.max(16, capacity));
  }
  push(b: number): void {
    if (this.len === this.buf.length) this.grow(1);
    this.buf[this.len++] = b;
  }
  pushAll(bytes: ArrayLike<number>): void {
    if (this.len + bytes.length > this.buf.length) this.grow(bytes.length);
    for (let i = 0; i < bytes.length; i++) this.buf[this.len++] = bytes[i];
  }
  endsWith(bytes: readonly number[]): boolean {
    if (this.len < bytes.length) return false;
    for (let i = 0; i < bytes.length; i++)
      if (this.buf[this.len - bytes.length + i] !== bytes[i]) return false;
    return true;
  }
  private grow(extra: number): void {
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.len + extra));
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }
  bytes(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }
}

/** Byte-level prefix matcher for user-defined symbols (they pass through normalization unchanged). */
export class BytePrefixMatcher {
  private readonly root = new Map<number, unknown>();
  private static readonly END = -1;

  constructor(words: Iterable<string>) {
    const enc = new TextEncoder();
    for (const w of words) {
      let node = this.root;
      for (const b of enc.encode(w)) {
        let next = node.get(b) as Map<number, unknown> | undefined;
        if (!next) node.set(b, (next = new Map()));
        node = next;
      }
      node.set(BytePrefixMatcher.END, true);
    }
  }

  get empty(): boolean {
    return this.root.size === 0;
  }

  /** Length in bytes of the longest symbol starting at `start`, or 0. */
  match(bytes: Uint8Array, start: number): number {
    let node: Map<number, unknown> | undefined = this.root;
    let best = 0;
    for (let i = start; i < bytes.length && node; i++) {
      node = node.get(bytes[i]) as Map<number, unknown> | undefined;
      if (node?.has(BytePrefixMatcher.END)) best = i + 1 - start;
    }
    return best;
  }
}

export interface NormalizerOptions {
  treatWhitespaceAsSuffix?: boolean;
  userDefinedSymbols?: Iterable<string>;
}

export class Normalizer {
  private readonly charsMap: CharsMap | null;
  private readonly addDummyPrefix: boolean;
  private readonly removeExtraWhitespaces: boolean;
  private readonly escapeWhitespaces: boolean;
  private readonly treatWhitespaceAsSuffix: boolean;
  private readonly userSymbols: BytePrefixMatcher;

  constructor(spec: NormalizerSpec, options: NormalizerOptions = {}) {
    // proto2 defaults: all three flags are true when the file does not set them.
    this.addDummyPrefix = spec.addDummyPrefix ?? true;
    this.removeExtraWhitespaces = spec.removeExtraWhitespaces ?? true;
    this.escapeWhitespaces = spec.escapeWhitespaces ?? true;
    this.treatWhitespaceAsSuffix = options.treatWhitespaceAsSuffix ?? false;
    const blob = spec.precompiledCharsmap;
    this.charsMap = blob && blob.length > 0 ? new CharsMap(blob) : null;
    this.userSymbols = new BytePrefixMatcher(options.userDefinedSymbols ?? []);
  }

  /**
   * Normalizes the prefix of bytes[start..]: returns [replacement bytes, consumed byte count].
   * User symbols are kept as is; then the charsmap's longest match; otherwise one UTF-8 character
   * copied (an invalid byte becomes U+FFFD).
   */
  private normalizePrefix(bytes: Uint8Array, start: number): [ArrayLike<number>, number] {
    if (!this.userSymbols.empty) {
      const n = this.userSymbols.match(bytes, start);
      if (n > 0) return [bytes.subarray(start, start + n), n];
    }
    if (this.charsMap) {
      const hit = this.charsMap.trie.longestPrefix(bytes, start, bytes.length);
      if (hit) return [this.charsMap.replacement(hit[0]), hit[1]];
    }
    const n = validUtf8CharLength(bytes, start);
    if (n === 0) return [REPLACEMENT_CHAR_BYTES, 1];
    return [bytes.subarray(start, start + n), n];
  }

  /** Normalizes UTF-8 bytes (what the model segments). Linear in the input length. */
  normalizeBytes(input: Uint8Array): Uint8Array {
    let pos = 0;
    const end = input.length;
    if (end === 0) return new Uint8Array(0);

    if (!this.treatWhitespaceAsSuffix && this.removeExtraWhitespaces) {
      // Skip leading characters that normalize to exactly one space.
      while (pos < end) {
        const [rep, n] = this.normalizePrefix(input, pos);
        if (!(rep.length === 1 && rep[0] === SPACE)) break;
        pos += n;
      }
    }
    if (pos === end) return new Uint8Array(0);

    const out = new ByteBuilder(Math.ceil((end - pos) * 1.2) + 8);
    const space = this.escapeWhitespaces ? SPACE_SYMBOL_BYTES : [SPACE];
    if (this.addDummyPrefix && !this.treatWhitespaceAsSuffix) out.pushAll(space);

    let isPrevSpace = this.removeExtraWhitespaces;
    while (pos < end) {
      const [rep, n] = this.normalizePrefix(input, pos);
      let i = 0;
      // Drop spaces at the start of a replacement when the previous output was a space.
      if (isPrevSpace) while (i < rep.length && rep[i] === SPACE) i++;
      if (i < rep.length) {
        for (; i < rep.length; i++) {
          if (this.escapeWhitespaces && rep[i] === SPACE) out.pushAll(SPACE_SYMBOL_BYTES);
          else out.push(rep[i]);
        }
        isPrevSpace = rep[rep.length - 1] === SPACE;
      }
      pos += n;
      if (!this.removeExtraWhitespaces) isPrevSpace = false;
    }

    if (this.removeExtraWhitespaces) while (out.endsWith(space)) out.len -= space.length;
    if (this.addDummyPrefix && this.treatWhitespaceAsSuffix) out.pushAll(space);
    return out.bytes();
  }

  normalize(text: string): string {
    return new TextDecoder().decode(this.normalizeBytes(new TextEncoder().encode(text)));
  }
}

/** Length of the valid UTF-8 character at bytes[i], or 0 when the bytes there are not valid UTF-8. */
function validUtf8CharLength(bytes: Uint8Array, i: number): number {
  const c = bytes[i];
  const n = utf8CharLength(c);
  if (c >= 0x80 && c < 0xc2) return 0;
  if (c > 0xf4) return 0;
  if (i + n > bytes.length) return 0;
  for (let k = 1; k < n; k++) if ((bytes[i + k] & 0xc0) !== 0x80) return 0;
  if (n === 3) {
    const cp = ((c & 0x0f) << 12) | ((bytes[i + 1] & 0x3f) << 6) | (bytes[i + 2] & 0x3f);
    if (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  } else if (n === 4) {
    const cp =
      ((c & 0x07) << 18) |
      ((bytes[i + 1] & 0x3f) << 12) |
      ((bytes[i + 2] & 0x3f) << 6) |
      (bytes[i + 3] & 0x3f);
    if (cp < 0x10000 || cp > 0x10ffff) return 0;
  }
  return n;
}
