import { closeSync, readSync } from 'node:fs';
import { allocArray, BYTES_PER_ELEMENT, type DType, type TypedArray } from '../graph/dtype.js';
import { numel } from '../graph/shape.js';
import { Tensor } from '../graph/tensor.js';
import { withAtomicFile } from '../util/atomic.node.js';
import { AtomicWriteError, Beit3Error } from '../util/errors.js';
import { stageReporter, type ProgressCallback } from '../util/progress.js';
import { openInputSync } from '../util/read.node.js';

/**
 * safetensors read/write (https://github.com/huggingface/safetensors format: u64 LE header length,
 * JSON header, raw little-endian data). Hand-written because the npm packages for it either load
 * whole files into JS copies or lack bf16/validation; the format is small and fully specified.
 * Nothing in the file is trusted: header length, JSON, dtypes, shapes and offsets are all checked.
 */

export class SafetensorsError extends Beit3Error {
  override name = 'SafetensorsError';
}

/** safetensors dtype tag <-> our dtype. */
const FROM_TAG: Record<string, DType> = {
  F32: 'float32',
  F16: 'float16',
  BF16: 'bfloat16',
  F64: 'float64',
  I64: 'int64',
  I32: 'int32',
  I8: 'int8',
  U8: 'uint8',
  BOOL: 'bool',
};
const TO_TAG: Record<DType, string> = Object.fromEntries(
  Object.entries(FROM_TAG).map(([tag, d]) => [d, tag]),
) as Record<DType, string>;

/** The official library refuses headers above 100 MB; so do we (a corrupt length must not trigger a huge read). */
const MAX_HEADER_BYTES = 100_000_000;

export interface SafetensorsEntry {
  name: string;
  dtype: DType;
  shape: number[];
  /** Byte offsets relative to the start of the data section. */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  /** Bytes before the data section (8 + JSON length). */
  dataStart: number;
  entries: SafetensorsEntry[];
  metadata: Record<string, string>;
}

/** A tensor map that also carries the file's `__metadata__`. */
export class TensorMap extends Map<string, Tensor> {
  metadata: Record<string, string> = {};
}

function fail(source: string, msg: string): never {
  throw new SafetensorsError(`${source}: ${msg}`);
}

/** Reads the 8-byte header length; `fileSize` bounds it. */
function headerLength(prefix: Uint8Array, fileSize: number, source: string): number {
  if (fileSize < 8 || prefix.length < 8)
    fail(source, `file is ${fileSize} bytes, too short for a safetensors header`);
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES))
    fail(
      source,
      `header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit (corrupt or not safetensors)`,
    );
  if (Number(n) + 8 > fileSize)
    fail(source, `header length ${n} runs past the end of the ${fileSize}-byte file (truncated?)`);
  return Number(n);
}

/** Parses and validates the JSON header. `dataSize` = file size − 8 − header length. */
function parseHeaderJson(json: Uint8Array, dataSize: number, source: string): SafetensorsHeader {
  let obj: unknown;
  try {
    obj = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(json));
  } catch (e) {
    fail(source, `header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj))
    fail(source, 'header JSON is not an object');
  // keys are data: a tensor or metadata key named __proto__ must stay a key (null-prototype objects)
  const metadata: Record<string, string> = Object.create(null) as Record<string, string>;
  const entries: SafetensorsEntry[] = [];
  for (const [name, raw] of Object.entries(obj as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
        fail(source, '__metadata__ is not an object');
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(source, `__metadata__.${k} is not a string`);
        metadata[k] = v;
      }
      continue;
    }
    const where = `tensor '${name}'`;
    if (typeof raw !== 'object' || raw === null) fail(source, `${where}: header entry is not an object`);
    const { dtype: tag, shape, data_offsets: offsets } = raw as Record<string, unknown>;
    if (typeof tag !== 'string' || !Object.hasOwn(FROM_TAG, tag))
      fail(
        source,
        `${where}: unsupported dtype ${JSON.stringify(tag)} (supported: ${Object.keys(FROM_TAG).join(' ')})`,
      );
    const dtype = FROM_TAG[tag];
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0))
      fail(source, `${where}: shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) ||
      offsets[0] > offsets[1]
    )
      fail(
        source,
        `${where}: data_offsets ${JSON.stringify(offsets)} is not [begin, end] with 0 <= begin <= end`,
      );
    const [begin, end] = offsets as number[];
    if (end > dataSize)
      fail(source, `${where}: data_offsets [${begin}, ${end}] run past the ${dataSize}-byte data section`);
    const expected = numel(shape as number[]) * BYTES_PER_ELEMENT[dtype];
    if (end - begin !== expected)
      fail(
        source,
        `${where}: ${tag}${JSON.stringify(shape)} needs ${expected} bytes, data_offsets give ${end - begin}`,
      );
    entries.push({ name, dtype, shape: shape as number[], begin, end });
  }
  // The data section must be covered exactly, without overlaps or holes (as the official reader requires).
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  for (const e of sorted) {
    if (e.begin !== pos)
      fail(
        source,
        `tensor '${e.name}': data starts at ${e.begin}, expected ${pos} (tensors overlap or leave a gap)`,
      );
    pos = e.end;
  }
  if (pos !== dataSize)
    fail(source, `tensors cover ${pos} bytes but the data section has ${dataSize} (trailing bytes)`);
  return { dataStart: 0, entries, metadata };
}

