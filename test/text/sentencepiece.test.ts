import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SentencePieceProcessor } from '../../src/text/sentencepiece.js';
import { decodeModelProto, encodeModelProto } from '../../src/text/model-proto.js';
import { SentencePieceModelError, TokenizerError } from '../../src/text/errors.js';

const FIX = new URL('../../fixtures/sentencepiece/', import.meta.url).pathname;

interface Case {
  text: string;
  ids: number[];
  pieces: string[];
  decoded: string;
}

for (const name of ['unigram_8k', 'bpe_2k']) {
  describe(`SentencePiece ${name} matches the official library`, async () => {
    const sp = await SentencePieceProcessor.load(`${FIX}${name}.model`);
    const { cases } = JSON.parse(readFileSync(`${FIX}${name}.cases.json`, 'utf8')) as { cases: Case[] };

    it('has the fixture vocabulary', () => {
      expect(sp.vocabSize).toBe(name === 'unigram_8k' ? 8000 : 2000);
      expect([sp.unkId, sp.bosId, sp.eosId, sp.padId]).toEqual([0, 1, 2, -1]);
      expect(sp.idToPiece(0)).toBe('<unk>');
      expect(sp.pieceToId('<s>')).toBe(1);
      expect(sp.pieceToId('no such piece')).toBe(0);
    });

    it(`encodes all ${cases.length} cases to the official ids and pieces`, () => {
      const mismatches: string[] = [];
      for (const c of cases) {
        const got = sp.encodeWithPieces(c.text);
        const ids = got.map((p) => p.id);
        const pieces = got.map((p) => p.piece);
        if (
          JSON.stringify(ids) !== JSON.stringify(c.ids) ||
          JSON.stringify(pieces) !== JSON.stringify(c.pieces)
        )
          mismatches.push(`${JSON.stringify(c.text)}: got ${JSON.stringify(pieces)} ${JSON.stringify(ids)}`);
      }
      expect(mismatches.slice(0, 5)).toEqual([]);
      expect(sp.encode(cases[5].text)).toEqual(cases[5].ids);
      expect(sp.encodePieces(cases[5].text)).toEqual(cases[5].pieces);
    });

    it('decodes all cases to the official text', () => {
      const mismatches = cases.filter((c) => sp.decode(c.ids) !== c.decoded).map((c) => c.text);
      expect(mismatches.slice(0, 5)).toEqual([]);
    });

    it('re-serializes the model byte-identically', () => {
      const bytes = readFileSync(`${FIX}${name}.model`);
      expect(Buffer.from(encodeModelProto(decodeModelProto(bytes))).equals(bytes)).toBe(true);
    });
  });
}

describe('SentencePiece robustness', async () => {
  const sp = await SentencePieceProcessor.load(`${FIX}unigram_8k.model`);

  it('breaks exact score ties like the official float/double arithmetic', () => {
    // '▁' '.' '.' '...' and '▁' '...' '.' '.' have the same float32 score; the official library picks the latter.
    expect(sp.encodePieces('…‥a')).toEqual(['▁', '...', '.', '.', 'a']);
  });

  it('encodes a 1 MB line in linear time and round-trips it', () => {
    const sentence = 'a small round pastry with a filling, baked in an oven; ';
    const text = sentence.repeat(Math.ceil(1_000_000 / sentence.length));
    const t0 = performance.now();
    const ids = sp.encode(text);
    const ms = performance.now() - t0;
    expect(ms).toBeLessThan(20_000);
    expect(sp.decode(ids)).toBe(text.trim());
    // A long run without spaces (one huge "word") is linear too.
    const word = 'x'.repeat(200_000);
    expect(sp.decode(sp.encode(word))).toBe(word);
  });

  it('rejects bad ids and bad model files with typed errors', () => {
    expect(() => sp.decode([8000])).toThrow(TokenizerError);
    expect(() => sp.decode([-1])).toThrow(TokenizerError);
    expect(() => SentencePieceProcessor.fromBytes(new Uint8Array([1, 2, 3, 4, 5]))).toThrow(
      SentencePieceModelError,
    );
    expect(() => SentencePieceProcessor.fromBytes(new Uint8Array(0))).toThrow(/no pieces/);
  });

  it('rejects a truncated model file', () => {
    const bytes = readFileSync(`${FIX}unigram_8k.model`);
    expect(() => SentencePieceProcessor.fromBytes(bytes.subarray(0, bytes.length - 100))).toThrow(
      SentencePieceModelError,
    );
  });

  it('load() names a missing file', async () => {
    await expect(SentencePieceProcessor.load('/nonexistent/x.model')).rejects.toThrow(/x\.model/);
  });
});
