// The three pretraining streams from real files (corpus layout, WebDataset shards), decoded,
// tokenized and masked by the real stages, assembled into the objective's feeds.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tensor } from '../../src/graph/tensor.js';
import { Beit3Tokenizer } from '../../src/text/beit3-tokenizer.js';
import {
  corpusStreams,
  PatchColourTokenizer,
  PretrainBatcher,
  pretrainLoaders,
  PretrainStream,
  PretrainError,
  type StreamName,
  streamSpecFor,
} from '../../src/train/pretrain.js';
import { tempDir } from '../data/helpers.js';
import { writeSyntheticCorpus } from './pretrain-synthetic.js';

let dir: string;
let cleanup: () => Promise<void>;
let tok: Beit3Tokenizer;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
  await writeSyntheticCorpus(dir, 12);
  tok = await Beit3Tokenizer.load(join(import.meta.dirname, '../../fixtures/sentencepiece/unigram_8k.model'));
});
afterAll(() => cleanup());

const T = 12;
const P = 16;

async function stream(batch: Record<StreamName, number>, o: { targets?: 'online' | 'cached'; maskPairImage?: boolean; specs?: ReturnType<typeof corpusStreams> } = {}) {
  const visual = new PatchColourTokenizer(8, 2);
  const batcher = new PretrainBatcher({ imgSize: 32, grid: 4, targets: o.targets, maskPairImage: o.maskPairImage }, tok, visual);
  const loaders = await pretrainLoaders(o.specs ?? corpusStreams(dir), batcher, tok, { batch, textLen: T, pairTextLen: T, seed: 5 });
  return { batcher, s: await PretrainStream.create(loaders, 4, batcher) };
}

async function take(s: PretrainStream, n: number, state?: { epoch: number; position: number; seed: number }) {
  const out: { batch: Record<string, Tensor>; state: { epoch: number; position: number } }[] = [];
  for await (const x of s.iterate({ state, epochs: 3 })) {
    out.push(x);
    if (out.length === n) break;
  }
  return out;
}

const flat = (b: Record<string, Tensor>) =>
  Object.fromEntries(Object.entries(b).map(([k, t]) => [k, [t.dtype, t.shape.join('x'), Array.from(t.data as ArrayLike<number | bigint>, Number)]]));

describe('pretraining batches per stream', () => {
  it('images alone: views, exact block masks, flat indices and visual targets from the tokenizer', async () => {
    const { s } = await stream({ images: 3, texts: 0, pairs: 0 });
    const [{ batch: b }] = await take(s, 1);
    expect(Object.keys(b).sort()).toEqual(['images.image', 'images.index', 'images.targets', 'images.vision_mask']);
    expect(b['images.image'].shape).toEqual([3, 3, 32, 32]);
    const mask = Array.from(b['images.vision_mask'].data as Uint8Array);
    const index = Array.from(b['images.index'].data as BigInt64Array, Number);
    expect(index.length).toBe(3 * 6); // round(0.4 · 16) per image
    expect(index).toEqual(mask.flatMap((m, i) => (m ? [i] : [])));
    for (let r = 0; r < 3; r++) expect(mask.slice(r * P, (r + 1) * P).reduce((a, c) => a + c, 0)).toBe(6);
    // targets = the patch-colour codes of the (unmasked) view at those positions
    const codes = await new PatchColourTokenizer(8, 2).encode(
      (() => {
        const x = b['images.image'];
        const raw = Float32Array.from(x.data as Float32Array, (v) => v * 0.5 + 0.5);
        return { ...x, data: raw, shape: x.shape } as Tensor;
      })(),
    );
    const all = Array.from(codes.data as BigInt64Array, Number);
    expect(Array.from(b['images.targets'].data as BigInt64Array, Number)).toEqual(index.map((i) => all[i]));
  });

  it('texts alone: 15% of real tokens chosen, targets are the original ids', async () => {
    const { s } = await stream({ images: 0, texts: 4, pairs: 0 });
    const [{ batch: b }] = await take(s, 1);
    expect(Object.keys(b).sort()).toEqual(['texts.ids', 'texts.index', 'texts.padding', 'texts.targets']);
    const ids = Array.from(b['texts.ids'].data as BigInt64Array, Number);
    const pad = Array.from(b['texts.padding'].data as BigInt64Array, Number);
    const index = Array.from(b['texts.index'].data as BigInt64Array, Number);
    for (let r = 0; r < 4; r++) {
      const real = pad.slice(r * T, (r + 1) * T).filter((x) => x === 0).length - 2;
      expect(index.filter((i) => Math.floor(i / T) === r).length).toBe(Math.max(1, Math.trunc(real * 0.15 + 0.5)));
    }
    for (const i of index) expect(pad[i]).toBe(0);
    // ids at chosen positions are <mask>, random or kept; elsewhere untouched tokens
    expect(ids.every((x) => x >= 0 && x <= tok.maskId)).toBe(true);
  });

  it('pairs alone: image + 50% masked caption; with maskPairImage also the pair image masks and targets', async () => {
    const { s } = await stream({ images: 0, texts: 0, pairs: 2 });
    const [{ batch: b }] = await take(s, 1);
    expect(Object.keys(b).sort()).toEqual(['pairs.ids', 'pairs.image', 'pairs.index', 'pairs.padding', 'pairs.targets']);
    const pad = Array.from(b['pairs.padding'].data as BigInt64Array, Number);
    const index = Array.from(b['pairs.index'].data as BigInt64Array, Number);
    for (let r = 0; r < 2; r++) {
      const real = pad.slice(r * T, (r + 1) * T).filter((x) => x === 0).length - 2;
      expect(index.filter((i) => Math.floor(i / T) === r).length).toBe(Math.max(1, Math.trunc(real * 0.5 + 0.5)));
    }
    const withImage = await stream({ images: 0, texts: 0, pairs: 2 }, { maskPairImage: true });
    const [{ batch: c }] = await take(withImage.s, 1);
    expect(Object.keys(c).sort()).toEqual(['pairs.ids', 'pairs.image', 'pairs.index', 'pairs.padding', 'pairs.targets', 'pairs.vision_index', 'pairs.vision_mask', 'pairs.vision_targets']);
    expect(c['pairs.vision_index'].shape).toEqual([12]);
  });

  it('images from a plain folder and texts from text files (streamSpecFor) work like the corpus layout', async () => {
    const specs = {
      ...corpusStreams(dir),
      images: streamSpecFor('images', [join(dir, 'images')]),
      texts: streamSpecFor('texts', [join(dir, 'pretrain', 'texts.txt'), join(dir, 'pretrain', 'texts.txt')]),
    };
    expect(specs.images.kind).toBe('image-folder');
    expect(specs.texts).toEqual({ kind: 'text-files', files: [join(dir, 'pretrain', 'texts.txt'), join(dir, 'pretrain', 'texts.txt')] });
    const { s } = await stream({ images: 4, texts: 5, pairs: 0 }, { specs });
    expect(s.perEpoch).toEqual({ images: 3, texts: 6 }); // 12 images / 4; 2 × 15 lines / 5
    const [{ batch: b }] = await take(s, 1);
    expect(b['images.image'].shape).toEqual([4, 3, 32, 32]);
    expect(b['texts.ids'].shape).toEqual([5, T]);
    expect(() => streamSpecFor('pairs', [join(dir, 'images')])).toThrow(PretrainError);
  });

  it('pairs from WebDataset shards give the same kind of batch', async () => {
    const specs = { ...corpusStreams(dir), pairs: streamSpecFor('pairs', [join(dir, 'pairs-{000000..000000}.tar')]) };
    expect(specs.pairs.kind).toBe('pair-wds');
    const { s } = await stream({ images: 0, texts: 0, pairs: 2 }, { specs });
    const [{ batch: b }] = await take(s, 1);
    expect(b['pairs.image'].shape).toEqual([2, 3, 32, 32]);
    expect(b['pairs.ids'].shape).toEqual([2, T]);
  });
});

