import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  writeFileSync,
  rmSync,
  existsSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Tensor } from '../../src/graph/tensor.js';
import {
  loadSafetensors,
  parseSafetensors,
  parseSafetensorsHeader,
  SafetensorsError,
  SafetensorsFile,
  saveSafetensors,
  serializeSafetensors,
} from '../../src/io/safetensors.js';
import { tempDir } from '../support/tmp.js';

const sameShape = (a: readonly number[], b: readonly number[]) =>
  a.length === b.length && a.every((d, i) => d === b[i]);
const FIX = join(import.meta.dirname, '../../fixtures/beit3-ref');
const tmp = mkdtempSync(join(tmpdir(), 'beit3-st-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Builds a raw safetensors file from a header object and data bytes (for corrupt-input tests). */
function rawFile(header: unknown, data: Uint8Array, lengthOverride?: bigint): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, lengthOverride ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

describe('safetensors reader on the fixture', () => {
  it('reads backbone.safetensors: official keys, float32 shapes, header-consistent sizes', async () => {
    const path = join(FIX, 'backbone.safetensors');
    const bytes = new Uint8Array(readFileSync(path));
    const m = parseSafetensors(bytes, { source: path });
    const t = m.get('encoder.layers.0.self_attn.q_proj.A.weight')!;
    expect(t.dtype).toBe('float32');
    expect(t.shape.length).toBe(2);
    // Views, not copies, when aligned: the data lives in the file buffer.
    expect(t.data.buffer).toBe(bytes.buffer);
    // The file-handle loader gives identical numbers.
    const lazy = await loadSafetensors(path);
    expect([...lazy.keys()]).toEqual([...m.keys()]);
    const raw = (t: Tensor) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    const differ = [...m].filter(
      ([k, v]) => !sameShape(lazy.get(k)!.shape, v.shape) || !raw(lazy.get(k)!).equals(raw(v)),
    );
    expect(differ.map(([k]) => k)).toEqual([]);
  });

  it('copies misaligned data instead of failing', () => {
    const bytes = readFileSync(join(FIX, 'backbone.safetensors'));
    const shifted = new Uint8Array(bytes.length + 1);
    shifted.set(bytes, 1);
    const m = parseSafetensors(shifted.subarray(1));
    const ref = parseSafetensors(new Uint8Array(bytes));
    const k = 'text_embed.weight';
    expect(m.get(k)!.data.buffer).not.toBe(shifted.buffer);
    expect(Array.from(m.get(k)!.data as Float32Array)).toEqual(Array.from(ref.get(k)!.data as Float32Array));
  });

  it('SafetensorsFile reads single tensors on demand', () => {
    const f = SafetensorsFile.open(join(FIX, 'backbone.safetensors'));
    try {
      expect(f.keys().length).toBeGreaterThan(10);
      const t = f.get('text_embed.weight');
      expect(t.shape[1]).toBe(f.entries.get('encoder.layers.0.self_attn.q_proj.A.weight')!.shape[1]);
      expect(() => f.get('nope')).toThrow(/no tensor named 'nope'/);
    } finally {
      f.close();
    }
  });
});

describe('safetensors round trip', () => {
  const tensors = new Map<string, Tensor>([
    ['f32', Tensor.f32([2, 3], [1, -2, 3.5, 1e-8, Infinity, -0])],
    ['f64', Tensor.f64([3], [Math.PI, -1e300, 5e-324])],
    ['f16', new Tensor('float16', [2], new Uint16Array([0x3c00, 0xfbff]))],
    ['bf16', new Tensor('bfloat16', [1, 1], new Uint16Array([0x4049]))],
    ['i64', Tensor.i64([2], [-(2n ** 62n), 7n])],
    ['i32', new Tensor('int32', [2], new Int32Array([-5, 2 ** 31 - 1]))],
    ['i8', new Tensor('int8', [3], new Int8Array([-128, 0, 127]))],
    ['u8', new Tensor('uint8', [1], new Uint8Array([255]))],
    ['bool', new Tensor('bool', [3], new Uint8Array([1, 0, 1]))],
    ['scalar', Tensor.scalar(2.5)],
    ['empty', Tensor.f32([0, 4])],
  ]);

  it('saves and loads every dtype, 0-d and empty tensors, and metadata', async () => {
    const path = join(tmp, 'all.safetensors');
    await saveSafetensors(path, tensors, { format: 'pt', note: 'ü' });
    const back = await loadSafetensors(path);
    expect(back.metadata).toEqual({ format: 'pt', note: 'ü' });
    expect([...back.keys()]).toEqual([...tensors.keys()]);
    for (const [k, t] of tensors) {
      const b = back.get(k)!;
      expect(b.dtype).toBe(t.dtype);
      expect(b.shape).toEqual(t.shape);
      expect(Array.from(b.data as ArrayLike<unknown>)).toEqual(Array.from(t.data as ArrayLike<unknown>));
    }
    // No temp files are left behind; in-memory serialization gives the same bytes.
    expect(readdirSync(tmp).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect(Buffer.from(serializeSafetensors(tensors, { format: 'pt', note: 'ü' }))).toEqual(
      readFileSync(path),
    );
    // Header is padded so the data section starts 8-byte aligned.
    expect(parseSafetensorsHeader(new Uint8Array(readFileSync(path))).dataStart % 8).toBe(0);
  });

  it('accepts a plain record and rewrites the fixture byte-for-byte in content', async () => {
    const m = parseSafetensors(new Uint8Array(readFileSync(join(FIX, 'backbone.safetensors'))));
    const path = join(tmp, 'rec.safetensors');
    await saveSafetensors(path, Object.fromEntries(m));
    const back = parseSafetensors(new Uint8Array(readFileSync(path)));
    for (const [k, t] of m)
      expect(Array.from(back.get(k)!.data as Float32Array)).toEqual(Array.from(t.data as Float32Array));
  });

  it('leaves neither a partial file nor a temp file when the final rename fails', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'beit3-st-fail-'));
    const target = join(dir, 'taken');
    mkdirSync(join(target, 'sub'), { recursive: true }); // a non-empty directory cannot be renamed over
    await expect(saveSafetensors(target, tensors)).rejects.toThrow();
    expect(readdirSync(dir)).toEqual(['taken']);
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses tensors whose data does not match their shape', async () => {
    const bad = { t: { dtype: 'float32', shape: [3], data: new Float32Array(2) } as unknown as Tensor };
    await expect(saveSafetensors(join(tmp, 'bad.safetensors'), bad)).rejects.toThrow(SafetensorsError);
  });
});

