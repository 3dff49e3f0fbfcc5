// Shared setup of the tests that run task models on the end-to-end fixture (fixtures/beit3-ref/e2e).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll } from 'vitest';

export const E2E = resolve('fixtures/beit3-ref/e2e');
export const CONFIG = join(E2E, 'config.json');
export const cases = JSON.parse(readFileSync(join(E2E, 'cases.json'), 'utf8'));
/** Path of a fixture image by its name in cases.json. */
export const img = (n: string): string => join(E2E, cases.images[n].file);

/** A temp folder for this test file, removed after its tests. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