/** Parses only the header of an in-memory safetensors file. */
export function parseSafetensorsHeader(bytes: Uint8Array, source = '<bytes>'): SafetensorsHeader {
  const n = headerLength(bytes, bytes.length, source);
  const header = parseHeaderJson(bytes.subarray(8, 8 + n), bytes.length - 8 - n, source);
  header.dataStart = 8 + n;
  return header;
}

function assertLittleEndian(): void {
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1)
    throw new SafetensorsError('big-endian hosts are not supported (safetensors data is little-endian)');
}

/** A typed array over `bytes[off, off+len)`: a view when aligned (and `copy` is false), a copy otherwise. */
export function typedView(
  dtype: DType,
  bytes: Uint8Array,
  off: number,
  len: number,
  copy: boolean,
): TypedArray {
  const size = BYTES_PER_ELEMENT[dtype];
  const n = len / size;
  const abs = bytes.byteOffset + off;
  if (!copy && abs % size === 0) {
    const buf = bytes.buffer;
    switch (dtype) {
      case 'float32':
        return new Float32Array(buf, abs, n);
      case 'float64':
        return new Float64Array(buf, abs, n);
      case 'float16':
      case 'bfloat16':
        return new Uint16Array(buf, abs, n);
      case 'int64':
        return new BigInt64Array(buf, abs, n);
      case 'int32':
        return new Int32Array(buf, abs, n);
      case 'int8':
        return new Int8Array(buf, abs, n);
      case 'uint8':
      case 'bool':
        return new Uint8Array(buf, abs, n);
    }
  }
  const out = allocArray(dtype, n);
  new Uint8Array(out.buffer, out.byteOffset, len).set(bytes.subarray(off, off + len));
  return out;
}

function checkBool(t: Tensor, name: string, source: string): void {
  if (t.dtype !== 'bool') return;
  const d = t.data as Uint8Array;
  for (let i = 0; i < d.length; i++)
    if (d[i] > 1) fail(source, `tensor '${name}': BOOL byte ${d[i]} at element ${i} is not 0/1`);
}

export interface ParseOptions {
  /** Name used in error messages (a file path). */
  source?: string;
  /** Always copy tensor data out of `bytes` (default: views where aligned, copies otherwise). */
  copy?: boolean;
}

/**
 * Parses an in-memory safetensors file. Tensor data are views into `bytes` where the
 * alignment allows (no copy), so keep `bytes` alive and unmodified while the tensors are used.
 */
export function parseSafetensors(bytes: Uint8Array, opts: ParseOptions = {}): TensorMap {
  assertLittleEndian();
  const source = opts.source ?? '<bytes>';
  const header = parseSafetensorsHeader(bytes, source);
  const out = new TensorMap();
  out.metadata = header.metadata;
  for (const e of header.entries) {
    const data = typedView(e.dtype, bytes, header.dataStart + e.begin, e.end - e.begin, opts.copy ?? false);
    const t = new Tensor(e.dtype, e.shape, data);
    checkBool(t, e.name, source);
    out.set(e.name, t);
  }
  return out;
}

/** Reads `length` bytes at `position` into `target`, looping over short reads; fails on EOF. */
function readFully(fd: number, target: Uint8Array, position: number, source: string): void {
  let done = 0;
  while (done < target.length) {
    // readSync takes at most 2 GiB per call.
    const chunk = Math.min(target.length - done, 1 << 30);
    const n = readSync(fd, target, done, chunk, position + done);
    if (n === 0) fail(source, `unexpected end of file at byte ${position + done}`);
    done += n;
  }
}

/**
 * A safetensors file opened for random access: the header is parsed up front, each tensor is
 * read from disk on demand into its own array (so loading needs ~1x the weights in memory).
 */
export class SafetensorsFile {
  private fd: number | undefined;
  readonly entries: Map<string, SafetensorsEntry>;

  private constructor(
    readonly path: string,
    fd: number,
    readonly header: SafetensorsHeader,
  ) {
    this.fd = fd;
    this.entries = new Map(header.entries.map((e) => [e.name, e]));
  }

