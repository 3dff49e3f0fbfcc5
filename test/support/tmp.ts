// The one way tests get scratch folders: created under the OS temp dir and always removed.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

function make(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix.startsWith('beit3-') ? prefix : `beit3-${prefix}`));
}

const remove = (dir: string) => rmSync(dir, { recursive: true, force: true });

/** A temp folder for the calling test file (call at module or describe level), removed after its tests. */
export function tempDir(prefix = 'test-'): string {
  const dir = make(prefix);
  afterAll(() => remove(dir));
  return dir;
}

/** Runs `fn` with a fresh temp folder and removes the folder afterwards, whether `fn` throws or not. */
export async function withTempDir<T>(fn: (dir: string) => T | Promise<T>, prefix = 'test-'): Promise<T> {
  const dir = make(prefix);
  try {
    return await fn(dir);
  } finally {
    remove(dir);
  }
}