describe('mixed three-stream batches', () => {
  it('every step holds all three streams, and resuming from any position replays the same batches', async () => {
    const batch = { images: 3, texts: 4, pairs: 2 };
    const a = await stream(batch);
    const steps = await take(a.s, 9); // crosses the streams' own epochs (12 images / 3, 15 texts / 4, 12 pairs / 2)
    expect(Object.keys(steps[0].batch).filter((k) => k.startsWith('images.')).length).toBe(4);
    expect(Object.keys(steps[0].batch).filter((k) => k.startsWith('texts.')).length).toBe(4);
    expect(Object.keys(steps[0].batch).filter((k) => k.startsWith('pairs.')).length).toBe(5);
    expect(steps[3].state).toEqual({ epoch: 1, position: 0, seed: 0 });
    const b = await stream(batch);
    const resumed = await take(b.s, 4, { ...steps[4].state, seed: 0 });
    expect(resumed.map((x) => flat(x.batch))).toEqual(steps.slice(5, 9).map((x) => flat(x.batch)));
    // views differ between epochs of a stream (random crops), so batches are not just repeated
    expect(flat(steps[4].batch)['images.image']).not.toEqual(flat(steps[0].batch)['images.image']);
  });

  it('cached targets: fixed views encoded once per image; online: the tokenizer runs on every batch', async () => {
    const batch = { images: 3, texts: 0, pairs: 0 };
    const cached = await stream(batch, { targets: 'cached' });
    const c = await take(cached.s, 8); // 2 passes over 12 images
    expect(cached.batcher.stats.imagesEncoded).toBe(12);
    expect(cached.batcher.stats.cacheHits).toBe(12);
    expect(flat(c[4].batch)['images.targets']).toBeDefined();
    const online = await stream(batch);
    await take(online.s, 8);
    expect(online.batcher.stats.imagesEncoded).toBe(24);
    expect(online.batcher.stats.tokenizerCalls).toBe(8);
  });

  it('a stream with a batch size but no source, or too few samples, is a PretrainError', async () => {
    const visual = new PatchColourTokenizer(8, 2);
    const batcher = new PretrainBatcher({ imgSize: 32, grid: 4 }, tok, visual);
    await expect(pretrainLoaders({ texts: corpusStreams(dir).texts }, batcher, tok, { batch: { images: 2, texts: 2, pairs: 0 }, textLen: T, pairTextLen: T, seed: 0 })).rejects.toThrow(PretrainError);
    const l = await pretrainLoaders(corpusStreams(dir), batcher, tok, { batch: { images: 64, texts: 0, pairs: 0 }, textLen: T, pairTextLen: T, seed: 0 });
    await expect(PretrainStream.create(l, 4, batcher)).rejects.toThrow(/fewer samples than one batch/);
    expect(() => corpusStreams(join(dir, 'nope'))).toThrow(PretrainError);
  });
});
