import { closeSync, readSync } from 'node:fs';
import * as zlib from 'node:zlib';
import { inflateSync } from 'fflate';
import { Beit3Error } from '../util/errors.js';
import { openInputSync } from '../util/read.node.js';

/**
 * Random-access zip reader for PyTorch checkpoints. fflate's `unzipSync` needs the whole archive
 * in one buffer (impossible beyond 2 GiB in Node, and it copies every entry), so the central
 * directory is read here and each entry is fetched on demand from a file handle; fflate only
 * inflates DEFLATE entries (torch writes STORED ones). Every size and offset is bounds-checked.
 */

export class ZipError extends Beit3Error {
  override name = 'ZipError';
}

/** Random access to bytes: an in-memory array or an open file. */
export interface ByteSource {
  readonly size: number;
  /** Returns exactly `length` bytes at `offset` (a fresh buffer for files, a view for arrays). */
  read(offset: number, length: number): Uint8Array;
  close(): void;
}

export function bytesSource(bytes: Uint8Array): ByteSource {
  return {
    size: bytes.length,
    read(offset, length) {
      if (offset < 0 || length < 0 || offset + length > bytes.length)
        throw new ZipError(`read of ${length} bytes at ${offset} is outside the ${bytes.length}-byte input`);
      return bytes.subarray(offset, offset + length);
    },
    close() {},
  };
}

export function fileSource(path: string): ByteSource {
  // regular files only (typed InputFileError otherwise): a FIFO would block, a device never ends
  const { fd, size } = openInputSync(path, 'checkpoint');
  let open = true;
  return {
    size,
    read(offset, length) {
      if (!open) throw new ZipError(`${path}: file is closed`);
      if (offset < 0 || length < 0 || offset + length > size)
        throw new ZipError(`${path}: read of ${length} bytes at ${offset} is outside the ${size}-byte file`);
      const out = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const n = readSync(fd, out, done, Math.min(length - done, 1 << 30), offset + done);
        if (n === 0) throw new ZipError(`${path}: unexpected end of file at byte ${offset + done}`);
        done += n;
      }
      return out;
    },
    close() {
      if (open) closeSync(fd);
      open = false;
    },
  };
}

export interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  crc32: number;
  localHeaderOffset: number;
}

const SIG_EOCD = 0x06054b50;
const SIG_EOCD64 = 0x06064b50;
const SIG_EOCD64_LOCATOR = 0x07064b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_LOCAL = 0x04034b50;

