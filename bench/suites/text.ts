/**
 * Tokenization throughput on the 11,780 held-out WordNet glosses (fixtures/sentencepiece):
 * SentencePiece Unigram and BPE encode, the BEiT-3 path (encode + 64-token segments + int64 batch),
 * and decode. Single thread, sentences/s (median of 3 passes after a warm-up pass).
 */
import { readFile } from 'node:fs/promises';
import { Beit3Tokenizer } from '../../src/text/beit3-tokenizer.js';
import { SentencePieceProcessor } from '../../src/text/sentencepiece.js';
import { type BenchContext, type Suite, timeIt } from '../report.js';

const FIX = new URL('../../fixtures/sentencepiece/', import.meta.url);

export const textSuite: Suite = {
  name: 'text',
  async run(ctx: BenchContext): Promise<void> {
    const lines = (await readFile(new URL('corpus_heldout.txt', FIX), 'utf8'))
      .split('\n')
      .filter((l) => l.length > 0);
    const n = lines.length;
    const rate = (ms: number): number => n / (ms / 1000);
    const note = `${n} held-out glosses, ${(lines.reduce((a, l) => a + l.length, 0) / n) | 0} chars avg, 1 thread`;

    const unigram = await SentencePieceProcessor.load(new URL('unigram_8k.model', FIX));
    const bpe = await SentencePieceProcessor.load(new URL('bpe_2k.model', FIX));
    const encodeAll = (sp: SentencePieceProcessor) => async () => {
      for (const l of lines) sp.encode(l);
    };
    ctx.report({
      name: 'text.spm_unigram_encode',
      value: rate(await timeIt(encodeAll(unigram), 3)),
      unit: 'sentences/s',
      note,
    });
    ctx.report({
      name: 'text.spm_bpe_encode',
      value: rate(await timeIt(encodeAll(bpe), 3)),
      unit: 'sentences/s',
      note,
    });

    const tok = new Beit3Tokenizer(unigram);
    const batchSize = 64;
    const beit3Ms = await timeIt(async () => {
      for (let i = 0; i < n; i += batchSize) tok.batch(lines.slice(i, i + batchSize), 64);
    }, 3);
    ctx.report({
      name: 'text.beit3_batch64_len64',
      value: rate(beit3Ms),
      unit: 'sentences/s',
      note: 'encode + segment + int64 tensors',
    });

    const ids = lines.map((l) => unigram.encode(l));
    const decodeMs = await timeIt(async () => {
      for (const x of ids) unigram.decode(x);
    }, 3);
    ctx.report({ name: 'text.spm_unigram_decode', value: rate(decodeMs), unit: 'sentences/s' });
  },
};
