import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Tensor } from '../../src/graph/tensor.js';
import { parsePth, PthError } from '../../src/io/pth.js';
import { crc32, savePth, serializePth } from '../../src/io/pth-write.js';
import { loadSafetensors, saveSafetensors } from '../../src/io/safetensors.js';
import { ZipReader, bytesSource } from '../../src/io/zip.js';
import { f32ArrayToF16 } from '../../src/io/half.js';

const tmp = mkdtempSync(join(tmpdir(), 'beit3-pthw-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const bytesOf = (t: Tensor) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);

function sample(): Map<string, Tensor> {
  const m = new Map<string, Tensor>();
  m.set('beit3.text_embed.weight', Tensor.f32([5, 3], Array.from({ length: 15 }, (_, i) => i * 0.5 - 3)));
  m.set('mlm_head.bias', Tensor.f32([7], [1, -2, 3.25, 0, 1e-8, -1e8, 0.1]));
  m.set('scalar', Tensor.scalar(2.5));
  m.set('ids', Tensor.i64([2, 2], [1, -5, 2 ** 40, 7]));
  m.set('half', new Tensor('float16', [3], f32ArrayToF16([0.5, -1, 65504])));
  m.set('flags', new Tensor('bool', [4], Uint8Array.from([1, 0, 0, 1])));
  m.set('empty', Tensor.f32([0, 4]));
  m.set('ü/ключ', Tensor.f32([1], [42]));
  return m;
}

function expectSame(got: Map<string, Tensor>, want: Map<string, Tensor>): void {
  expect([...got.keys()]).toEqual([...want.keys()]);
  for (const [k, t] of want) {
    const g = got.get(k)!;
    expect(g.dtype, k).toBe(t.dtype);
    expect(g.shape, k).toEqual(t.shape);
    expect(bytesOf(g).equals(bytesOf(t)), k).toBe(true);
  }
}

describe('pth writer (torch.save zip layout)', () => {
  it('crc32 matches the zip check value', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
  });

  it('round-trips every dtype, scalars, empty tensors and unicode keys through the reader, nested and bare', async () => {
    const want = sample();
    const nested = parsePth(await serializePth(want), {});
    expect(nested.metadata.model_key).toBe('model');
    expectSame(nested as Map<string, Tensor>, want);
    const bare = parsePth(await serializePth(want, { modelKey: null }), {});
    expect(bare.metadata.model_key ?? '').toBe('');
    expectSame(bare as Map<string, Tensor>, want);
    const other = parsePth(await serializePth(want, { modelKey: 'module' }), { modelKey: 'module' });
    expectSame(other as Map<string, Tensor>, want);
  });

  it('lays entries out as torch does: prefix/data.pkl first, storages 64-byte aligned, version 3', async () => {
    const bytes = await serializePth(sample(), { archiveName: 'ckpt' });
    const zip = new ZipReader(bytesSource(bytes), 'x.pth');
    const names = [...zip.entries.keys()];
    expect(names[0]).toBe('ckpt/data.pkl');
    expect(names).toContain('ckpt/byteorder');
    expect(names[names.length - 1]).toBe('ckpt/version');
    expect(new TextDecoder().decode(zip.read('ckpt/version'))).toBe('3\n');
    expect(new TextDecoder().decode(zip.read('ckpt/byteorder'))).toBe('little');
    for (const e of zip.entries.values()) {
      expect(e.method).toBe(0);
      const v = new DataView(bytes.buffer, bytes.byteOffset + e.localHeaderOffset, 30);
      const start = e.localHeaderOffset + 30 + v.getUint16(26, true) + v.getUint16(28, true);
      expect(start % 64, e.name).toBe(0);
      expect(crc32(zip.read(e.name))).toBe(e.crc32);
    }
  });

  it('writes readable zip64 records when sizes or offsets pass the limit', async () => {
    const want = sample();
    const bytes = await serializePth(want, { zip64Threshold: 8 });
    const got = parsePth(bytes, {});
    expectSame(got as Map<string, Tensor>, want);
    // The end record is saturated, so the reader went through the zip64 locator.
    const eocd = new DataView(bytes.buffer, bytes.byteOffset + bytes.length - 22, 22);
    expect(eocd.getUint32(16, true)).toBe(0xffffffff);
  });

  it('savePth writes atomically; unwritable paths and unstorable dtypes are PthErrors', async () => {
    const p = join(tmp, 'a.pth');
    await savePth(p, sample());
    expectSame(parsePth(readFileSync(p), {}) as Map<string, Tensor>, sample());
    await expect(savePth(join(tmp, 'missing', 'b.pth'), sample())).rejects.toThrow(PthError);
    await expect(savePth(tmp, sample())).rejects.toThrow(PthError);
    const bad = new Map([['s', new Tensor('string' as never, [1], ['x'] as never)]]);
    await expect(savePth(join(tmp, 'c.pth'), bad)).rejects.toThrow(/cannot store/);
    const { readdirSync } = await import('node:fs');
    expect(readdirSync(tmp).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('beit3 convert x.safetensors y.pth writes a .pth with the same tensors (and back)', async () => {
    const st = join(tmp, 'w.safetensors');
    await saveSafetensors(st, sample());
    const out = join(tmp, 'w.pth');
    const cli = (...args: string[]) =>
      execFileSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: join(import.meta.dirname, '../..') });
    cli('convert', st, out);
    const back = parsePth(readFileSync(out), {});
    expect(back.metadata.model_key).toBe('model');
    expectSame(back as Map<string, Tensor>, sample());
    const st2 = join(tmp, 'w2.safetensors');
    cli('convert', out, st2);
    expectSame((await loadSafetensors(st2)) as Map<string, Tensor>, sample());
  }, 60_000);

  // Debian's python3-torch installs into /usr/bin/python3, which a pyenv shim on PATH may hide.
  const python = ['python3', '/usr/bin/python3'].find(
    (py) => spawnSync(py, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0,
  );
  it.skipIf(!python)('torch.load(weights_only=True) reads what we write, and we read what torch.save writes', async () => {
    const p = join(tmp, 't.pth');
    const want = sample();
    want.delete('half'); // compared separately below: numpy has float16 but we keep the script simple
    await savePth(p, want);
    const script = join(tmp, 'check.py');
    writeFileSync(
      script,
      [
        'import sys, json, torch',
        'sd = torch.load(sys.argv[1], weights_only=True)["model"]',
        'out = {k: [str(v.dtype), list(v.shape), v.flatten().tolist()] for k, v in sd.items()}',
        'sd2 = {k + ".copy": v.clone() for k, v in sd.items()}',
        'torch.save({"model": sd2}, sys.argv[2])',
        'print(json.dumps(out))',
      ].join('\n'),
    );
    const back = join(tmp, 'torch.pth');
    const res = JSON.parse(execFileSync(python!, [script, p, back], { encoding: 'utf8' })) as Record<string, [string, number[], number[]]>;
    const torchDtype: Record<string, string> = { float32: 'torch.float32', int64: 'torch.int64', bool: 'torch.bool' };
    for (const [k, t] of want) {
      expect(res[k][0], k).toBe(torchDtype[t.dtype]);
      expect(res[k][1], k).toEqual(t.shape);
      const vals = t.dtype === 'bool' ? [...(t.data as Uint8Array)].map(Boolean) : Array.from(t.data as ArrayLike<number | bigint>, Number);
      expect(res[k][2], k).toEqual(vals);
    }
    const fromTorch = parsePth(readFileSync(back), {});
    for (const [k, t] of want) expect(bytesOf(fromTorch.get(`${k}.copy`)!).equals(bytesOf(t)), k).toBe(true);
  }, 60_000);
});
