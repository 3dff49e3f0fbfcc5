import { readFileSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Tensor } from '../../src/graph/tensor.js';
import { loadCheckpoint, detectCheckpointFormat } from '../../src/io/checkpoint.js';
import { f16ArrayToF32, f32ArrayToF16 } from '../../src/io/half.js';
import { PyDict, UnpicklingError } from '../../src/io/pickle.js';
import { loadPth, parsePth, PthArchive, PthError } from '../../src/io/pth.js';
import { loadSafetensors } from '../../src/io/safetensors.js';
import { ZipError } from '../../src/io/zip.js';
import { f32Bytes, fakeTorchSave, PickleWriter, toZip64, zipArchive } from './torchsave.js';

const FIX = join(import.meta.dirname, '../../fixtures/beit3-ref');
const tmp = mkdtempSync(join(tmpdir(), 'beit3-pth-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const bytesOf = (t: Tensor) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);

describe('pth reader on the official fixtures', () => {
  for (const name of ['imageclassification', 'retrieval']) {
    it(`${name}.pth equals ${name}.safetensors exactly`, async () => {
      const pth = await loadPth(join(FIX, `${name}.pth`));
      const st = await loadSafetensors(join(FIX, `${name}.safetensors`));
      expect([...pth.keys()].sort()).toEqual([...st.keys()].sort());
      expect(pth.metadata.model_key).toBe('model');
      for (const [k, t] of st) {
        const p = pth.get(k)!;
        expect(p.dtype, k).toBe(t.dtype);
        expect(p.shape, k).toEqual(t.shape);
        expect(bytesOf(p).equals(bytesOf(t)), k).toBe(true);
      }
    });
  }

  it('vqav2.fp16.pth equals the float32 weights rounded to nearest-even float16, exactly', async () => {
    const pth = await loadPth(join(FIX, 'vqav2.fp16.pth'));
    const st = await loadSafetensors(join(FIX, 'vqav2.safetensors'));
    expect(pth.size).toBe(st.size);
    for (const [k, t] of st) {
      const p = pth.get(k)!;
      expect(p.dtype, k).toBe('float16');
      expect(p.shape, k).toEqual(t.shape);
      expect(Buffer.from(f32ArrayToF16(t.data as Float32Array).buffer).equals(bytesOf(p)), k).toBe(true);
    }
    // loadCheckpoint converts to float32 by default, keeps float16 on request.
    const f32 = await loadCheckpoint(join(FIX, 'vqav2.fp16.pth'));
    const k = 'beit3.text_embed.weight';
    expect(f32.get(k)!.dtype).toBe('float32');
    expect(Array.from(f32.get(k)!.data as Float32Array)).toEqual(
      Array.from(f16ArrayToF32(pth.get(k)!.data as Uint16Array)),
    );
    expect((await loadCheckpoint(join(FIX, 'vqav2.fp16.pth'), { keepDtypes: true })).get(k)!.dtype).toBe(
      'float16',
    );
  });

  it('reads zip64 archives (as torch writes for files over 4 GiB)', () => {
    const orig = new Uint8Array(readFileSync(join(FIX, 'retrieval.pth')));
    const a = parsePth(orig);
    const b = parsePth(toZip64(orig));
    expect([...b.keys()]).toEqual([...a.keys()]);
    const differ = [...a].filter(([k, t]) => !bytesOf(b.get(k)!).equals(bytesOf(t)));
    expect(differ).toEqual([]);
  });

  it('keeps the OrderedDict _metadata set by BUILD', () => {
    const a = PthArchive.open(join(FIX, 'imageclassification.pth'));
    try {
      const sd = (a.object as PyDict).get('model') as PyDict;
      expect(sd.kind).toBe('OrderedDict');
      const meta = sd.attrs.get('_metadata') as PyDict;
      expect((meta.get('beit3') as PyDict).get('version')).toBe(1);
    } finally {
      a.close();
    }
  });

  it('loadCheckpoint dispatches on content, not extension', async () => {
    const copy = join(tmp, 'weights.data');
    writeFileSync(copy, readFileSync(join(FIX, 'retrieval.pth')));
    expect(detectCheckpointFormat(copy)).toBe('pth');
    const st = join(tmp, 'weights2.data');
    writeFileSync(st, readFileSync(join(FIX, 'retrieval.safetensors')));
    expect(detectCheckpointFormat(st)).toBe('safetensors');
    const a = await loadCheckpoint(copy);
    const b = await loadCheckpoint(st);
    for (const [k, t] of b) expect(bytesOf(a.get(k)!).equals(bytesOf(t)), k).toBe(true);
  });
});

describe('pth views and nesting', () => {
  const storage = f32Bytes([0, 1, 2, 3, 4, 5, 6, 7]);

  it('materializes offsets and non-contiguous strides', () => {
    const bytes = fakeTorchSave(
      {
        slice: { storage: '0', numel: 8, offset: 2, size: [2, 2], stride: [2, 1] },
        transposed: { storage: '0', numel: 8, offset: 1, size: [3, 2], stride: [1, 3] },
        scalar: { storage: '0', numel: 8, offset: 7, size: [], stride: [] },
        empty: { storage: '0', numel: 8, offset: 0, size: [0, 3], stride: [3, 1] },
        bcast: { storage: '0', numel: 8, offset: 5, size: [2, 2], stride: [0, 1] },
      },
      { '0': storage },
    );
    const m = parsePth(bytes);
    expect(Array.from(m.get('slice')!.data as Float32Array)).toEqual([2, 3, 4, 5]);
    // a[i][j] = storage[1 + i + 3j]
    expect(Array.from(m.get('transposed')!.data as Float32Array)).toEqual([1, 4, 2, 5, 3, 6]);
    expect(m.get('scalar')!.shape).toEqual([]);
    expect(Array.from(m.get('scalar')!.data as Float32Array)).toEqual([7]);
    expect(m.get('empty')!.shape).toEqual([0, 3]);
    expect(Array.from(m.get('bcast')!.data as Float32Array)).toEqual([5, 6, 5, 6]);
  });

  it('follows the model|module|top-level lookup and the modelKey option', () => {
    const t = { w: { storage: '0', numel: 8, size: [8], stride: [1] } };
    for (const nest of ['model', 'module', null]) {
      const m = parsePth(fakeTorchSave(t, { '0': storage }, nest));
      expect(m.get('w')!.shape).toEqual([8]);
      expect(m.metadata.model_key ?? '').toBe(nest ?? '');
    }
    expect(parsePth(fakeTorchSave(t, { '0': storage }, 'ema'), { modelKey: 'ema' }).has('w')).toBe(true);
    // With the default key list an unexpected nesting is the top level, whose value is not a tensor.
    expect(() => parsePth(fakeTorchSave(t, { '0': storage }, 'ema'))).toThrow(/entry 'ema' is not a tensor/);
  });

  it('reads other storage dtypes', () => {
    const longs = new Uint8Array(new BigInt64Array([3n, -4n]).buffer);
    const m = parsePth(
      fakeTorchSave(
        {
          ids: { storage: 'a', type: 'LongStorage', numel: 2, size: [2], stride: [1] },
          mask: { storage: 'b', type: 'BoolStorage', numel: 3, size: [3], stride: [1] },
          bf: { storage: 'c', type: 'BFloat16Storage', numel: 1, size: [1], stride: [1] },
        },
        { a: longs, b: new Uint8Array([1, 0, 1]), c: new Uint8Array([0x80, 0x3f]) },
      ),
    );
    expect(Array.from(m.get('ids')!.data as BigInt64Array)).toEqual([3n, -4n]);
    expect(m.get('mask')!.dtype).toBe('bool');
    expect(m.get('bf')!.dtype).toBe('bfloat16');
    expect(Array.from(m.get('bf')!.data as Uint16Array)).toEqual([0x3f80]);
  });
});

describe('pth reader refuses hostile and corrupt inputs', () => {
  const storage = f32Bytes([0, 1, 2, 3]);

  it('refuses os.system (GLOBAL) without executing anything', () => {
    const p = new PickleWriter()
      .proto()
      .global('os', 'system')
      .str('touch /tmp/pwned')
      .raw(0x85)
      .op('R')
      .op('.');
    const bytes = zipArchive(p.bytes(), {});
    expect(() => parsePth(bytes, { source: 'evil.pth' })).toThrow(UnpicklingError);
    expect(() => parsePth(bytes, { source: 'evil.pth' })).toThrow(
      /evil\.pth.*refusing to load global 'os\.system'/,
    );
  });

  it('refuses builtins.eval through STACK_GLOBAL and unknown torch globals', () => {
    const p = new PickleWriter()
      .raw(0x80, 4)
      .str('builtins')
      .str('eval')
      .raw(0x93)
      .str('1')
      .raw(0x85)
      .op('R')
      .op('.');
    expect(() => parsePth(zipArchive(p.bytes(), {}))).toThrow(/refusing to load global 'builtins\.eval'/);
    const q = new PickleWriter().proto().global('torch.storage', '_load_from_bytes').op('.');
    expect(() => parsePth(zipArchive(q.bytes(), {}))).toThrow(
      /refusing to load global 'torch\.storage\._load_from_bytes'/,
    );
  });

  it('refuses extra Python objects by default, keeps them inert with opaqueGlobals', () => {
    // {'model': {'w': tensor}, 'args': argparse.Namespace(lr=0.5) via NEWOBJ + BUILD, 'evil': os.system('x')}
    const p = new PickleWriter().proto().op('}').op('(');
    p.str('model').op('}').str('w').tensor('0', 'FloatStorage', 4, 0, [4], [1]).op('s');
    p.str('args')
      .global('argparse', 'Namespace')
      .op(')')
      .raw(0x81)
      .op('}')
      .str('lr')
      .raw(0x47, 0x3f, 0xe0, 0, 0, 0, 0, 0, 0)
      .op('s')
      .op('b');
    p.str('evil').global('os', 'system').str('x').raw(0x85).op('R');
    p.op('u').op('.');
    const bytes = zipArchive(p.bytes(), { '0': storage });
    expect(() => parsePth(bytes)).toThrow(/refusing to load global 'argparse\.Namespace'.*opaqueGlobals/);
    const m = parsePth(bytes, { opaqueGlobals: true });
    expect(Array.from(m.get('w')!.data as Float32Array)).toEqual([0, 1, 2, 3]);
    // An opaque object where a tensor belongs is still an error.
    const q = new PickleWriter()
      .proto()
      .op('}')
      .str('w')
      .global('os', 'system')
      .str('x')
      .raw(0x85)
      .op('R')
      .op('s')
      .op('.');
    expect(() => parsePth(zipArchive(q.bytes(), {}), { opaqueGlobals: true })).toThrow(
      /entry 'w' is not a tensor \(got an opaque os\.system object\)/,
    );
  });

  it('rejects truncated archives', () => {
    const full = readFileSync(join(FIX, 'retrieval.pth'));
    for (const cut of [10, 1000, Math.floor(full.length / 2), full.length - 30]) {
      expect(() => parsePth(new Uint8Array(full.subarray(0, cut)), { source: 'cut.pth' })).toThrow(
        /cut\.pth: /,
      );
      expect(() => parsePth(new Uint8Array(full.subarray(0, cut)))).toThrow(ZipError);
    }
  });

  it('rejects a view past the end of its storage', () => {
    const bytes = fakeTorchSave(
      { w: { storage: '0', numel: 4, offset: 2, size: [3], stride: [1] } },
      { '0': storage },
    );
    expect(() => parsePth(bytes)).toThrow(PthError);
    expect(() => parsePth(bytes)).toThrow(
      /tensor 'w'.*reaches element 4, past the end of storage '0' \(4 elements\)/,
    );
  });

  it('rejects storages whose entry size disagrees with the pickle', () => {
    const bytes = fakeTorchSave(
      { w: { storage: '0', numel: 10, size: [10], stride: [1] } },
      { '0': storage },
    );
    expect(() => parsePth(bytes)).toThrow(
      /storage '0' entry is 16 bytes, but the pickle says 10 × float32 = 40 bytes/,
    );
    const missing = fakeTorchSave(
      { w: { storage: '7', numel: 4, size: [4], stride: [1] } },
      { '0': storage },
    );
    expect(() => parsePth(missing)).toThrow(/storage '7' has no archive entry/);
  });

  it('detects corrupted data through the zip CRC', () => {
    const bytes = fakeTorchSave(
      { w: { storage: '0', numel: 4, size: [4], stride: [1] } },
      { '0': f32Bytes([1, 2, 3, 4]) },
    );
    const at = Buffer.from(bytes).indexOf(Buffer.from(f32Bytes([1, 2, 3, 4])));
    bytes[at + 3] ^= 0x40;
    expect(() => parsePth(bytes)).toThrow(/CRC mismatch/);
  });

  it('rejects malformed pickles without hanging', () => {
    const bad = [
      new PickleWriter().proto().op('}').bytes(), // no STOP
      new PickleWriter().proto().op('s').op('.').bytes(), // SETITEM on empty stack
      new PickleWriter().proto().raw(0x68, 9).op('.').bytes(), // BINGET undefined memo
      new PickleWriter().proto().raw(0x58, 0xff, 0xff, 0xff, 0x7f).bytes(), // string longer than the data
      new PickleWriter().proto().op('i').bytes(), // INST (refused opcode)
    ];
    for (const p of bad) expect(() => parsePth(zipArchive(p, {}))).toThrow(UnpicklingError);
  });

  it('rejects legacy and non-zip files', () => {
    expect(() => parsePth(new Uint8Array([0x80, 0x02, 0x8a, 0x0a]))).toThrow(/legacy/);
    expect(() => parsePth(new TextEncoder().encode('hello world, not a zip'))).toThrow(/not a zip/);
  });
});
