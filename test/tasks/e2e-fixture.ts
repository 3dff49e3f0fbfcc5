// Shared setup of the tests that run task models on the end-to-end fixture (fixtures/beit3-ref/e2e).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixture } from '../support/paths.js';

export const E2E = fixture('beit3-ref/e2e');
export const CONFIG = join(E2E, 'config.json');
export const cases = JSON.parse(readFileSync(join(E2E, 'cases.json'), 'utf8'));
/** Path of a fixture image by its name in cases.json. */
export const img = (n: string): string => join(E2E, cases.images[n].file);

// One temp-dir helper and one maxAbs for all tests: re-exported for the files that import them from here.
export { maxAbs } from '../support/compare.js';
export { tempDir } from '../support/tmp.js';
