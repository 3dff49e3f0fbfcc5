import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SentencePieceProcessor } from '../../src/text/sentencepiece.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const FIX = `${ROOT}fixtures/sentencepiece/`;
const MODEL = `${FIX}unigram_8k.model`;

function beit3(args: string[], input = ''): { status: number | null; stdout: string; stderr: string } {
  // Same as `npx tsx src/cli/main.ts …`, without npx's start-up cost.
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    cwd: ROOT,
    input,
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

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
    expect(bad.status).not.toBe(0);
    expect(bad.stdout.trim()).toBe(JSON.stringify(sp().encode('ok')));
    expect(bad.stderr).toMatch(/line 2: expected a JSON string/);
    const missing = beit3(['tokenize', '--model', '/nonexistent.model'], 'x\n');
    expect(missing.status).not.toBe(0);
    expect(missing.stderr).toMatch(/nonexistent\.model/);
  });
});

function sp(): SentencePieceProcessor {
  return SentencePieceProcessor.fromBytes(readFileSync(MODEL));
}

describe('beit3 tokenizer-train', () => {
  it('trains a model that loads, and writes nothing on bad options', () => {
    const dir = mkdtempSync(join(tmpdir(), 'beit3-spm-'));
    const corpus = join(dir, 'corpus.txt');
    writeFileSync(
      corpus,
      readFileSync(`${FIX}corpus_train_head3000.txt`, 'utf8').split('\n').slice(0, 400).join('\n'),
    );
    const out = join(dir, 'tiny.model');
    const r = beit3(['tokenizer-train', '--input', corpus, '--vocab-size', '300', '--out', out, '--json']);
    expect(r.status).toBe(0);
    const summary = JSON.parse(r.stdout.trim()) as { vocab_size: number; out: string };
    expect(summary.vocab_size).toBe(300);
    const model = SentencePieceProcessor.fromBytes(readFileSync(out));
    expect(model.vocabSize).toBe(300);
    expect(model.decode(model.encode('a small dog'))).toBe('a small dog');
    expect(r.stderr).toMatch(/"event":"progress"/);

    const badOut = join(dir, 'bad.model');
    const tooSmall = beit3(['tokenizer-train', '--input', corpus, '--vocab-size', '10', '--out', badOut]);
    expect(tooSmall.status).not.toBe(0);
    expect(tooSmall.stderr).toMatch(/too small/);
    expect(existsSync(badOut)).toBe(false);
    expect(readdirSync(dir).sort()).toEqual(['corpus.txt', 'tiny.model']);
    rmSync(dir, { recursive: true, force: true });
  });
});
