// `beit3 corpus build|sample|fetch` with an output folder that is a file: one usage line
// naming the option, exit code 2 (was a raw ENOTDIR from deep inside the build).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'beit3-corpus-out-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('corpus output folders', () => {
  it('refuses a regular file as --out / --to', () => {
    const file = join(dir, 'file.png');
    writeFileSync(file, '');
    const sample = join(ROOT, 'fixtures/corpus-sample');
    for (const [args, option] of [
      [['build', '--out', file, '--from', sample, '--subset', 'small'], '--out'],
      [['sample', '--from', sample, '--out', file], '--out'],
      [['fetch', '--to', file], '--to'],
    ] as const) {
      const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'corpus', ...args], {
        cwd: ROOT,
        encoding: 'utf8',
        timeout: 60_000,
      });
      expect(r.stderr).toBe(`beit3: CliError: ${option} ${file} exists and is not a folder\n`);
      expect(r.status).toBe(2);
    }
  }, 60_000);
});
