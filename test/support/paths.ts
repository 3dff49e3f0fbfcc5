// The one way tests find the repository and its fixtures: from this file's location, never from
// the working directory (cwd-relative paths break when vitest is started from another folder).
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** The repository root. */
export const ROOT = resolve(import.meta.dirname, '..', '..');

/** A path under fixtures/, e.g. `fixture('beit3-ref', 'e2e', 'config.json')`. */
export function fixture(...parts: string[]): string {
  return join(ROOT, 'fixtures', ...parts);
}

/** A JSON fixture file, parsed. */
export function fixtureJson<T = any>(...parts: string[]): T {
  return JSON.parse(readFileSync(fixture(...parts), 'utf8')) as T;
}