function u64(view: DataView, at: number, what: string): number {
  const v = view.getBigUint64(at, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ZipError(`${what} ${v} is too large`);
  return Number(v);
}

export class ZipReader {
  readonly entries = new Map<string, ZipEntry>();

  constructor(
    readonly source: ByteSource,
    readonly name = '<zip>',
  ) {
    this.readCentralDirectory();
  }

  private fail(msg: string): never {
    throw new ZipError(`${this.name}: ${msg}`);
  }

  private readCentralDirectory(): void {
    const size = this.source.size;
    if (size < 22) this.fail(`${size} bytes is too short for a zip archive (truncated?)`);
    // The end-of-central-directory record sits in the last 22 + up to 65535 (comment) bytes.
    const tailLen = Math.min(size, 22 + 0xffff);
    const tail = this.source.read(size - tailLen, tailLen);
    const tv = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
    let eocd = -1;
    for (let i = tailLen - 22; i >= 0; i--) {
      if (tv.getUint32(i, true) === SIG_EOCD && i + 22 + tv.getUint16(i + 20, true) === tailLen) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) this.fail('no end-of-central-directory record (not a zip archive, or truncated)');
    let count = tv.getUint16(eocd + 10, true);
    let cdSize = tv.getUint32(eocd + 12, true);
    let cdOffset = tv.getUint32(eocd + 16, true);
    if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
      // Zip64: the locator just before the EOCD points at the zip64 EOCD record.
      const locAt = eocd - 20;
      if (locAt < 0 || tv.getUint32(locAt, true) !== SIG_EOCD64_LOCATOR) this.fail('zip64 locator missing');
      const recOffset = u64(tv, locAt + 8, 'zip64 record offset');
      if (recOffset + 56 > size) this.fail('zip64 end record is outside the file');
      const rec = this.source.read(recOffset, 56);
      const rv = new DataView(rec.buffer, rec.byteOffset, 56);
      if (rv.getUint32(0, true) !== SIG_EOCD64) this.fail('bad zip64 end record signature');
      count = u64(rv, 32, 'entry count');
      cdSize = u64(rv, 40, 'central directory size');
      cdOffset = u64(rv, 48, 'central directory offset');
    }
    if (cdOffset + cdSize > size)
      this.fail(`central directory [${cdOffset}, +${cdSize}) is outside the ${size}-byte file (truncated?)`);
    const cd = this.source.read(cdOffset, cdSize);
    const v = new DataView(cd.buffer, cd.byteOffset, cd.byteLength);
    let p = 0;
    const utf8 = new TextDecoder('utf-8', { fatal: false });
    for (let i = 0; i < count; i++) {
      if (p + 46 > cdSize || v.getUint32(p, true) !== SIG_CENTRAL)
        this.fail(`central directory entry ${i} is corrupt`);
      const flags = v.getUint16(p + 8, true);
      const method = v.getUint16(p + 10, true);
      const crc32 = v.getUint32(p + 16, true);
      let compressedSize = v.getUint32(p + 20, true);
      let uncompressed = v.getUint32(p + 24, true);
      const nameLen = v.getUint16(p + 28, true);
      const extraLen = v.getUint16(p + 30, true);
      const commentLen = v.getUint16(p + 32, true);
      let localHeaderOffset = v.getUint32(p + 42, true);
      if (p + 46 + nameLen + extraLen + commentLen > cdSize)
        this.fail(`central directory entry ${i} runs past the directory`);
      const name = utf8.decode(cd.subarray(p + 46, p + 46 + nameLen));
      // Zip64 extra field (id 1) carries the 64-bit values whose 32-bit fields are saturated, in this order.
      let e = p + 46 + nameLen;
      const extraEnd = e + extraLen;
      while (e + 4 <= extraEnd) {
        const id = v.getUint16(e, true);
        const len = v.getUint16(e + 2, true);
        if (e + 4 + len > extraEnd) this.fail(`entry '${name}': extra field runs past its end`);
        if (id === 1) {
          let q = e + 4;
          const next = (what: string) => {
            if (q + 8 > e + 4 + len) this.fail(`entry '${name}': zip64 extra field too short`);
            const x = u64(v, q, what);
            q += 8;
            return x;
          };
          if (uncompressed === 0xffffffff) uncompressed = next('size');
          if (compressedSize === 0xffffffff) compressedSize = next('compressed size');
          if (localHeaderOffset === 0xffffffff) localHeaderOffset = next('offset');
        }
        e += 4 + len;
      }
      if (flags & 1) this.fail(`entry '${name}' is encrypted`);
      if (localHeaderOffset + 30 > size)
        this.fail(`entry '${name}': local header offset ${localHeaderOffset} is outside the file`);
      this.entries.set(name, { name, method, compressedSize, size: uncompressed, crc32, localHeaderOffset });
      p += 46 + nameLen + extraLen + commentLen;
    }
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** Reads and (if needed) inflates one entry, checking sizes and the CRC. */
  read(name: string): Uint8Array {
    const entry = this.entries.get(name);
    if (!entry) this.fail(`no entry '${name}'`);
    const size = this.source.size;
    const lh = this.source.read(entry.localHeaderOffset, 30);
    const lv = new DataView(lh.buffer, lh.byteOffset, 30);
    if (lv.getUint32(0, true) !== SIG_LOCAL) this.fail(`entry '${name}': bad local header signature`);
    // The local extra field may differ from the central one (torch pads data to 64 bytes there).
    const dataStart = entry.localHeaderOffset + 30 + lv.getUint16(26, true) + lv.getUint16(28, true);
    if (dataStart + entry.compressedSize > size)
      this.fail(
        `entry '${name}': data [${dataStart}, +${entry.compressedSize}) runs past the ${size}-byte file (truncated?)`,
      );
    const raw = this.source.read(dataStart, entry.compressedSize);
    let data: Uint8Array;
    if (entry.method === 0) {
      if (entry.compressedSize !== entry.size)
        this.fail(`entry '${name}': stored entry sizes differ (${entry.compressedSize} vs ${entry.size})`);
      data = raw;
    } else if (entry.method === 8) {
      // DEFLATE cannot expand more than ~1032x: a larger claimed size is a corrupt or hostile header.
      if (entry.size > entry.compressedSize * 1032 + 1024)
        this.fail(
          `entry '${name}': claims ${entry.size} bytes from ${entry.compressedSize} compressed (impossible ratio)`,
        );
      try {
        data = inflateSync(raw, { out: new Uint8Array(entry.size) });
      } catch (e) {
        this.fail(`entry '${name}': cannot inflate (${(e as Error).message})`);
      }
      if (data.length !== entry.size)
        this.fail(`entry '${name}': inflated to ${data.length} bytes, expected ${entry.size}`);
    } else {
      this.fail(`entry '${name}': unsupported compression method ${entry.method}`);
    }
    const crc = (zlib as unknown as { crc32?: (d: Uint8Array) => number }).crc32;
    if (crc && crc(data) >>> 0 !== entry.crc32 >>> 0)
      this.fail(`entry '${name}': CRC mismatch (corrupt data)`);
    return data;
  }

  close(): void {
    this.source.close();
  }
}
