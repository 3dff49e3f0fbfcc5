import { zipSync } from 'fflate';

/**
 * Builds torch.save-style archives byte by byte, following the layout torch 1.13 writes
 * (checked against the fixture .pth files), so tests can craft views, nestings and hostile inputs.
 */
export class PickleWriter {
  private out: number[] = [];
  raw(...b: number[]): this {
    this.out.push(...b);
    return this;
  }
  op(c: string): this {
    return this.raw(c.charCodeAt(0));
  }
  proto(): this {
    return this.raw(0x80, 2);
  }
  str(s: string): this {
    const e = new TextEncoder().encode(s);
    this.raw(0x58, e.length & 255, (e.length >> 8) & 255, (e.length >> 16) & 255, e.length >>> 24);
    return this.raw(...e);
  }
  int(n: number): this {
    if (n >= 0 && n < 256) return this.raw(0x4b, n);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setInt32(0, n, true);
    return this.raw(0x4a, ...b);
  }
  global(module: string, name: string): this {
    return this.op('c').raw(...new TextEncoder().encode(`${module}\n${name}\n`));
  }
  intTuple(xs: number[]): this {
    this.op('(');
    for (const x of xs) this.int(x);
    return this.op('t');
  }
  /** torch._utils._rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict()) */
  tensor(
    storageKey: string,
    storageType: string,
    numel: number,
    offset: number,
    size: number[],
    stride: number[],
  ): this {
    this.global('torch._utils', '_rebuild_tensor_v2').op('(');
    this.op('(')
      .str('storage')
      .global('torch', storageType)
      .str(storageKey)
      .str('cpu')
      .int(numel)
      .op('t')
      .op('Q');
    this.int(offset).intTuple(size).intTuple(stride).raw(0x89);
    this.global('collections', 'OrderedDict').op(')').op('R');
    return this.op('t').op('R');
  }
  bytes(): Uint8Array {
    return Uint8Array.from(this.out);
  }
}

export interface FakeTensor {
  storage: string;
  type?: string;
  numel: number;
  offset?: number;
  size: number[];
  stride: number[];
}

/** Pickles `{nest: {name: tensor}}` (or the bare dict when nest is null) into a stored zip. */
export function fakeTorchSave(
  tensors: Record<string, FakeTensor>,
  storages: Record<string, Uint8Array>,
  nest: string | null = 'model',
): Uint8Array {
  const p = new PickleWriter().proto();
  if (nest) p.op('}').str(nest);
  p.op('}').op('(');
  for (const [name, t] of Object.entries(tensors))
    p.str(name).tensor(t.storage, t.type ?? 'FloatStorage', t.numel, t.offset ?? 0, t.size, t.stride);
  p.op('u');
  if (nest) p.op('s');
  p.op('.');
  return zipArchive(p.bytes(), storages);
}

export function zipArchive(pickle: Uint8Array, storages: Record<string, Uint8Array>): Uint8Array {
  const files: Record<string, Uint8Array> = { 'archive/data.pkl': pickle };
  for (const [k, v] of Object.entries(storages)) files[`archive/data/${k}`] = v;
  files['archive/version'] = new TextEncoder().encode('3\n');
  return zipSync(files, { level: 0 });
}

export function f32Bytes(values: number[]): Uint8Array {
  return new Uint8Array(Float32Array.from(values).buffer);
}

/**
 * Rewrites a small (non-zip64) archive into zip64 form the way large torch.save files look:
 * central-directory sizes/offsets saturated to 0xFFFFFFFF with a zip64 extra field, a zip64
 * end record + locator, and a saturated classic end record.
 */
export function toZip64(zip: Uint8Array): Uint8Array {
  const v = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
  let eocd = zip.length - 22;
  while (v.getUint32(eocd, true) !== 0x06054b50) eocd--;
  const count = v.getUint16(eocd + 10, true);
  const cdOffset = v.getUint32(eocd + 16, true);
  const parts: Uint8Array[] = [zip.subarray(0, cdOffset)];
  let p = cdOffset;
  let cdSize = 0;
  for (let i = 0; i < count; i++) {
    const nameLen = v.getUint16(p + 28, true);
    const extraLen = v.getUint16(p + 30, true);
    const commentLen = v.getUint16(p + 32, true);
    const head = zip.slice(p, p + 46 + nameLen);
    const hv = new DataView(head.buffer);
    const extra = new Uint8Array(4 + 24);
    const ev = new DataView(extra.buffer);
    ev.setUint16(0, 1, true);
    ev.setUint16(2, 24, true);
    ev.setBigUint64(4, BigInt(hv.getUint32(24, true)), true); // size
    ev.setBigUint64(12, BigInt(hv.getUint32(20, true)), true); // compressed size
    ev.setBigUint64(20, BigInt(hv.getUint32(42, true)), true); // local header offset
    hv.setUint32(20, 0xffffffff, true);
    hv.setUint32(24, 0xffffffff, true);
    hv.setUint32(42, 0xffffffff, true);
    hv.setUint16(30, extra.length, true);
    hv.setUint16(32, 0, true);
    parts.push(head, extra);
    cdSize += head.length + extra.length;
    p += 46 + nameLen + extraLen + commentLen;
  }
  const rec = new Uint8Array(56 + 20 + 22);
  const rv = new DataView(rec.buffer);
  const recOffset = cdOffset + cdSize;
  rv.setUint32(0, 0x06064b50, true);
  rv.setBigUint64(4, 44n, true);
  rv.setBigUint64(24, BigInt(count), true);
  rv.setBigUint64(32, BigInt(count), true);
  rv.setBigUint64(40, BigInt(cdSize), true);
  rv.setBigUint64(48, BigInt(cdOffset), true);
  rv.setUint32(56, 0x07064b50, true);
  rv.setBigUint64(64, BigInt(recOffset), true);
  rv.setUint32(72, 1, true);
  rv.setUint32(76, 0x06054b50, true);
  rv.setUint16(76 + 8, 0xffff, true);
  rv.setUint16(76 + 10, 0xffff, true);
  rv.setUint32(76 + 12, 0xffffffff, true);
  rv.setUint32(76 + 16, 0xffffffff, true);
  parts.push(rec);
  const out = new Uint8Array(parts.reduce((n, x) => n + x.length, 0));
  let o = 0;
  for (const x of parts) {
    out.set(x, o);
    o += x.length;
  }
  return out;
}
