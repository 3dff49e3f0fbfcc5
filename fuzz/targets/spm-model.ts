import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as fc from 'fast-check';
import { Beit3Tokenizer } from '../../src/text/beit3-tokenizer.js';
import { decodeModelProto, encodeModelProto } from '../../src/text/model-proto.js';
import { SentencePieceProcessor } from '../../src/text/sentencepiece.js';
import { expect, type FuzzTarget } from '../lib/target.js';

const TEXTS = ['Hello world', 'a  b\tc\u00e9\u4e2d\u6587 🙂', '', ' '.repeat(50), 'x'.repeat(500)];

export const target: FuzzTarget = {
  name: 'spm-model',
  entry: 'SentencePieceProcessor.load (file) / fromBytes (.model protobuf), then encode/decode and the BEiT-3 tokenizer',
  async run(input, { dir }) {
    const path = join(dir, 'in.model');
    writeFileSync(path, input);
    const sp = await SentencePieceProcessor.load(path);
    const n = sp.vocabSize;
    for (const t of TEXTS) {
      const ids = sp.encode(t);
      expect(ids.every((i) => Number.isInteger(i) && i >= 0 && i < n), `ids out of range for ${JSON.stringify(t)}`);
      sp.decode(ids);
      sp.encodePieces(t);
    }
    // the BEiT-3 conventions refuse models without their special pieces; any other outcome must be typed
    const tok = new Beit3Tokenizer(sp);
    const seg = tok.segment(TEXTS[1], 16);
    expect(seg.tokens.length <= 16, 'segment longer than max length');
  },
  seeds() {
    const base = decodeModelProto(readFileSync('fixtures/sentencepiece/unigram_8k.model'));
    const bpe = decodeModelProto(readFileSync('fixtures/sentencepiece/bpe_2k.model'));
    // small seeds: the special pieces plus a few hundred ordinary ones, charsmap dropped
    const trim = (m: typeof base, k: number) =>
      encodeModelProto({ ...m, pieces: m.pieces.slice(0, k), normalizerSpec: { ...m.normalizerSpec, precompiledCharsmap: undefined } });
    return [trim(base, 300), trim(bpe, 200)];
  },
  hostile: () =>
    fc
      .record({
        pieces: fc.array(
          fc.record({ piece: fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom('<unk>', '<s>', '</s>', '▁', '')), score: fc.double(), type: fc.integer({ min: -1, max: 7 }) }),
          { maxLength: 40 },
        ),
        model: fc.integer({ min: -1, max: 5 }),
        byteFallback: fc.boolean(),
        unkId: fc.integer({ min: -5, max: 100 }),
      })
      .map((r) => {
        try {
          return encodeModelProto({
            pieces: r.pieces,
            trainerSpec: { modelType: r.model, byteFallback: r.byteFallback, unkId: r.unkId } as never,
            normalizerSpec: {},
          });
        } catch {
          return new Uint8Array([0x0a, 0x03, 0x0a, 0x01, 0x61]);
        }
      }),
  maxLen: 65536,
};
