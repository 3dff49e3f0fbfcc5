// `beit3 tokenize`: the official ids / pieces / BEiT-3 segments, and one clear line on bad input.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SentencePieceProcessor } from '../../src/text/sentencepiece.js';
import { beit3 as run } from '../support/cli.js';
import { fixture } from '../support/paths.js';

const FIX = fixture('sentencepiece') + '/';
const MODEL = fixture('sentencepiece', 'unigram_8k.model');
const beit3 = (args: string[], input = '') => run(args, { input });
const tokenize = (input: Buffer) =>
  run(['tokenize', '--model', MODEL, '--pieces'], { input, timeout: 60_000 });

const jsonLines = (s: string): unknown[] =>
  s
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as unknown);

interface Case {
  text: string;
  ids: number[];
  pieces: string[];
  xlmr_ids: number[];
  beit3_segment?: { language_tokens: number[] };
}
const cases = (
  JSON.parse(readFileSync(`${FIX}unigram_8k.cases.json`, 'utf8')) as { cases: Case[] }
).cases.filter((c) => c.text.length > 0 && !/[\n\r\u2028\u2029\u0085]/.test(c.text) && c.beit3_segment);
const sample = [cases[3], cases[50], cases[200], cases[1000], cases[1500]];

describe('beit3 tokenize', () => {
  it('prints the official ids, pieces, BEiT-3 ids and segments, one JSON array per line', () => {
    const input = sample.map((c) => c.text).join('\n') + '\n';
    expect(jsonLines(beit3(['tokenize', '--model', MODEL], input).stdout)).toEqual(sample.map((c) => c.ids));
    expect(jsonLines(beit3(['tokenize', '--model', MODEL, '--pieces'], input).stdout)).toEqual(
      sample.map((c) => c.pieces),
    );
    // --jsonl: texts may hold newlines; --beit3 --max-len: unilm's segment.
    const jsonl =
      sample.map((c) => JSON.stringify(c.text)).join('\n') + '\n' + JSON.stringify('two\nlines') + '\n';
    const out = jsonLines(
      beit3(['tokenize', '--model', MODEL, '--beit3', '--max-len', '16', '--jsonl'], jsonl).stdout,
    );
    expect(out.slice(0, sample.length)).toEqual(sample.map((c) => c.beit3_segment!.language_tokens));
    const sp = SentencePieceProcessor.fromBytes(readFileSync(MODEL));
    expect(out[sample.length]).toEqual([
      0,
      ...sp.encode('two lines').map((i) => i + 1),
      2,
      ...new Array(16 - 2 - sp.encode('two lines').length).fill(1),
    ]);
  });

  it('fails with one clear line on bad input', () => {
    const bad = beit3(['tokenize', '--model', MODEL, '--jsonl'], '"ok"\n{"not": "a string"}\n');
    expect(bad.code).not.toBe(0);
    expect(bad.stdout.trim()).toBe(JSON.stringify(sp().encode('ok')));
    expect(bad.stderr).toMatch(/line 2: expected a JSON string/);
    const missing = beit3(['tokenize', '--model', '/nonexistent.model'], 'x\n');
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/nonexistent\.model/);
  });
});

function sp(): SentencePieceProcessor {
  return SentencePieceProcessor.fromBytes(readFileSync(MODEL));
}

describe('beit3 tokenize rejects bad stdin', () => {
  it('refuses invalid UTF-8 with one line naming the input line', () => {
    const r = tokenize(Buffer.from([...Buffer.from('hello\nok '), 0xc3, 0x28, 0x0a]));
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('beit3: CliError: stdin line 2: invalid UTF-8 (input must be UTF-8 text)\n');
  }, 60_000);

  it('empty stdin prints nothing and succeeds', () => {
    const r = tokenize(Buffer.alloc(0));
    expect([r.code, r.stdout, r.stderr]).toEqual([0, '', '']);
  }, 60_000);
});
