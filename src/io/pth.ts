import { BYTES_PER_ELEMENT, allocArray, type DType, type TypedArray } from '../graph/dtype.js';
import { numel } from '../graph/shape.js';
import { Tensor } from '../graph/tensor.js';
import { PyDict, PyOpaque, PyTuple, unpickle, UnpicklingError, type PyGlobal } from './pickle.js';
import { TensorMap, typedView } from './safetensors.js';
import { bytesSource, fileSource, ZipReader, type ByteSource } from './zip.js';
import { Beit3Error } from '../util/errors.js';

/**
 * PyTorch `.pth` / `.pt` / `.bin` reader (torch.save zip format, torch >= 1.6) with no Python.
 * The pickle is interpreted by the restricted unpickler with only the globals a state dict
 * needs; tensors come back as lazy references and only those of the selected state dict are
 * read from the archive, each storage once (tensors sharing a storage share memory).
 */

export class PthError extends Beit3Error {
  override name = 'PthError';
}

const STORAGE_DTYPES: Record<string, DType> = {
  FloatStorage: 'float32',
  HalfStorage: 'float16',
  BFloat16Storage: 'bfloat16',
  DoubleStorage: 'float64',
  LongStorage: 'int64',
  IntStorage: 'int32',
  CharStorage: 'int8',
  ByteStorage: 'uint8',
  BoolStorage: 'bool',
};

class StorageType implements PyGlobal {
  constructor(
    readonly qualifiedName: string,
    readonly dtype: DType,
  ) {}
}

/** A storage named by a persistent id: bytes live in the archive entry `data/<key>`. */
class StorageRef {
  constructor(
    readonly key: string,
    readonly dtype: DType,
    readonly numel: number,
  ) {}
}

/** A tensor as pickled: a strided view of a storage. Materialized only when selected. */
export class TensorRef {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly size: number[],
    readonly stride: number[],
  ) {}
}

const isIndex = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;

function intTuple(x: unknown, what: string): number[] {
  if (!(x instanceof PyTuple) || !x.items.every(isIndex))
    throw new UnpicklingError(`tensor ${what} is not a tuple of non-negative integers`);
  return x.items as number[];
}

function rebuildTensor(args: unknown[]): TensorRef {
  const [storage, offset, size, stride] = args;
  if (!(storage instanceof StorageRef))
    throw new UnpicklingError('_rebuild_tensor: first argument is not a storage');
  if (!isIndex(offset))
    throw new UnpicklingError('_rebuild_tensor: storage offset is not a non-negative integer');
  const s = intTuple(size, 'size');
  const st = intTuple(stride, 'stride');
  if (s.length !== st.length)
    throw new UnpicklingError(`_rebuild_tensor: size has ${s.length} dims, stride ${st.length}`);
  return new TensorRef(storage, offset, s, st);
}

/** The whitelist: exactly what `torch.save(state_dict)` pickles, implemented as inert data builders. */
function torchGlobals(): Map<string, PyGlobal> {
  const g = new Map<string, PyGlobal>();
  const add = (qualifiedName: string, call?: (args: unknown[]) => unknown) =>
    g.set(qualifiedName, { qualifiedName, call });
  add('collections.OrderedDict', (args) => {
    const d = new PyDict('OrderedDict');
    const init = args[0];
    if (Array.isArray(init))
      for (const pair of init) {
        if (!(pair instanceof PyTuple) || pair.items.length !== 2)
          throw new UnpicklingError('OrderedDict: bad item');
        d.set(pair.items[0], pair.items[1]);
      }
    return d;
  });
  add('torch._utils._rebuild_tensor_v2', rebuildTensor);
  add('torch._utils._rebuild_tensor', rebuildTensor);
  const rebuildParameter = (args: unknown[]) => {
    if (!(args[0] instanceof TensorRef))
      throw new UnpicklingError('_rebuild_parameter: data is not a tensor');
    return args[0];
  };
  add('torch._utils._rebuild_parameter', rebuildParameter);
  add('torch._utils._rebuild_parameter_with_state', rebuildParameter);
  for (const [name, dtype] of Object.entries(STORAGE_DTYPES))
    g.set(`torch.${name}`, new StorageType(`torch.${name}`, dtype));
  return g;
}

export interface PthOptions {
  /** Keys tried in order to find the state dict, '|'-separated (default 'model|module'); else the top level. */
  modelKey?: string;
  /**
   * Accept non-whitelisted Python objects (e.g. `args`, numpy scalars) as inert placeholders
   * instead of refusing the file. They are never executed, and are rejected if they appear
   * inside the selected state dict.
   */
  opaqueGlobals?: boolean;
}

