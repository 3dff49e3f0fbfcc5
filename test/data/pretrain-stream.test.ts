// The BEiT-3 pretraining input: three streams (images, texts, image–text pairs) read from real
// files, decoded / tokenized / masked by the real vision and text stages, one batch of each per
// step, seeded, and resumable batch for batch.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import {
  DataLoader,
  mapStage,
  mixedBatches,
  imageFolderSource,
  textSource,
  pairSource,
  type MixedBatch,
} from '../../src/data/index.js';
import { decodeImage } from '../../src/vision/decode.js';
import { vlEvalTransform } from '../../src/vision/transforms.js';
import { BlockMaskingGenerator, maskTextTokens, MONOMODAL_TEXT_MASK_PROB, PAIR_TEXT_MASK_PROB } from '../../src/vision/masking.js';
import { Beit3Tokenizer } from '../../src/text/beit3-tokenizer.js';
import { Tensor } from '../../src/graph/tensor.js';
import { tempDir, writePng } from './helpers.js';

const IMG = 32; // 4×4 patches of 8
const GRID = 4;
const MASKED = 6; // 40% of 16 patches, rounded
const MAXLEN = 16;

let dir: string;
let cleanup: () => Promise<void>;
let tok: Beit3Tokenizer;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
  tok = await Beit3Tokenizer.load(path.resolve(import.meta.dirname, '../../fixtures/sentencepiece/unigram_8k.model'));
  for (let i = 0; i < 7; i++) await writePng(path.join(dir, 'images', i % 2 ? 'a' : 'b', `img${i}.png`), 20 + i, 24, [i * 30, 100, 200 - i * 20]);
  const sentences = ['the cat sat on the mat', 'a rocket in the sky', 'two dogs play in the park', 'an astronaut smiles', 'a red flag', 'people walking in the city'];
  await writeFile(path.join(dir, 'corpus.txt'), sentences.join('\n') + '\n');
  await writeFile(
    path.join(dir, 'pairs.jsonl'),
    sentences.slice(0, 5).map((s, i) => JSON.stringify({ image: `images/${i % 2 ? 'a' : 'b'}/img${i}.png`, caption: s })).join('\n') + '\n',
  );
});
afterAll(() => cleanup());

function makeLoaders() {
  const blocks = new BlockMaskingGenerator({ height: GRID, numMaskingPatches: MASKED, minNumPatches: 2 });
  const textMask = (ids: number[], pad: number[], prob: number, seed: number) =>
    maskTextTokens(ids, { maskProb: prob, maskTokenId: tok.maskId, vocabSize: tok.vocabSize }, seed, pad);
  const image = async (file: string, seed: number) => ({
    image: vlEvalTransform(await decodeImage(file), IMG),
    visual_mask: Array.from(blocks.generate(seed).mask),
  });
  const text = (s: string, prob: number, seed: number) => {
    const seg = tok.segment(s, MAXLEN);
    const m = textMask(seg.tokens, seg.paddingMask, prob, seed);
    return { text: m.tokens, padding_mask: seg.paddingMask, text_labels: m.labels };
  };
  return {
    text: (async () =>
      new DataLoader({
        source: textSource(path.join(dir, 'corpus.txt')),
        shuffle: { buffer: 3 },
        stages: [mapStage((l: { text: string }, ctx) => text(l.text, MONOMODAL_TEXT_MASK_PROB, ctx.seed), { name: 'tokenize+mask' })],
        batch: { size: 4 },
        seed: 2,
      }))(),
    imageLoader: (async () =>
      new DataLoader({
        source: await imageFolderSource(path.join(dir, 'images')),
        shuffle: 'full',
        stages: [mapStage((it: { path: string }, ctx) => image(it.path, ctx.seed), { concurrency: 2, name: 'decode+mask' })],
        batch: { size: 3 },
        seed: 1,
      }))(),
    pairLoader: (async () =>
      new DataLoader({
        source: pairSource(path.join(dir, 'pairs.jsonl')),
        stages: [
          mapStage(async (p: { image: string; text: string }, ctx) => ({ ...(await image(p.image, ctx.seed)), ...text(p.text, PAIR_TEXT_MASK_PROB, ctx.seed + 1) }), {
            concurrency: 2,
            name: 'pair',
          }),
        ],
        batch: { size: 2 },
        seed: 3,
      }))(),
  };
}

async function loaders() {
  const l = makeLoaders();
  return { images: await l.imageLoader, texts: await l.text, pairs: await l.pairLoader };
}

type Step = MixedBatch<Record<'images' | 'texts' | 'pairs', Record<string, Tensor>>>;
const flat = (s: Step) =>
  Object.fromEntries(
    Object.entries(s.batches).flatMap(([stream, b]) => Object.entries(b).map(([k, t]) => [`${stream}.${k}`, [t.dtype, t.shape.join('x'), t.toArray()]])),
  );

describe('pretraining mixed stream with the real stages', () => {
  it('gives images, texts and pairs per step with exact masks, and resumes identically', async () => {
    const steps: Step[] = [];
    for await (const s of mixedBatches((await loaders()) as never)) {
      steps.push(s as Step);
      if (steps.length === 6) break;
    }
    const first = steps[0].batches;
    expect(first.images.image.shape).toEqual([3, 3, IMG, IMG]);
    expect(first.images.image.dtype).toBe('float32');
    expect(first.images.visual_mask.shape).toEqual([3, GRID * GRID]);
    const vm = first.images.visual_mask.toArray();
    for (let r = 0; r < 3; r++) expect(vm.slice(r * 16, r * 16 + 16).reduce((a, b) => a + b, 0)).toBe(MASKED);
    expect(first.texts.text.shape).toEqual([4, MAXLEN]);
    expect(first.texts.text.dtype).toBe('int64');
    expect(first.texts.padding_mask.dtype).toBe('int64');
    expect(first.pairs.image.shape).toEqual([2, 3, IMG, IMG]);
    // pair text is masked at 50%: half of the real non-special tokens of each row carry a label
    const labels = first.pairs.text_labels.toArray();
    const pad = first.pairs.padding_mask.toArray();
    for (let r = 0; r < 2; r++) {
      const real = pad.slice(r * MAXLEN, (r + 1) * MAXLEN).filter((x) => x === 0).length - 2;
      const chosen = labels.slice(r * MAXLEN, (r + 1) * MAXLEN).filter((x) => x !== -100).length;
      expect(chosen).toBe(Math.max(1, Math.trunc(real * 0.5 + 0.5)));
    }

    const again: Step[] = [];
    for await (const s of mixedBatches((await loaders()) as never)) {
      again.push(s as Step);
      if (again.length === 2) break;
    }
    const resumed: Step[] = [];
    for await (const s of mixedBatches((await loaders()) as never, { state: again[1].state })) {
      resumed.push(s as Step);
      if (resumed.length === 4) break;
    }
    expect([...again, ...resumed].map(flat)).toEqual(steps.map(flat));
  });
});
