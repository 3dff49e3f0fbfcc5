/**
 * PyTorch `.pth` writer: the torch.save zip layout (torch >= 1.6) that
 * `torch.load(path, weights_only=True)` reads, so a beit3 checkpoint continues in the official
 * PyTorch stack. Layout (as torch writes it):
 *
 *   <archive>/data.pkl      pickle protocol 2 of {modelKey: OrderedDict(key → tensor)} (or the bare dict)
 *   <archive>/byteorder     "little"
 *   <archive>/data/<i>      one storage per tensor, raw little-endian bytes, 64-byte aligned
 *   <archive>/version       "3\n"
 *
 * Tensors are pickled as `torch._utils._rebuild_tensor_v2(persistent_load(('storage',
 * torch.<T>Storage, '<i>', 'cpu', numel)), 0, size, stride, False, OrderedDict())`: only globals
 * in torch's weights_only allow-list. Entries are stored (no compression), as torch does.
 *
 * Hand-written zip: fflate (the zip library here) has neither zip64 (needed above 4 GiB, e.g. the
 * giant model) nor torch's 64-byte data alignment (needed by `torch.load(mmap=True)`).
 */
import { basename } from 'node:path';
import type { DType } from '../graph/dtype.js';
import type { Tensor } from '../graph/tensor.js';
import { PthError } from './pth.js';
import { withAtomicFile } from '../util/atomic.node.js';
import { AtomicWriteError } from '../util/errors.js';
import { stageReporter, type ProgressCallback } from '../util/progress.js';

const STORAGE_OF: Partial<Record<DType, string>> = {
  float32: 'FloatStorage',
  float16: 'HalfStorage',
  bfloat16: 'BFloat16Storage',
  float64: 'DoubleStorage',
  int64: 'LongStorage',
  int32: 'IntStorage',
  int8: 'CharStorage',
  uint8: 'ByteStorage',
  bool: 'BoolStorage',
};

export interface PthWriteOptions {
  /** Nest the state dict under this key (default 'model', the official checkpoints' layout); null = bare state dict. */
  modelKey?: string | null;
  /** Folder name inside the zip (torch uses the file's stem; default 'archive'). */
  archiveName?: string;
  /** Progress of the data written: stage 'write', done/total in bytes. */
  onProgress?: ProgressCallback;
  /** Testing only: write zip64 records for values at or above this (default 0xFFFFFFFF). */
  zip64Threshold?: number;
}

type TensorsLike = ReadonlyMap<string, Tensor> | Readonly<Record<string, Tensor>>;

function entriesOf(t: TensorsLike): [string, Tensor][] {
  return t instanceof Map ? [...t.entries()] : Object.entries(t as Record<string, Tensor>);
}

// ---------------------------------------------------------------------------------------------
// Pickle (protocol 2, the opcodes torch.save emits for a state dict)

class Pickler {
  private chunks: number[] = [];
  raw(...b: number[]): this {
    for (const x of b) this.chunks.push(x);
    return this;
  }
  op(c: string): this {
    return this.raw(c.charCodeAt(0));
  }
  str(s: string): this {
    const e = new TextEncoder().encode(s);
    this.raw(0x58, e.length & 255, (e.length >>> 8) & 255, (e.length >>> 16) & 255, e.length >>> 24);
    for (const x of e) this.chunks.push(x);
    return this;
  }
  int(n: number): this {
    if (!Number.isSafeInteger(n) || n < 0) throw new PthError(`pth write: cannot pickle ${n} as an index`);
    if (n < 256) return this.raw(0x4b, n);
    if (n < 0x8000_0000) return this.raw(0x4a, n & 255, (n >>> 8) & 255, (n >>> 16) & 255, n >>> 24);
    // LONG1: little-endian two's complement, with a 0 byte so the top bit reads as positive.
    const bytes: number[] = [];
    for (let x = n; x > 0; x = Math.floor(x / 256)) bytes.push(x % 256);
    if (bytes[bytes.length - 1] & 0x80) bytes.push(0);
    return this.raw(0x8a, bytes.length, ...bytes);
  }
  global(module: string, name: string): this {
    this.op('c');
    for (const x of new TextEncoder().encode(`${module}\n${name}\n`)) this.chunks.push(x);
    return this;
  }
  intTuple(xs: readonly number[]): this {
    if (xs.length === 0) return this.op(')');
    this.op('(');
    for (const x of xs) this.int(x);
    return this.op('t');
  }
  emptyOrderedDict(): this {
    return this.global('collections', 'OrderedDict').op(')').op('R');
  }
  tensor(storageKey: string, storage: string, t: Tensor): this {
    const shape = t.shape;
    const stride = new Array<number>(shape.length);
    for (let i = shape.length - 1, s = 1; i >= 0; i--) {
      stride[i] = s;
      s *= shape[i];
    }
    const numel = shape.reduce((a, b) => a * b, 1);
    this.global('torch._utils', '_rebuild_tensor_v2').op('(');
    this.op('(').str('storage').global('torch', storage).str(storageKey).str('cpu').int(numel).op('t').op('Q');
    this.int(0).intTuple(shape).intTuple(stride).raw(0x89);
    this.emptyOrderedDict();
    return this.op('t').op('R');
  }
  bytes(): Uint8Array {
    return Uint8Array.from(this.chunks);
  }
}