/** An opened torch.save archive: the unpickled object (tensors as TensorRef) and lazy tensor access. */
export class PthArchive {
  readonly object: unknown;
  private readonly prefix: string;
  private readonly storages = new Map<string, StorageRef>();
  private readonly loaded = new Map<string, TypedArray>();

  constructor(
    private readonly zip: ZipReader,
    readonly name: string,
    opts: { opaqueGlobals?: boolean } = {},
  ) {
    const pkls = [...zip.entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n));
    if (pkls.length !== 1) {
      if ([...zip.entries.keys()].some((n) => n.endsWith('/constants.pkl')))
        throw new PthError(`${name}: this is a TorchScript archive (torch.jit.save), not a state dict`);
      throw new PthError(
        `${name}: expected exactly one '<dir>/data.pkl' entry, found ${pkls.length} (not a torch.save archive)`,
      );
    }
    this.prefix = pkls[0].slice(0, -'data.pkl'.length);
    const byteorder = this.prefix + 'byteorder';
    if (zip.has(byteorder) && new TextDecoder().decode(zip.read(byteorder)).trim() !== 'little')
      throw new PthError(`${name}: big-endian checkpoints are not supported`);
    try {
      this.object = unpickle(zip.read(pkls[0]), {
        globals: torchGlobals(),
        opaqueGlobals: opts.opaqueGlobals,
        persistentLoad: (pid) => this.persistentLoad(pid),
        source: `${name}:${pkls[0]}`,
      });
    } catch (e) {
      if (e instanceof UnpicklingError && !e.message.startsWith(name))
        e.message = `${name}:${pkls[0]}: ${e.message}`;
      throw e;
    }
  }

  static open(path: string, opts: { opaqueGlobals?: boolean } = {}): PthArchive {
    return PthArchive.fromSource(fileSource(path), path, opts);
  }

  static fromBytes(bytes: Uint8Array, name = '<pth>', opts: { opaqueGlobals?: boolean } = {}): PthArchive {
    return PthArchive.fromSource(bytesSource(bytes), name, opts);
  }

  private static fromSource(source: ByteSource, name: string, opts: { opaqueGlobals?: boolean }): PthArchive {
    try {
      const head = source.read(0, Math.min(source.size, 4));
      if (head.length >= 2 && head[0] === 0x80 && head[1] <= 5 && head[1] >= 2)
        throw new PthError(
          `${name}: legacy (pre-1.6, non-zip) torch serialization is not supported; re-save it with a current torch.save`,
        );
      if (!(head[0] === 0x50 && head[1] === 0x4b))
        throw new PthError(`${name}: not a zip archive (bad magic)`);
      return new PthArchive(new ZipReader(source, name), name, opts);
    } catch (e) {
      source.close();
      throw e;
    }
  }

  private persistentLoad(pid: unknown): StorageRef {
    if (!(pid instanceof PyTuple) || pid.items[0] !== 'storage' || pid.items.length !== 5)
      throw new UnpicklingError(
        `unsupported persistent id (expected ('storage', type, key, location, numel))`,
      );
    const [, type, key, , count] = pid.items;
    if (!(type instanceof StorageType))
      throw new UnpicklingError('persistent id: storage type is not a torch storage class');
    if (typeof key !== 'string' || !/^[A-Za-z0-9_.-]+$/.test(key))
      throw new UnpicklingError(`persistent id: bad storage key ${JSON.stringify(key)}`);
    if (!isIndex(count))
      throw new UnpicklingError(`persistent id: storage '${key}' numel is not a non-negative integer`);
    const prev = this.storages.get(key);
    if (prev) {
      if (prev.dtype !== type.dtype || prev.numel !== count)
        throw new UnpicklingError(`storage '${key}' is referenced with conflicting types/sizes`);
      return prev;
    }
    const ref = new StorageRef(key, type.dtype, count);
    this.storages.set(key, ref);
    return ref;
  }

  private storageData(s: StorageRef): TypedArray {
    let data = this.loaded.get(s.key);
    if (!data) {
      const entry = `${this.prefix}data/${s.key}`;
      if (!this.zip.has(entry))
        throw new PthError(`${this.name}: storage '${s.key}' has no archive entry '${entry}'`);
      const expected = s.numel * BYTES_PER_ELEMENT[s.dtype];
      const size = this.zip.entries.get(entry)!.size;
      if (size !== expected)
        throw new PthError(
          `${this.name}: storage '${s.key}' entry is ${size} bytes, but the pickle says ${s.numel} × ${s.dtype} = ${expected} bytes`,
        );
      data = typedView(s.dtype, this.zip.read(entry), 0, expected, false);
      if (s.dtype === 'bool')
        for (const b of data as Uint8Array)
          if (b > 1) throw new PthError(`${this.name}: storage '${s.key}' has a bool byte ${b}`);
      this.loaded.set(s.key, data);
    }
    return data;
  }

  /** Reads a tensor's data from the archive: a view of its storage when contiguous, else a copy. */
  materialize(ref: TensorRef, key: string): Tensor {
    const { storage, offset, size, stride } = ref;
    const where = `${this.name}: tensor '${key}'`;
    const n = numel(size);
    let maxIndex = offset;
    for (let i = 0; i < size.length; i++) if (size[i] > 0) maxIndex += (size[i] - 1) * stride[i];
    if (n > 0 && maxIndex >= storage.numel)
      throw new PthError(
        `${where}: view (offset ${offset}, size [${size}], stride [${stride}]) reaches element ${maxIndex}, past the end of storage '${storage.key}' (${storage.numel} elements)`,
      );
    if (!Number.isSafeInteger(n)) throw new PthError(`${where}: size [${size}] is too large`);
    const data = this.storageData(storage);
    let contiguous = true;
    for (let i = size.length - 1, expect = 1; i >= 0; i--) {
      if (size[i] !== 1 && stride[i] !== expect) contiguous = false;
      expect *= size[i];
    }
    if (contiguous) return new Tensor(storage.dtype, size, data.subarray(offset, offset + n));
    // Non-contiguous view (e.g. a saved transpose): gather into a fresh row-major array.
    const out = allocArray(storage.dtype, n) as unknown as { [i: number]: unknown };
    const src = data as unknown as { [i: number]: unknown };
    const idx = new Array<number>(size.length).fill(0);
    let at = offset;
    for (let i = 0; i < n; i++) {
      out[i] = src[at];
      for (let d = size.length - 1; d >= 0; d--) {
        idx[d]++;
        at += stride[d];
        if (idx[d] < size[d]) break;
        at -= stride[d] * size[d];
        idx[d] = 0;
      }
    }
    return new Tensor(storage.dtype, size, out as unknown as TypedArray);
  }

  /** Finds the state dict (`model`, then `module`, else the top level) and reads its tensors. */
  stateDict(opts: PthOptions = {}): TensorMap {
    const { dict, path } = selectStateDict(this.object, opts.modelKey ?? 'model|module', this.name);
    const out = new TensorMap();
    if (path) out.metadata.model_key = path;
    for (const [k, v] of dict) {
      if (typeof k !== 'string')
        throw new PthError(`${this.name}: state dict key ${String(k)} is not a string`);
      if (!(v instanceof TensorRef))
        throw new PthError(
          `${this.name}: state dict entry '${k}' is not a tensor (got ${describe(v)})` +
            (path
              ? ''
              : `; none of the keys '${opts.modelKey ?? 'model|module'}' is in the checkpoint, so its top level was read (top-level keys: ${[...dict.keys()].slice(0, 8).map(String).join(', ')}; pick one with --model-key)`),
        );
      out.set(k, this.materialize(v, k));
    }
    this.loaded.clear();
    return out;
  }

  close(): void {
    this.zip.close();
  }
}

