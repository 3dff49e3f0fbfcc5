import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Beit3Tokenizer, TEXT_MAX_LEN, cleanUpTokenization } from '../../src/text/beit3-tokenizer.js';
import { TokenizerError } from '../../src/text/errors.js';
import { fixture } from '../support/paths.js';

const FIX = new URL('../../fixtures/sentencepiece/', import.meta.url).pathname;

interface Case {
  text: string;
  ids: number[];
  pieces: string[];
  xlmr_ids: number[];
  beit3_segment?: { language_tokens: number[]; padding_mask: number[]; num_tokens: number };
}

describe('Beit3Tokenizer (XLM-R convention over an spm)', async () => {
  const tok = await Beit3Tokenizer.load(`${FIX}unigram_8k.model`);
  const { cases } = JSON.parse(readFileSync(`${FIX}unigram_8k.cases.json`, 'utf8')) as { cases: Case[] };

  it('has the XLM-R special ids and sizes', () => {
    expect([tok.bosId, tok.padId, tok.eosId, tok.unkId, tok.maskId, tok.vocabSize]).toEqual([
      0, 1, 2, 3, 8001, 8002,
    ]);
    expect(TEXT_MAX_LEN.default).toBe(64);
    expect(TEXT_MAX_LEN.captioning).toBe(32);
  });

  it('tokenize/encode give the official pieces and xlmr_ids for every case', () => {
    const bad = cases.filter(
      (c) =>
        JSON.stringify(tok.encode(c.text)) !== JSON.stringify(c.xlmr_ids) ||
        JSON.stringify(tok.tokenize(c.text)) !== JSON.stringify(c.pieces),
    );
    expect(bad.map((c) => c.text).slice(0, 5)).toEqual([]);
  });

  it('textSegment equals unilm _get_text_segment(max_len=16) for every case', () => {
    let checked = 0;
    for (const c of cases) {
      if (!c.beit3_segment) {
        expect(() => tok.textSegment(c.xlmr_ids, 16)).toThrow(TokenizerError);
        continue;
      }
      const s = tok.textSegment(c.xlmr_ids, 16);
      expect({ language_tokens: s.tokens, padding_mask: s.paddingMask, num_tokens: s.numTokens }).toEqual(
        c.beit3_segment,
      );
      checked++;
    }
    expect(checked).toBeGreaterThan(1800);
  });

  it('segment() of empty or whitespace-only text is a typed error', () => {
    expect(() => tok.segment('')).toThrow(/no tokens/);
    expect(() => tok.segment(' \t ')).toThrow(TokenizerError);
  });

  it('batch() collates int64 language_tokens and padding_mask', () => {
    const b = tok.batch(['a dog', 'a cat sitting on a mat'], 8);
    expect(b.languageTokens.dtype).toBe('int64');
    expect(b.languageTokens.shape).toEqual([2, 8]);
    expect(b.paddingMask.shape).toEqual([2, 8]);
    const row0 = tok.textSegment(tok.encode('a dog'), 8);
    expect(b.languageTokens.toArray().slice(0, 8)).toEqual(row0.tokens);
    expect(b.paddingMask.toArray().slice(0, 8)).toEqual(row0.paddingMask);
    expect(b.numTokens[1]).toBe(Math.min(8, tok.encode('a cat sitting on a mat').length + 2));
  });

  it('decode follows HF batch_decode', () => {
    const ids = [0, ...tok.encode("the dog's bone , isn't it ."), 2, 1, 1];
    expect(tok.decode(ids, { skipSpecialTokens: true })).toBe("the dog's bone, isn't it.");
    expect(tok.decode(ids, { skipSpecialTokens: true, cleanUpTokenizationSpaces: false })).toBe(
      "the dog's bone , isn't it .",
    );
    expect(tok.decode([0, ...tok.encode('hello'), 2])).toBe('<s> hello</s>');
    expect(tok.decode([0, tok.maskId, 3, 2], { skipSpecialTokens: true })).toBe('');
    expect(() => tok.decode([tok.vocabSize])).toThrow(TokenizerError);
    expect(cleanUpTokenization("I 'm here .")).toBe("I'm here.");
  });
});

describe('Beit3Tokenizer.batch rejects items that are neither text nor token ids', () => {
  // Beit3Tokenizer.batch with something that is neither text nor token ids: a TokenizerError
  // naming the item (was "ids.slice is not a function" from a VQA question given as a number).
  describe('Beit3Tokenizer.batch input types', () => {
    it('names the bad item and its type', async () => {
      const tok = await Beit3Tokenizer.load(fixture('sentencepiece', 'unigram_8k.model'));
      for (const [bad, type] of [
        [5, 'number'],
        [null, 'null'],
        [{ length: 1 }, 'object'],
      ] as const) {
        const texts = ['a cat', bad] as unknown as string[];
        expect(() => tok.batch(texts, 8)).toThrow(TokenizerError);
        expect(() => tok.batch(texts, 8)).toThrow(
          `text 1 must be a string or an array of token ids, got ${type}`,
        );
      }
      expect(tok.batch(['a cat', [10, 11]], 8).paddingMask.shape).toEqual([2, 8]);
    });
  });
});
