// Beit3Tokenizer.batch with something that is neither text nor token ids: a TokenizerError
// naming the item (was "ids.slice is not a function" from a VQA question given as a number).
import { describe, expect, it } from 'vitest';
import { Beit3Tokenizer } from '../../src/text/beit3-tokenizer.js';
import { TokenizerError } from '../../src/text/errors.js';

describe('Beit3Tokenizer.batch input types', () => {
  it('names the bad item and its type', async () => {
    const tok = await Beit3Tokenizer.load('fixtures/sentencepiece/unigram_8k.model');
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