function describe(v: unknown): string {
  if (v === null) return 'None';
  if (v instanceof PyDict) return v.kind;
  if (v instanceof PyTuple) return 'tuple';
  if (v instanceof PyOpaque) return `an opaque ${v.qualifiedName} object`;
  if (Array.isArray(v)) return 'list';
  return typeof v;
}

/** The official `--model_key` lookup: first listed key present wins, else the whole object. */
export function selectStateDict(
  obj: unknown,
  modelKey: string,
  name = '<pth>',
): { dict: PyDict; path: string } {
  if (!(obj instanceof PyDict))
    throw new PthError(`${name}: top-level object is a ${describe(obj)}, expected a dict`);
  for (const key of modelKey.split('|').filter(Boolean)) {
    if (obj.has(key)) {
      const inner = obj.get(key);
      if (!(inner instanceof PyDict))
        throw new PthError(`${name}: checkpoint['${key}'] is a ${describe(inner)}, expected a state dict`);
      return { dict: inner, path: key };
    }
  }
  return { dict: obj, path: '' };
}

/** Loads the state dict of a torch.save checkpoint file (dtypes as stored). */
export async function loadPth(path: string, opts: PthOptions = {}): Promise<TensorMap> {
  const archive = PthArchive.open(path, opts);
  try {
    return archive.stateDict(opts);
  } finally {
    archive.close();
  }
}

/** Same as loadPth for an in-memory archive. */
export function parsePth(bytes: Uint8Array, opts: PthOptions & { source?: string } = {}): TensorMap {
  const archive = PthArchive.fromBytes(bytes, opts.source, opts);
  try {
    return archive.stateDict(opts);
  } finally {
    archive.close();
  }
}