  static open(path: string): SafetensorsFile {
    assertLittleEndian();
    const { fd, size } = openInputSync(path, 'safetensors file'); // regular files only
    try {
      const prefix = new Uint8Array(8);
      if (size >= 8) readFully(fd, prefix, 0, path);
      const n = headerLength(prefix, size, path);
      const json = new Uint8Array(n);
      readFully(fd, json, 8, path);
      const header = parseHeaderJson(json, size - 8 - n, path);
      header.dataStart = 8 + n;
      return new SafetensorsFile(path, fd, header);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  get metadata(): Record<string, string> {
    return this.header.metadata;
  }

  keys(): string[] {
    return this.header.entries.map((e) => e.name);
  }

  /** Reads one tensor from disk. */
  get(name: string): Tensor {
    if (this.fd === undefined) fail(this.path, 'file is closed');
    const e = this.entries.get(name);
    if (!e) fail(this.path, `no tensor named '${name}'`);
    const data = allocArray(e.dtype, numel(e.shape));
    readFully(
      this.fd,
      new Uint8Array(data.buffer, data.byteOffset, e.end - e.begin),
      this.header.dataStart + e.begin,
      this.path,
    );
    const t = new Tensor(e.dtype, e.shape, data);
    checkBool(t, name, this.path);
    return t;
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

export interface LoadOptions {
  /** Load only the tensors whose name passes this filter. */
  filter?: (name: string) => boolean;
}

/** Loads a safetensors file tensor by tensor (peak memory ≈ the tensors themselves). */
export async function loadSafetensors(path: string, opts: LoadOptions = {}): Promise<TensorMap> {
  const f = SafetensorsFile.open(path);
  try {
    const out = new TensorMap();
    out.metadata = f.metadata;
    for (const name of f.keys()) if (!opts.filter || opts.filter(name)) out.set(name, f.get(name));
    return out;
  } finally {
    f.close();
  }
}

type TensorsLike = Map<string, Tensor> | Record<string, Tensor>;

function entriesOf(tensors: TensorsLike): [string, Tensor][] {
  return tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
}

/** Builds the header bytes (length prefix + space-padded JSON) for tensors written in the given order. */
function buildHeader(list: [string, Tensor][], metadata?: Record<string, string>): Uint8Array {
  // null-prototype objects: a tensor (or metadata key) named __proto__ is written as a key, not
  // swallowed as the object's prototype (found by the CLI probe; beit3 could not read its own output)
  const header = Object.create(null) as Record<string, unknown>;
  if (metadata && Object.keys(metadata).length) {
    const meta = Object.create(null) as Record<string, string>;
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string')
        throw new SafetensorsError(`metadata '${k}' must be a string, got ${typeof v}`);
      meta[k] = v;
    }
    header.__metadata__ = meta;
  }
  let offset = 0;
  for (const [name, t] of list) {
    if (name === '__metadata__') throw new SafetensorsError(`tensor name '__metadata__' is reserved`);
    const bytes = t.data.byteLength;
    if (bytes !== numel(t.shape) * BYTES_PER_ELEMENT[t.dtype])
      throw new SafetensorsError(
        `tensor '${name}': data has ${bytes} bytes, ${t.dtype}[${t.shape.join(', ')}] needs ${numel(t.shape) * BYTES_PER_ELEMENT[t.dtype]}`,
      );
    header[name] = { dtype: TO_TAG[t.dtype], shape: [...t.shape], data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  const jsonBytes = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(jsonBytes.length / 8) * 8; // keeps data 8-byte aligned for zero-copy views
  const out = new Uint8Array(8 + padded).fill(0x20);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(jsonBytes, 8);
  return out;
}

function bytesOf(t: Tensor): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

/** Serializes tensors to an in-memory safetensors file (insertion order). */
export function serializeSafetensors(tensors: TensorsLike, metadata?: Record<string, string>): Uint8Array {
  assertLittleEndian();
  const list = entriesOf(tensors);
  const head = buildHeader(list, metadata);
  let total = head.length;
  for (const [, t] of list) total += t.data.byteLength;
  const out = new Uint8Array(total);
  out.set(head, 0);
  let pos = head.length;
  for (const [, t] of list) {
    out.set(bytesOf(t), pos);
    pos += t.data.byteLength;
  }
  return out;
}

/**
 * Writes a safetensors file with the one atomic write (util/atomic.node.ts): tensors are streamed
 * into a temp file next to `path`, which is renamed over `path` only once fully written and synced
 * (no half-written files on failure or Ctrl-C). Missing folders are created. Progress: stage
 * 'write', done/total in bytes.
 */
export async function saveSafetensors(
  path: string,
  tensors: TensorsLike,
  metadata?: Record<string, string>,
  opts: { onProgress?: ProgressCallback } = {},
): Promise<void> {
  assertLittleEndian();
  const list = entriesOf(tensors);
  const head = buildHeader(list, metadata);
  let total = head.length;
  for (const [, t] of list) total += t.data.byteLength;
  const progress = stageReporter(opts.onProgress, 'write', { total, unit: 'bytes' });
  try {
    await withAtomicFile(
      path,
      async (fh) => {
        progress.start();
        await fh.writeFile(head);
        let written = head.length;
        for (const [, t] of list) {
          const b = bytesOf(t);
          let off = 0;
          while (off < b.length) {
            const { bytesWritten } = await fh.write(b, off, Math.min(b.length - off, 1 << 30));
            off += bytesWritten;
          }
          written += b.length;
          progress.update(written);
        }
      },
      { mkdir: true },
    );
  } catch (e) {
    if (e instanceof AtomicWriteError) throw new SafetensorsError(`cannot write ${path}: ${e.reason}`, { cause: e });
    throw e;
  }
  progress.done();
}
