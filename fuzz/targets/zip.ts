import { deflateSync } from 'node:zlib';
import * as fc from 'fast-check';
import { bytesSource, ZipReader } from '../../src/io/zip.js';
import type { FuzzTarget } from '../lib/target.js';
import { runPth, seedArchives } from './pth.js';

/** A one-entry zip whose central directory claims `size` / `csize` (lies allowed), DEFLATE or STORED. */
export function lyingZip(data: Uint8Array, opts: { deflate: boolean; size?: number; csize?: number; name?: string }): Uint8Array {
  const name = new TextEncoder().encode(opts.name ?? 'archive/data.pkl');
  const body = opts.deflate ? new Uint8Array(deflateSync(data, { level: 9 })) : data;
  const size = opts.size ?? data.length;
  const csize = opts.csize ?? body.length;
  const local = new Uint8Array(30 + name.length);
  const lv = new DataView(local.buffer);
  lv.setUint32(0, 0x04034b50, true);
  lv.setUint16(8, opts.deflate ? 8 : 0, true);
  lv.setUint32(18, csize >>> 0, true);
  lv.setUint32(22, size >>> 0, true);
  lv.setUint16(26, name.length, true);
  local.set(name, 30);
  const cd = new Uint8Array(46 + name.length);
  const cv = new DataView(cd.buffer);
  cv.setUint32(0, 0x02014b50, true);
  cv.setUint16(10, opts.deflate ? 8 : 0, true);
  cv.setUint32(20, csize >>> 0, true);
  cv.setUint32(24, size >>> 0, true);
  cv.setUint16(28, name.length, true);
  cv.setUint32(42, 0, true);
  cd.set(name, 46);
  const eocd = new Uint8Array(22);
  const ev = new DataView(eocd.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, 1, true);
  ev.setUint16(10, 1, true);
  ev.setUint32(12, cd.length, true);
  ev.setUint32(16, local.length + body.length, true);
  const out = new Uint8Array(local.length + body.length + cd.length + eocd.length);
  out.set(local, 0);
  out.set(body, local.length);
  out.set(cd, local.length + body.length);
  out.set(eocd, local.length + body.length + cd.length);
  return out;
}

export const target: FuzzTarget = {
  name: 'zip',
  entry: 'ZipReader (central directory, zip64, local headers, inflate, CRC) then parsePth/loadPth',
  async run(input, ctx) {
    // every entry read directly, so entries the .pth reader would never touch are covered too
    let zip: ZipReader | undefined;
    try {
      zip = new ZipReader(bytesSource(input), '<fuzz>');
      for (const name of zip.entries.keys()) zip.read(name);
    } catch (e) {
      void e; // the typed-error contract is checked on the .pth path below, which hits the same code
    } finally {
      zip?.close();
    }
    await runPth(input, ctx.dir);
  },
  seeds: seedArchives,
  hostile: () =>
    fc.oneof(
      // zip bomb: a megabyte of zeros claimed to inflate to much more (or much less) than it does
      fc.tuple(fc.integer({ min: 1, max: 1 << 20 }), fc.constantFrom(0, 1, 2 ** 31, 2 ** 32 - 1)).map(([n, claim]) =>
        lyingZip(new Uint8Array(n), { deflate: true, size: claim || undefined }),
      ),
      // understated size: header says a few bytes, the stream inflates to far more
      fc.integer({ min: 1 << 10, max: 1 << 22 }).map((n) => lyingZip(new Uint8Array(n), { deflate: true, size: 16 })),
      // stored entry whose two sizes disagree or run past the file
      fc.tuple(fc.uint8Array({ maxLength: 64 }), fc.nat(2 ** 32 - 1)).map(([d, s]) => lyingZip(d, { deflate: false, size: s, csize: s })),
    ),
  dict: ['PK\x03\x04', 'PK\x01\x02', 'PK\x05\x06', 'PK\x06\x06', 'PK\x06\x07', '\xff\xff\xff\xff', '\x08\x00', '\x01\x00\x1c\x00'],
  maxLen: 16384,
};
