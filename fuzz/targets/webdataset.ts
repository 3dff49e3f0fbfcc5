import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import * as fc from 'fast-check';
import { decodeWdsSample, readWebDataset } from '../../src/data/readers/webdataset.js';
import { expect, type FuzzTarget } from '../lib/target.js';

/** A ustar archive from (name, data) members, written by hand so headers can lie. */
export function tarOf(members: [string, Uint8Array][], opts: { sizeOverride?: number; type?: string } = {}): Uint8Array {
  const blocks: Uint8Array[] = [];
  for (const [name, data] of members) {
    const h = new Uint8Array(512);
    h.set(new TextEncoder().encode(name.slice(0, 100)), 0);
    const oct = (v: number, at: number, len: number) => h.set(new TextEncoder().encode(v.toString(8).padStart(len - 1, '0').slice(-(len - 1)) + '\0'), at);
    oct(0o644, 100, 8);
    oct(0, 108, 8);
    oct(0, 116, 8);
    oct(opts.sizeOverride ?? data.length, 124, 12);
    oct(0, 136, 12);
    h[156] = (opts.type ?? '0').charCodeAt(0);
    h.set(new TextEncoder().encode('ustar\x0000'), 257);
    h.fill(0x20, 148, 156);
    let sum = 0;
    for (const b of h) sum += b;
    h.set(new TextEncoder().encode(sum.toString(8).padStart(6, '0') + '\0 '), 148);
    blocks.push(h);
    const body = new Uint8Array(Math.ceil(data.length / 512) * 512);
    body.set(data);
    blocks.push(body);
  }
  blocks.push(new Uint8Array(1024));
  const out = new Uint8Array(blocks.reduce((s, b) => s + b.length, 0));
  let o = 0;
  for (const b of blocks) {
    out.set(b, o);
    o += b.length;
  }
  return out;
}

const enc = new TextEncoder();

export const target: FuzzTarget = {
  name: 'webdataset',
  entry: 'readWebDataset (tar / tar.gz shards via tar-stream) and decodeWdsSample',
  async run(input, { dir }) {
    // first byte picks plain or gzipped shard, so the gunzip path is fuzzed too
    const gz = (input[0] ?? 0) & 1;
    const path = join(dir, gz ? 'shard.tar.gz' : 'shard.tar');
    writeFileSync(path, input.subarray(1));
    for await (const s of readWebDataset(path)) {
      expect(typeof s.__key__ === 'string', 'sample key');
      decodeWdsSample(s);
    }
  },
  seeds() {
    const tar = tarOf([
      ['000.jpg', enc.encode('not really a jpeg')],
      ['000.txt', enc.encode('a caption')],
      ['000.cls', enc.encode('3')],
      ['001.json', enc.encode('{"a": 1}')],
      ['001.txt', enc.encode('second')],
    ]);
    return [Uint8Array.from([0, ...tar]), Uint8Array.from([1, ...gzipSync(tar)])];
  },
  hostile: () =>
    fc.oneof(
      fc.constantFrom(2 ** 33 - 1, 0o77777777777, 1 << 30).map((n) => Uint8Array.from([0, ...tarOf([['a.txt', enc.encode('x')]], { sizeOverride: n })])),
      fc.constantFrom('1', '2', '5', 'L', 'x', 'g').map((t) => Uint8Array.from([0, ...tarOf([['a.txt', enc.encode('target')]], { type: t })])),
      fc.integer({ min: 1, max: 1 << 22 }).map((n) => Uint8Array.from([1, ...gzipSync(new Uint8Array(n))])),
    ),
  dict: ['ustar\x0000', 'ustar  \x00', '.txt', '.cls', '.json', '.jpg', '././@LongLink', '00000000000\x00'],
  maxLen: 16384,
};
