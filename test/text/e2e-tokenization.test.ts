// The tokenizer against the official end-to-end pipeline's recorded tokenizations and decodes
// (fixtures/beit3-ref/e2e/cases.json, made with XLMRobertaTokenizer over unigram_8k.model).
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Beit3Tokenizer } from '../../src/text/beit3-tokenizer.js';

const ROOT = new URL('../../fixtures/', import.meta.url).pathname;
const CASES = `${ROOT}beit3-ref/e2e/cases.json`;

interface TextItem {
  pieces: string[];
  ids: number[];
  num_tokens: number;
  truncated: boolean;
}

describe.runIf(existsSync(CASES))('Beit3Tokenizer on the official e2e pipeline records', async () => {
  const tok = await Beit3Tokenizer.load(`${ROOT}sentencepiece/unigram_8k.model`);
  const cases = JSON.parse(readFileSync(CASES, 'utf8')) as {
    tasks: Record<
      string,
      { items?: (TextItem & Record<string, unknown>)[]; texts?: (TextItem & { text: string })[] }
    > & {
      captioning: { items: { caption: string; caption_no_cleanup: string; decoded_ids: number[] }[] };
    };
    decode_cases: { ids: number[]; text: string; text_no_cleanup: string }[];
  };
  const config = JSON.parse(readFileSync(`${ROOT}beit3-ref/e2e/config.json`, 'utf8')) as {
    tiny_config?: { num_max_bpe_tokens?: number };
  };
  const maxLen = config.tiny_config?.num_max_bpe_tokens ?? 64;

  it('tokenizes every question, sentence and text like the official index builder', () => {
    const items: [string, TextItem][] = [
      ...cases.tasks.vqav2.items!.map((i) => [i.question as string, i] as [string, TextItem]),
      ...cases.tasks.nlvr2.items!.map((i) => [i.sentence as string, i] as [string, TextItem]),
      ...cases.tasks.retrieval.texts!.map((i) => [i.text, i] as [string, TextItem]),
    ];
    expect(items.length).toBeGreaterThan(5);
    for (const [text, item] of items) {
      expect(tok.tokenize(text)).toEqual(item.pieces);
      expect(tok.encode(text)).toEqual(item.ids);
      const seg = tok.textSegment(item.ids, maxLen);
      expect(seg.numTokens).toBe(item.num_tokens);
      expect(item.ids.length > maxLen - 2).toBe(item.truncated);
    }
  });

  it('decodes like batch_decode(skip_special_tokens=True), with and without clean-up', () => {
    for (const c of cases.decode_cases) {
      expect(tok.decode(c.ids, { skipSpecialTokens: true })).toBe(c.text);
      expect(tok.decode(c.ids, { skipSpecialTokens: true, cleanUpTokenizationSpaces: false })).toBe(
        c.text_no_cleanup,
      );
    }
    for (const item of cases.tasks.captioning.items) {
      expect(tok.batchDecode([item.decoded_ids], { skipSpecialTokens: true })).toEqual([item.caption]);
      expect(
        tok.decode(item.decoded_ids, { skipSpecialTokens: true, cleanUpTokenizationSpaces: false }),
      ).toBe(item.caption_no_cleanup);
    }
  });
});