describe('safetensors rejects corrupt files with named errors', () => {
  const data = new Uint8Array(8);
  const good = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
  const cases: [string, Uint8Array, RegExp][] = [
    ['too short', new Uint8Array(4), /too short/],
    ['header length past end', rawFile(good, data, 1000n), /runs past the end/],
    ['huge header length', rawFile(good, data, 2n ** 60n), /exceeds/],
    [
      'bad JSON',
      (() => {
        const f = rawFile(good, data);
        f[8] = 0x5b;
        f[9] = 0x7b;
        return f;
      })(),
      /not valid UTF-8 JSON|not an object/,
    ],
    [
      'offsets past end',
      rawFile({ a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, data),
      /tensor 'a'.*run past/,
    ],
    [
      'size mismatch',
      rawFile({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, data),
      /tensor 'a'.*needs 12 bytes/,
    ],
    [
      'unknown dtype',
      rawFile({ a: { dtype: 'C64', shape: [1], data_offsets: [0, 8] } }, data),
      /tensor 'a'.*unsupported dtype "C64"/,
    ],
    ['negative shape', rawFile({ a: { dtype: 'F32', shape: [-2], data_offsets: [0, 8] } }, data), /shape/],
    [
      'overlap',
      rawFile(
        {
          a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
          b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] },
        },
        data,
      ),
      /overlap or leave a gap/,
    ],
    ['trailing bytes', rawFile({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, data), /trailing/],
    ['bad metadata', rawFile({ __metadata__: { x: 1 }, ...good }, data), /__metadata__.x/],
    [
      'bool not 0/1',
      rawFile(
        { a: { dtype: 'BOOL', shape: [8], data_offsets: [0, 8] } },
        new Uint8Array([0, 1, 2, 0, 0, 0, 0, 0]),
      ),
      /BOOL byte 2/,
    ],
  ];
  for (const [name, bytes, re] of cases) {
    it(name, () => {
      expect(() => parseSafetensors(bytes, { source: 'x.safetensors' })).toThrow(SafetensorsError);
      expect(() => parseSafetensors(bytes, { source: 'x.safetensors' })).toThrow(re);
      expect(() => parseSafetensors(bytes, { source: 'x.safetensors' })).toThrow(/^x\.safetensors: /);
    });
  }

  it('the file loader reports a truncated file with its path', async () => {
    const full = readFileSync(join(FIX, 'backbone.safetensors'));
    const path = join(tmp, 'trunc.safetensors');
    writeFileSync(path, full.subarray(0, full.length - 100));
    await expect(loadSafetensors(path)).rejects.toThrow(new RegExp(`${path.replace(/[.\\/]/g, '\\$&')}: .*`));
  });
});

describe('saveSafetensors rejects unwritable paths', () => {
  // saveSafetensors on a path it cannot write: a SafetensorsError naming the path, no temp file
  // left, and no hang (Node's recursive mkdir loops forever on ENOENT under /proc).
  const dir = tempDir('save-errors-');
  const tensors = { w: Tensor.f32([2], [1, 2]) };

  describe('saveSafetensors on an unwritable path', () => {
    it('refuses an existing directory and leaves no temp file', async () => {
      const out = join(dir, 'taken.safetensors');
      mkdirSync(out);
      await expect(saveSafetensors(out, tensors)).rejects.toThrow(
        new SafetensorsError(`cannot write ${out}: it is a directory`),
      );
      expect(readdirSync(dir)).toEqual(['taken.safetensors']);
    });

    it('refuses a path under a regular file', async () => {
      const file = join(dir, 'file');
      writeFileSync(file, 'x');
      const out = join(file, 'sub/m.safetensors');
      await expect(saveSafetensors(out, tensors)).rejects.toThrow(
        `cannot write ${out}: a component of the path is not a folder`,
      );
    });

    it.runIf(existsSync('/proc/self'))(
      'fails (does not hang) for a folder that cannot be created under /proc',
      async () => {
        await expect(saveSafetensors('/proc/beit3-no-such/m.safetensors', tensors)).rejects.toThrow(
          SafetensorsError,
        );
      },
      10_000,
    );

    it('still creates missing folders', async () => {
      const out = join(dir, 'a/b/c.safetensors');
      await saveSafetensors(out, tensors);
      expect(Array.from((await loadSafetensors(out)).get('w')!.data as Float32Array)).toEqual([1, 2]);
    });
  });
});
