// `beit3 tokenizer-train`: trains a model that loads; bad corpora and outputs are refused before
// anything is written.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SentencePieceProcessor } from '../../src/text/sentencepiece.js';
import { beit3 as run } from '../support/cli.js';
import { fixture } from '../support/paths.js';
import { tempDir, withTempDir } from '../support/tmp.js';

const FIX = fixture('sentencepiece') + '/';
const beit3 = (args: string[]) => run(args);

describe('beit3 tokenizer-train', () => {
  it('trains a model that loads, and writes nothing on bad options', () => {
    return withTempDir((dir) => {
      const corpus = join(dir, 'corpus.txt');
      writeFileSync(
        corpus,
        readFileSync(`${FIX}corpus_train_head3000.txt`, 'utf8').split('\n').slice(0, 400).join('\n'),
      );
      const out = join(dir, 'tiny.model');
      const r = beit3(['tokenizer-train', '--input', corpus, '--vocab-size', '300', '--out', out, '--json']);
      expect(r.code).toBe(0);
      const summary = JSON.parse(r.stdout.trim()) as { vocab_size: number; out: string };
      expect(summary.vocab_size).toBe(300);
      const model = SentencePieceProcessor.fromBytes(readFileSync(out));
      expect(model.vocabSize).toBe(300);
      expect(model.decode(model.encode('a small dog'))).toBe('a small dog');
      expect(r.stderr).toMatch(/"event":"progress"/);

      const badOut = join(dir, 'bad.model');
      const tooSmall = beit3(['tokenizer-train', '--input', corpus, '--vocab-size', '10', '--out', badOut]);
      expect(tooSmall.code).not.toBe(0);
      expect(tooSmall.stderr).toMatch(/too small/);
      expect(existsSync(badOut)).toBe(false);
      expect(readdirSync(dir).sort()).toEqual(['corpus.txt', 'tiny.model']);
    }, 'spm-');
  });
});

describe('beit3 tokenizer-train rejects bad input and output', () => {
  const train = (args: string[]) =>
    run(['tokenizer-train', '--vocab-size', '50', ...args], { timeout: 60_000 });
  const dir = tempDir('tt-');

  it('names the first line of a corpus that is not UTF-8, and writes nothing', () => {
    const input = join(dir, 'bad.txt');
    writeFileSync(input, Buffer.from([...Buffer.from('good line\nbad '), 0xff, 0x0a, 0x61]));
    const r = train(['--input', input, '--out', join(dir, 'm.model')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`beit3: CliError: --input ${input}: line 2 is not valid UTF-8\n`);
    expect(readdirSync(dir)).toEqual(['bad.txt']);
  }, 60_000);

  it('refuses an --out in a missing folder or on a directory before training', () => {
    const input = fixture('sentencepiece', 'corpus_heldout.txt');
    const missing = train(['--input', input, '--out', join(dir, 'no/such/m.model')]);
    expect(missing.stderr).toMatch(/cannot write --out .*no\/such\/m\.model: its folder does not exist/);
    expect(missing.stderr).not.toMatch(/pieces=/); // no training happened
    const isDir = train(['--input', input, '--out', dir]);
    expect(isDir.stderr).toMatch(/cannot write --out .*: it is a directory/);
    expect(isDir.stderr).not.toMatch(/pieces=/);
  }, 60_000);
});
