// readTextLines refuses invalid UTF-8 with the file and line (it used to yield U+FFFD text).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DataFormatError, loadJsonl, readTextLines } from '../../src/data/index.js';

const dir = mkdtempSync(join(tmpdir(), 'beit3-text-utf8-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('readTextLines and UTF-8', () => {
  it('names the file and line of invalid UTF-8, after yielding the good lines before it', async () => {
    const file = join(dir, 'bad.txt');
    writeFileSync(
      file,
      Buffer.concat([Buffer.from('first\r\nsecond é\n'), Buffer.from([0x62, 0xc3, 0x28, 0x0a])]),
    );
    const seen: string[] = [];
    const err = await (async () => {
      for await (const l of readTextLines(file)) seen.push(`${l.line}:${l.text}`);
    })().catch((e: unknown) => e);
    expect(seen).toEqual(['1:first', '2:second é']);
    expect(err).toBeInstanceOf(DataFormatError);
    expect((err as Error).message).toBe(`${file}:3: invalid UTF-8`);
  });
});

describe('readJsonl and UTF-8', () => {
  it('names the line with invalid UTF-8 inside a JSON string', async () => {
    const file = join(dir, 'bad.jsonl');
    writeFileSync(
      file,
      Buffer.concat([Buffer.from('{"t": "ok"}\n\n{"t": "'), Buffer.from([0xff]), Buffer.from('"}\n')]),
    );
    await expect(loadJsonl(file)).rejects.toThrow(new DataFormatError(file, 3, 'invalid UTF-8'));
    writeFileSync(file, '{"t": "ok"}\r\n\n{"t": "é"}\n');
    expect((await loadJsonl(file)).map((l) => [l.line, l.value])).toEqual([
      [1, { t: 'ok' }],
      [3, { t: 'é' }],
    ]);
  });
});
