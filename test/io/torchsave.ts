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
