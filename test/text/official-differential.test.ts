// Differential tests against the official SentencePiece C++ library (compiled to WebAssembly by
// @sctg/sentencepiece-js, a dev dependency used only as a test oracle): random strings built from
// tricky characters, and perturbed held-out sentences, must encode and decode identically.
import { readFileSync } from 'node:fs';
import { SentencePieceProcessor as OfficialProcessor } from '@sctg/sentencepiece-js';
import { describe, expect, it } from 'vitest';
import { SentencePieceProcessor } from '../../src/text/sentencepiece.js';

const FIX = new URL('../../fixtures/sentencepiece/', import.meta.url).pathname;

/** Small seeded PRNG (mulberry32) so failures reproduce. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ATOMS = [
  ...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789',
  ...' ,.;:!?\'"()-[]{}<>/\\@#$%^&*_+=`~|',
  ' ',
  '  ',
  '\t',
  '\n',
  '\r\n',
  '\u3000',
  '\u00a0',
  '\u200b',
  '\ufeff',
  '\u00ad',
  '\u0000',
  '\u0007',
  '\u2581',
  '\u2581\u2581',
  'ﬁ',
  'ﬀ',
  'ﬃ',
  'Ｆｕｌｌ',
  '１２３',
  '①',
  '½',
  '™',
  'x²',
  'H₂O',
  'Ⅻ',
  '㎏',
  'Ω',
  'K',
  '…',
  '‥',
  'ℌ',
  '𝐀𝐁',
  'ⓐ',
  'ｶﾞ',
  'é',
  'e\u0301',
  '\u0301',
  'ñ',
  'ü',
  'ø',
  'ß',
  'İ',
  'ǅ',
  'ﷺ',
  '日本語',
  'ひらがな',
  'カタカナ',
  '한국어',
  'русский',
  'ελληνικά',
  'עברית',
  'العربية',
  'हिन्दी',
  'ไทย',
  '😀',
  '👍🏽',
  '👨‍👩‍👧',
  '🇫🇷',
  '\u{10ffff}',
  '\u{1d11e}',
  '....',
  '--',
  '---',
  '…',
  '‥',
  '(1',
  '19',
  '00',
  'the ',
  'of ',
  'a small ',
  'tion',
  'ing ',
  '<s>',
  '</s>',
  '<unk>',
  '<pad>',
  '<mask>',
];

function randomText(next: () => number): string {
  const n = Math.floor(next() * 12);
  let s = '';
  for (let i = 0; i < n; i++) s += ATOMS[Math.floor(next() * ATOMS.length)];
  return s;
}

function perturb(line: string, next: () => number): string {
  const r = next();
  if (r < 0.2) return line.toUpperCase();
  if (r < 0.4) return line.replaceAll(' ', '  \t');
  if (r < 0.6) return `  ${line}\n${line} `;
  if (r < 0.8) return line.replaceAll('e', 'é').replaceAll('fi', 'ﬁ');
  return line.slice(Math.floor(next() * line.length));
}

for (const name of ['unigram_8k', 'bpe_2k']) {
  describe(`${name}: identical to the official library on generated inputs`, async () => {
    const path = `${FIX}${name}.model`;
    const ours = await SentencePieceProcessor.load(path);
    const official = new OfficialProcessor();
    await official.load(path);

    it('random strings of tricky characters (2000)', () => {
      const next = rng(name.length * 7919);
      const bad: string[] = [];
      for (let i = 0; i < 2000; i++) {
        const text = randomText(next);
        const ids = ours.encode(text);
        const same =
          JSON.stringify(ids) === JSON.stringify(official.encodeIds(text)) &&
          JSON.stringify(ours.encodePieces(text)) === JSON.stringify(official.encodePieces(text)) &&
          ours.decode(ids) === official.decodeIds(ids as never);
        if (!same) bad.push(JSON.stringify(text));
      }
      expect(bad.slice(0, 5)).toEqual([]);
    });

    it('perturbed held-out sentences (1500)', () => {
      const next = rng(42);
      const lines = readFileSync(`${FIX}corpus_heldout.txt`, 'utf8').split('\n');
      const bad: string[] = [];
      for (let i = 0; i < 1500; i++) {
        const text = perturb(lines[Math.floor(next() * lines.length)], next);
        if (JSON.stringify(ours.encode(text)) !== JSON.stringify(official.encodeIds(text)))
          bad.push(JSON.stringify(text));
      }
      expect(bad.slice(0, 5)).toEqual([]);
    });
  });
}

describe('byte fallback, user-defined and unused pieces: identical to the official library', async () => {
  const { decodeModelProto, encodeModelProto, PieceType } = await import('../../src/text/model-proto.js');

  /** A fixture model with user-defined symbols, a few unused pieces and (optionally) 256 byte pieces. */
  async function variant(
    name: string,
    byteFallback: boolean,
  ): Promise<[SentencePieceProcessor, OfficialProcessor]> {
    const model = decodeModelProto(readFileSync(`${FIX}${name}.model`));
    for (const piece of ['<mask>', 'XYZ', '🙂', '[SEP]'])
      model.pieces.push({ piece, score: 0, type: PieceType.USER_DEFINED });
    for (const p of model.pieces.slice(100, 110)) p.type = PieceType.UNUSED;
    if (byteFallback) {
      for (let b = 0; b < 256; b++)
        model.pieces.push({
          piece: `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`,
          score: 0,
          type: PieceType.BYTE,
        });
      model.trainerSpec.byteFallback = true;
    }
    const bytes = encodeModelProto(model);
    const official = new OfficialProcessor();
    await official.loadFromB64StringModel(Buffer.from(bytes).toString('base64'));
    return [SentencePieceProcessor.fromBytes(bytes), official];
  }

  for (const name of ['unigram_8k', 'bpe_2k']) {
    for (const byteFallback of [false, true]) {
      it(`${name}, byteFallback=${byteFallback}`, async () => {
        const [ours, official] = await variant(name, byteFallback);
        const next = rng(7 + name.length + Number(byteFallback));
        const extra = ['<mask>', 'XYZ', '🙂', '[SEP]', 'a<mask>b', 'XYZXYZ', ' [SEP] '];
        const bad: string[] = [];
        for (let i = 0; i < 800; i++) {
          let text = randomText(next);
          if (next() < 0.5) text += extra[Math.floor(next() * extra.length)] + randomText(next);
          const ids = ours.encode(text);
          const same =
            JSON.stringify(ids) === JSON.stringify(official.encodeIds(text)) &&
            JSON.stringify(ours.encodePieces(text)) === JSON.stringify(official.encodePieces(text)) &&
            ours.decode(ids) === official.decodeIds(ids as never);
          if (!same) bad.push(JSON.stringify(text));
        }
        expect(bad.slice(0, 5)).toEqual([]);
      });
    }
  }
});