function pickleStateDict(list: [string, Tensor][], modelKey: string | null): Uint8Array {
  const p = new Pickler().raw(0x80, 2);
  if (modelKey !== null) p.op('}').str(modelKey);
  p.emptyOrderedDict();
  // SETITEMS in batches of 1000, like pickle's own batching (keeps the stack small).
  for (let i = 0; i < list.length; i += 1000) {
    p.op('(');
    list.slice(i, i + 1000).forEach(([k, t], j) => {
      const storage = STORAGE_OF[t.dtype];
      if (!storage) throw new PthError(`pth write: tensor "${k}" has dtype ${t.dtype}, which torch cannot store`);
      p.str(k).tensor(String(i + j), storage, t);
    });
    p.op('u');
  }
  if (modelKey !== null) p.op('s');
  return p.op('.').bytes();
}

// ---------------------------------------------------------------------------------------------
// Stored zip with 64-byte data alignment and zip64

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (zip's polynomial); Node 20's zlib has no crc32 yet. */
export function crc32(data: Uint8Array, crc = 0): number {
  let c = ~crc >>> 0;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]) & 255] ^ (c >>> 8);
  return ~c >>> 0;
}

interface Sink {
  write(b: Uint8Array): Promise<void>;
}

interface CentralRecord {
  name: Uint8Array;
  crc: number;
  size: number;
  offset: number;
}

const ALIGN = 64;

class ZipWriter {
  private pos = 0;
  private readonly records: CentralRecord[] = [];
  constructor(
    private readonly sink: Sink,
    private readonly big: number,
  ) {}

  private async put(b: Uint8Array): Promise<void> {
    await this.sink.write(b);
    this.pos += b.length;
  }

  /** One stored entry whose data is given as chunks (CRC computed over them first). */
  async entry(name: string, chunks: readonly Uint8Array[], onChunk?: (n: number) => void): Promise<void> {
    const nameBytes = new TextEncoder().encode(name);
    let crc = 0;
    let size = 0;
    for (const c of chunks) {
      crc = crc32(c, crc);
      size += c.length;
    }
    const offset = this.pos;
    const zip64 = size >= this.big;
    const z64Len = zip64 ? 20 : 0;
    // Pad with a 'FB' extra field so the data starts on a 64-byte boundary (as torch's writer does).
    const unpadded = offset + 30 + nameBytes.length + z64Len;
    let padLen = (ALIGN - (unpadded % ALIGN)) % ALIGN;
    if (padLen > 0 && padLen < 4) padLen += ALIGN;
    const h = new Uint8Array(30 + nameBytes.length + z64Len + padLen);
    const v = new DataView(h.buffer);
    v.setUint32(0, 0x04034b50, true);
    v.setUint16(4, zip64 ? 45 : 20, true);
    v.setUint16(6, 0x0800, true); // UTF-8 names
    v.setUint16(8, 0, true); // stored
    v.setUint32(14, crc, true);
    v.setUint32(18, zip64 ? 0xffffffff : size, true);
    v.setUint32(22, zip64 ? 0xffffffff : size, true);
    v.setUint16(26, nameBytes.length, true);
    v.setUint16(28, z64Len + padLen, true);
    h.set(nameBytes, 30);
    let e = 30 + nameBytes.length;
    if (zip64) {
      v.setUint16(e, 1, true);
      v.setUint16(e + 2, 16, true);
      v.setBigUint64(e + 4, BigInt(size), true);
      v.setBigUint64(e + 12, BigInt(size), true);
      e += 20;
    }
    if (padLen) {
      v.setUint16(e, 0x4246, true);
      v.setUint16(e + 2, padLen - 4, true);
    }
    await this.put(h);
    for (const c of chunks) {
      await this.put(c);
      onChunk?.(c.length);
    }
    this.records.push({ name: nameBytes, crc, size, offset });
  }

