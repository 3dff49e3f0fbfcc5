// `beit3 tokenize` reads stdin strictly: invalid UTF-8 is an error naming the line (readline
// used to turn it into U+FFFD and tokenize that), line breaks are split as readline does.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { utf8Lines } from '../../src/text/utf8.js';

const ROOT = join(import.meta.dirname, '../..');
const MODEL = join(ROOT, 'fixtures/sentencepiece/unigram_8k.model');
const tokenize = (input: Buffer) =>
  spawnSync(
    process.execPath,
    ['--import', 'tsx', 'src/cli/main.ts', 'tokenize', '--model', MODEL, '--pieces'],
    {
      cwd: ROOT,
      input,
      encoding: 'utf8',
      timeout: 60_000,
    },
  );

async function collect(chunks: Uint8Array[]): Promise<[number, string][]> {
  const out: [number, string][] = [];
  async function* src() {
    yield* chunks;
  }
  for await (const l of utf8Lines(src(), (n) => new Error(`line ${n}`))) out.push(l);
  return out;
}

describe('tokenize stdin', () => {
  it('refuses invalid UTF-8 with one line naming the input line', () => {
    const r = tokenize(Buffer.from([...Buffer.from('hello\nok '), 0xc3, 0x28, 0x0a]));
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('beit3: CliError: stdin line 2: invalid UTF-8 (input must be UTF-8 text)\n');
  }, 60_000);

  it('empty stdin prints nothing and succeeds', () => {
    const r = tokenize(Buffer.alloc(0));
    expect([r.status, r.stdout, r.stderr]).toEqual([0, '', '']);
  }, 60_000);

  it('splits \\n, \\r\\n and lone \\r, with multi-byte characters cut across chunks', async () => {
    const bytes = Buffer.from('a\r\nb\rcé\n\nd€', 'utf8');
    const chunks = [...bytes].map((b) => Uint8Array.of(b)); // one byte per chunk
    expect(await collect(chunks)).toEqual([
      [1, 'a'],
      [2, 'b'],
      [2, 'cé'],
      [3, ''],
      [4, 'd€'],
    ]);
  });
});

describe('tokenizer-train input and output checks', () => {
  const train = (args: string[]) =>
    spawnSync(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', 'tokenizer-train', '--vocab-size', '50', ...args],
      {
        cwd: ROOT,
        encoding: 'utf8',
        timeout: 60_000,
      },
    );
  const dir = mkdtempSync(join(tmpdir(), 'beit3-tt-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('names the first line of a corpus that is not UTF-8, and writes nothing', () => {
    const input = join(dir, 'bad.txt');
    writeFileSync(input, Buffer.from([...Buffer.from('good line\nbad '), 0xff, 0x0a, 0x61]));
    const r = train(['--input', input, '--out', join(dir, 'm.model')]);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`beit3: CliError: --input ${input}: line 2 is not valid UTF-8\n`);
    expect(readdirSync(dir)).toEqual(['bad.txt']);
  }, 60_000);

  it('refuses an --out in a missing folder or on a directory before training', () => {
    const input = join(ROOT, 'fixtures/sentencepiece/corpus_heldout.txt');
    const missing = train(['--input', input, '--out', join(dir, 'no/such/m.model')]);
    expect(missing.stderr).toMatch(/cannot write --out .*no\/such\/m\.model: its folder does not exist/);
    expect(missing.stderr).not.toMatch(/pieces=/); // no training happened
    const isDir = train(['--input', input, '--out', dir]);
    expect(isDir.stderr).toMatch(/cannot write --out .*: it is a directory/);
    expect(isDir.stderr).not.toMatch(/pieces=/);
  }, 60_000);
});
