import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Beit3Error } from '../../src/util/errors.js';
import { InputFileError, openInputSync, readFileBounded, readFileBoundedSync } from '../../src/util/read.node.js';

const dir = mkdtempSync(join(tmpdir(), 'beit3-read-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const fifo = join(dir, 'fifo');
execFileSync('mkfifo', [fifo]);
const link = join(dir, 'zero-link');
symlinkSync('/dev/zero', link);
const small = join(dir, 'small.txt');
writeFileSync(small, 'hello');

describe('readFileBounded', () => {
  it('reads a regular file, sync and async', async () => {
    expect(readFileBoundedSync(small, 100).toString()).toBe('hello');
    expect((await readFileBounded(small, 100)).toString()).toBe('hello');
    writeFileSync(join(dir, 'empty'), '');
    expect(readFileBoundedSync(join(dir, 'empty'), 10).length).toBe(0);
  });
  it.each([
    ['/dev/zero', /device/],
    [link, /device/],
    [fifo, /FIFO/],
    [dir, /directory/],
    [join(dir, 'missing'), /not found/],
  ])('refuses %s with a typed error, without blocking', async (p, why) => {
    for (const read of [() => readFileBoundedSync(p, 1 << 20, 'config'), () => readFileBounded(p, 1 << 20, 'config')]) {
      let err: unknown;
      try {
        await read();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(InputFileError);
      expect(err).toBeInstanceOf(Beit3Error);
      expect((err as Error).message).toMatch(why);
      expect((err as Error).message).toContain(p);
    }
    expect(() => openInputSync(p, 'model')).toThrow(InputFileError);
  });
  it('refuses a file over its limit', async () => {
    expect(() => readFileBoundedSync(small, 4, 'tokenizer model')).toThrow(/tokenizer model is larger than the limit of 4 bytes/);
    await expect(readFileBounded(small, 4)).rejects.toThrow(InputFileError);
  });
});
