// saveSafetensors on a path it cannot write: a SafetensorsError naming the path, no temp file
// left, and no hang (Node's recursive mkdir loops forever on ENOENT under /proc).
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Tensor } from '../../src/graph/tensor.js';
import { loadSafetensors, SafetensorsError, saveSafetensors } from '../../src/io/safetensors.js';

const dir = mkdtempSync(join(tmpdir(), 'beit3-save-errors-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
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