  async finish(): Promise<void> {
    const cdStart = this.pos;
    for (const r of this.records) {
      const sizes64 = r.size >= this.big;
      const off64 = r.offset >= this.big;
      const extraLen = sizes64 || off64 ? 4 + (sizes64 ? 16 : 0) + (off64 ? 8 : 0) : 0;
      const c = new Uint8Array(46 + r.name.length + extraLen);
      const v = new DataView(c.buffer);
      v.setUint32(0, 0x02014b50, true);
      v.setUint16(4, extraLen ? 45 : 20, true);
      v.setUint16(6, extraLen ? 45 : 20, true);
      v.setUint16(8, 0x0800, true);
      v.setUint32(16, r.crc, true);
      v.setUint32(20, sizes64 ? 0xffffffff : r.size, true);
      v.setUint32(24, sizes64 ? 0xffffffff : r.size, true);
      v.setUint16(28, r.name.length, true);
      v.setUint16(30, extraLen, true);
      v.setUint32(42, off64 ? 0xffffffff : r.offset, true);
      c.set(r.name, 46);
      if (extraLen) {
        let e = 46 + r.name.length;
        v.setUint16(e, 1, true);
        v.setUint16(e + 2, extraLen - 4, true);
        e += 4;
        if (sizes64) {
          v.setBigUint64(e, BigInt(r.size), true);
          v.setBigUint64(e + 8, BigInt(r.size), true);
          e += 16;
        }
        if (off64) v.setBigUint64(e, BigInt(r.offset), true);
      }
      await this.put(c);
    }
    const cdSize = this.pos - cdStart;
    const n = this.records.length;
    const need64 = n >= 0xffff || cdSize >= this.big || cdStart >= this.big;
    if (need64) {
      const rec = new Uint8Array(56 + 20);
      const v = new DataView(rec.buffer);
      const at = this.pos;
      v.setUint32(0, 0x06064b50, true);
      v.setBigUint64(4, 44n, true);
      v.setUint16(12, 45, true);
      v.setUint16(14, 45, true);
      v.setBigUint64(24, BigInt(n), true);
      v.setBigUint64(32, BigInt(n), true);
      v.setBigUint64(40, BigInt(cdSize), true);
      v.setBigUint64(48, BigInt(cdStart), true);
      v.setUint32(56, 0x07064b50, true); // locator
      v.setBigUint64(64, BigInt(at), true);
      v.setUint32(72, 1, true);
      await this.put(rec);
    }
    const end = new Uint8Array(22);
    const v = new DataView(end.buffer);
    v.setUint32(0, 0x06054b50, true);
    v.setUint16(8, need64 ? 0xffff : n, true);
    v.setUint16(10, need64 ? 0xffff : n, true);
    v.setUint32(12, need64 ? 0xffffffff : cdSize, true);
    v.setUint32(16, need64 ? 0xffffffff : cdStart, true);
    await this.put(end);
  }
}

function bytesOf(t: Tensor): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

function assertLittleEndian(): void {
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1)
    throw new PthError('pth write: big-endian hosts are not supported');
}

async function writeArchive(sink: Sink, tensors: TensorsLike, opts: PthWriteOptions): Promise<void> {
  assertLittleEndian();
  const list = entriesOf(tensors);
  const archive = opts.archiveName ?? 'archive';
  if (!/^[A-Za-z0-9_.-]+$/.test(archive)) throw new PthError(`pth write: bad archive name "${archive}"`);
  const pkl = pickleStateDict(list, opts.modelKey === undefined ? 'model' : opts.modelKey);
  const total = list.reduce((s, [, t]) => s + t.data.byteLength, 0);
  const zip = new ZipWriter(sink, opts.zip64Threshold ?? 0xffffffff);
  await zip.entry(`${archive}/data.pkl`, [pkl]);
  await zip.entry(`${archive}/byteorder`, [new TextEncoder().encode('little')]);
  let written = 0;
  const progress = stageReporter(opts.onProgress, 'write', { total, unit: 'bytes' });
  progress.start();
  for (let i = 0; i < list.length; i++) {
    const b = bytesOf(list[i][1]);
    // Split big storages so one write stays below Node's 2 GiB limit.
    const chunks: Uint8Array[] = [];
    for (let off = 0; off < b.length || chunks.length === 0; off += 1 << 30)
      chunks.push(b.subarray(off, Math.min(b.length, off + (1 << 30))));
    await zip.entry(`${archive}/data/${i}`, chunks, (n) => {
      written += n;
      progress.update(written);
    });
  }
  await zip.entry(`${archive}/version`, [new TextEncoder().encode('3\n')]);
  await zip.finish();
  progress.done();
}

/** The whole .pth file in memory (small state dicts, tests). */
export async function serializePth(tensors: TensorsLike, opts: PthWriteOptions = {}): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  await writeArchive({ write: async (b) => void parts.push(b.slice()) }, tensors, opts);
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * Writes a .pth atomically: streamed into a temp file beside `path`, renamed over it once
 * complete and synced (no half-written checkpoint on failure or Ctrl-C).
 */
export async function savePth(path: string, tensors: TensorsLike, opts: PthWriteOptions = {}): Promise<void> {
  const archiveName = opts.archiveName ?? (basename(path).replace(/\.[^.]*$/, '').replace(/[^A-Za-z0-9_.-]/g, '_') || 'archive');
  try {
    await withAtomicFile(path, (h) =>
      writeArchive(
        {
          write: async (b) => {
            let off = 0;
            while (off < b.length) off += (await h.write(b, off, b.length - off)).bytesWritten;
          },
        },
        tensors,
        { ...opts, archiveName },
      ),
    );
  } catch (e) {
    if (e instanceof AtomicWriteError) throw new PthError(`cannot write ${path}: ${e.reason}`, { cause: e });
    throw e;
  }
}
