// `beit3 corpus build|sample|fetch` with an output folder that is a file: one usage line
// naming the option, exit code 2 (was a raw ENOTDIR from deep inside the build).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { beit3 } from '../support/cli.js';
import { fixture } from '../support/paths.js';
import { tempDir } from '../support/tmp.js';

const dir = tempDir('corpus-out-');

describe('beit3 corpus rejects an output folder that is a file', () => {
  it('refuses a regular file as --out / --to', () => {
    const file = join(dir, 'file.png');
    writeFileSync(file, '');
    const sample = fixture('corpus-sample');
    for (const [args, option] of [
      [['build', '--out', file, '--from', sample, '--subset', 'small'], '--out'],
      [['sample', '--from', sample, '--out', file], '--out'],
      [['fetch', '--to', file], '--to'],
    ] as const) {
      const r = beit3(['corpus', ...args], { timeout: 60_000 });
      expect(r.stderr).toBe(`beit3: CliError: ${option} ${file} exists and is not a folder\n`);
      expect(r.code).toBe(2);
    }
  }, 60_000);
});
