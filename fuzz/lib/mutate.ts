/**
 * libFuzzer-style byte mutators: bit flips, interesting integers (sizes, offsets, counts), numbers
 * inside text replaced by hostile ones, block insert/delete/duplicate, splicing with another
 * corpus entry and dictionary tokens. Hand-written because no maintained npm package offers a
 * mutation engine for JavaScript (jazzer.js's native part cannot load here, see docs/reliability.md).
 */
import type { Rng } from '../../src/util/random.js';

const enc = new TextEncoder();

/** Integers that break size/offset arithmetic: 0, ±1, powers of two around type limits, MAX_SAFE. */
const INTERESTING = [
  0, 1, 2, 3, 7, 8, 15, 16, 31, 32, 63, 64, 127, 128, 255, 256, 0x7fff, 0x8000, 0xffff, 0x10000,
  0x7fffffff, 0x80000000, 0xffffffff, 2 ** 32, 2 ** 40, 2 ** 53 - 1,
];

/** Replacements for numbers found in text inputs (JSON, argv, configs). */
const HOSTILE_NUMBERS = [
  '0', '-0', '-1', '1e9', '1e308', '-1e308', '1e-320', '2147483648', '4294967296', '9007199254740993',
  '1000000000', 'NaN', 'Infinity', '-Infinity', '0.5', '1e400', '"1"', 'null', 'true', '[]', '{}',
];

export interface MutateOptions {
  maxLen: number;
  dict: readonly Uint8Array[];
  /** Other corpus entries for splicing. */
  pool: () => Uint8Array | undefined;
}

function writeInt(b: Uint8Array, at: number, v: number, width: number, big: boolean): void {
  for (let i = 0; i < width && at + i < b.length; i++) {
    const shift = big ? width - 1 - i : i;
    b[at + i] = Math.floor(v / 2 ** (8 * shift)) & 0xff;
  }
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const n = parts.reduce((s, p) => s + p.length, 0);
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

type Mutator = (b: Uint8Array, r: Rng, o: MutateOptions) => Uint8Array;

const MUTATORS: Mutator[] = [
  // flip one bit
  (b, r) => {
    if (!b.length) return b;
    const c = b.slice();
    c[r.int(c.length)] ^= 1 << r.int(8);
    return c;
  },
  // random byte
  (b, r) => {
    if (!b.length) return b;
    const c = b.slice();
    c[r.int(c.length)] = r.int(256);
    return c;
  },
  // interesting integer, 1/2/4/8 bytes, either endianness
  (b, r) => {
    if (!b.length) return b;
    const c = b.slice();
    const width = [1, 2, 4, 8][r.int(4)];
    let v = INTERESTING[r.int(INTERESTING.length)];
    if (r.int(4) === 0) v = Math.max(0, v - 1);
    writeInt(c, r.int(c.length), v, width, r.int(2) === 0);
    return c;
  },
  // add/subtract a small delta to a byte (sizes off by one)
  (b, r) => {
    if (!b.length) return b;
    const c = b.slice();
    const i = r.int(c.length);
    c[i] = (c[i] + (r.int(2) ? 1 : 255) * (1 + r.int(4))) & 0xff;
    return c;
  },
  // delete a block
  (b, r) => {
    if (b.length < 2) return b;
    const at = r.int(b.length);
    const n = 1 + r.int(Math.min(b.length - at, 64));
    return concat(b.subarray(0, at), b.subarray(at + n));
  },
  // duplicate a block in place (repeated records, nested structures)
  (b, r) => {
    if (!b.length) return b;
    const at = r.int(b.length);
    const n = 1 + r.int(Math.min(b.length - at, 128));
    return concat(b.subarray(0, at + n), b.subarray(at, at + n), b.subarray(at + n));
  },
  // insert random bytes
  (b, r) => {
    const ins = new Uint8Array(1 + r.int(16));
    for (let i = 0; i < ins.length; i++) ins[i] = r.int(256);
    const at = r.int(b.length + 1);
    return concat(b.subarray(0, at), ins, b.subarray(at));
  },
  // copy a block over another place
  (b, r) => {
    if (b.length < 2) return b;
    const c = b.slice();
    const from = r.int(b.length);
    const to = r.int(b.length);
    const n = 1 + r.int(Math.min(b.length - Math.max(from, to), 64));
    c.set(b.subarray(from, from + n), to);
    return c;
  },
  // dictionary token inserted or overwritten
  (b, r, o) => {
    if (!o.dict.length) return b;
    const t = o.dict[r.int(o.dict.length)];
    const at = r.int(b.length + 1);
    if (r.int(2)) return concat(b.subarray(0, at), t, b.subarray(at));
    const c = concat(b.subarray(0, at), t, b.subarray(Math.min(b.length, at + t.length)));
    return c;
  },
  // a decimal number in the input replaced by a hostile one (configs, JSON, argv)
  (b, r) => {
    const s = new TextDecoder('latin1').decode(b);
    const spans = [...s.matchAll(/-?\d+(\.\d+)?(e[+-]?\d+)?/gi)];
    if (!spans.length) return b;
    const m = spans[r.int(spans.length)];
    const rep = enc.encode(HOSTILE_NUMBERS[r.int(HOSTILE_NUMBERS.length)]);
    return concat(b.subarray(0, m.index!), rep, b.subarray(m.index! + m[0].length));
  },
  // splice: head of this input + tail of another corpus entry
  (b, r, o) => {
    const other = o.pool();
    if (!other || !other.length) return b;
    const at = r.int(b.length + 1);
    const from = r.int(other.length);
    return concat(b.subarray(0, at), other.subarray(from));
  },
  // truncate
  (b, r) => (b.length ? b.subarray(0, r.int(b.length)) : b),
];

/** 1–6 stacked mutations of `input`, capped at `maxLen` bytes. */
export function mutate(input: Uint8Array, r: Rng, o: MutateOptions): Uint8Array {
  let b = input;
  const n = 1 + r.int(6);
  for (let i = 0; i < n; i++) b = MUTATORS[r.int(MUTATORS.length)](b, r, o);
  return b.length > o.maxLen ? b.subarray(0, o.maxLen) : b;
}

export const toBytes = (s: string | Uint8Array): Uint8Array => (typeof s === 'string' ? enc.encode(s) : s);
