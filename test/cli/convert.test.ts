import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadPth } from '../../src/io/pth.js';
import { loadSafetensors } from '../../src/io/safetensors.js';
import { tempDir } from '../support/tmp.js';

const ROOT = join(import.meta.dirname, '../..');
const FIX = join(ROOT, 'fixtures/beit3-ref');
const tmp = tempDir('convert-');

function beit3(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('beit3 convert', () => {
  it('converts a .pth to a .safetensors with identical tensors, and --dtype float16 rounds like torch .half()', async () => {
    const out = join(tmp, 'ic.safetensors');
    const r = beit3('convert', join(FIX, 'imageclassification.pth'), out, '--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary).toMatchObject({ tensors: 91, model_key: 'model', dtypes: ['float32'] });
    const got = await loadSafetensors(out);
    const ref = await loadSafetensors(join(FIX, 'imageclassification.safetensors'));
    expect(got.metadata).toMatchObject({ format: 'pt', model_key: 'model' });
    expect(got.size).toBe(ref.size);
    for (const [k, t] of ref)
      expect(Array.from(got.get(k)!.data as Float32Array), k).toEqual(Array.from(t.data as Float32Array));

    // --dtype float16 on the float32 weights gives exactly the words torch wrote in vqav2.fp16.pth.
    const half = join(tmp, 'vqa16.safetensors');
    expect(beit3('convert', join(FIX, 'vqav2.safetensors'), half, '--dtype', 'float16').code).toBe(0);
    const a = await loadSafetensors(half);
    const torchHalf = await loadPth(join(FIX, 'vqav2.fp16.pth'));
    expect(a.size).toBe(torchHalf.size);
    const differ = [...torchHalf].filter(
      ([k, t]) => !Buffer.from(a.get(k)!.data.buffer).equals(Buffer.from(t.data.slice().buffer)),
    );
    expect(differ.map(([k]) => k)).toEqual([]);
  });

  it('fails with one line and a non-zero exit, leaving no output or temp file', () => {
    const bad = beit3('convert', join(FIX, 'retrieval.pth'), join(tmp, 'x.safetensors'), '--dtype', 'int3');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^beit3: CliError: --dtype must be one of/);

    const corrupt = join(tmp, 'corrupt.pth');
    writeFileSync(corrupt, readFileSync(join(FIX, 'retrieval.pth')).subarray(0, 5000));
    const r = beit3('convert', corrupt, join(tmp, 'y.safetensors'));
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/ZipError: .*corrupt\.pth/);
    expect(existsSync(join(tmp, 'y.safetensors'))).toBe(false);
    expect(readdirSync(tmp).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});
