// `beit3 parity <dir>` on something that is not a fixture folder: a ParityError naming it.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { listFixtures, ParityError } from '../../src/models/beit3/parity/index.node.js';

const dir = mkdtempSync(join(tmpdir(), 'beit3-parity-input-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('listFixtures on bad folders', () => {
  it('a file or a missing path is "not a folder"', () => {
    const file = join(dir, 'x.png');
    writeFileSync(file, '');
    for (const p of [file, join(dir, 'missing')]) {
      expect(() => listFixtures(p)).toThrow(ParityError);
      expect(() => listFixtures(p)).toThrow(`${p}: not a folder`);
    }
  });

  it('a corrupt index.json names the file', () => {
    writeFileSync(join(dir, 'index.json'), '{"fixtures": ');
    expect(() => listFixtures(dir)).toThrow(new RegExp(`${join(dir, 'index.json')}: unreadable`));
  });

  it('the reference folder still lists its fixtures', () => {
    expect(listFixtures('fixtures/beit3-ref')).toContain('retrieval');
  });
});
