// Full trainer check: trains Unigram vocab 8000 on the fixture training corpus and compares tokens per
// held-out sentence with the official unigram_8k.model. Usage:
//   npx tsx test/text/scripts/trainer-quality.ts /work/shared/fixtures/sentencepiece/corpus_train.txt [OUT.model]
import { readFileSync, writeFileSync } from 'node:fs';
import { encodeModelProto } from '../../../src/text/model-proto.js';
import { SentencePieceProcessor } from '../../../src/text/sentencepiece.js';
import { trainUnigram } from '../../../src/text/trainer/unigram-trainer.js';

const FIX = new URL('../../../fixtures/sentencepiece/', import.meta.url).pathname;
const [corpus, out] = process.argv.slice(2);
if (!corpus) {
  process.stderr.write('usage: trainer-quality.ts CORPUS_TRAIN.txt [OUT.model]\n');
  process.exit(2);
}
const t0 = performance.now();
const model = trainUnigram(readFileSync(corpus, 'utf8').split('\n'), {
  vocabSize: 8000,
  onProgress: (e) =>
    process.stderr.write(`${((performance.now() - t0) / 1000).toFixed(1)}s ${JSON.stringify(e)}\n`),
});
const seconds = (performance.now() - t0) / 1000;
const bytes = encodeModelProto(model);
if (out) writeFileSync(out, bytes);
const ours = SentencePieceProcessor.fromBytes(bytes);
const official = await SentencePieceProcessor.load(`${FIX}unigram_8k.model`);
const heldout = readFileSync(`${FIX}corpus_heldout.txt`, 'utf8')
  .split('\n')
  .filter((l) => l.length > 0);
const tps = (sp: SentencePieceProcessor): number =>
  heldout.reduce((n, l) => n + sp.encode(l).length, 0) / heldout.length;
const [a, b] = [tps(ours), tps(official)];
process.stdout.write(
  JSON.stringify({
    train_seconds: +seconds.toFixed(1),
    ours_tokens_per_sentence: +a.toFixed(3),
    official_tokens_per_sentence: +b.toFixed(3),
    ratio: +(a / b).toFixed(4),
    within_5pct: Math.abs(a / b - 1) < 0.05,
  }) + '\n',
);
