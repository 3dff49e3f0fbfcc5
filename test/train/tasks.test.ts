/**
 * Every corpus task through the fine-tuning pieces: data stream (official batch keys, train
 * transforms, captioning masks), one optimizer step of its objective, and its evaluator's metric.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCorpus } from '../../src/corpus/build.js';
import { KIND_TASK, taskLoader } from '../../src/train/data.js';
import { TrainStepEngine } from '../../src/train/engine.js';
import { TaskEvaluator } from '../../src/train/eval.js';
import { fit } from '../../src/train/loop.js';
import { prepareRun, taskDefaults, type FinetuneSettings } from '../../src/train/recipe.js';
import { tempDir } from './loop-fixture.js';

const ROOT = join(import.meta.dirname, '../..');
let tmp: { dir: string; done: () => void };
let corpus: string;

beforeAll(async () => {
  tmp = tempDir('beit3-tasks-');
  corpus = join(tmp.dir, 'corpus');
  await buildCorpus({ out: corpus, from: join(ROOT, 'fixtures/corpus-sample'), subset: 'small', progress: () => {}, log: () => {} });
}, 120_000);
afterAll(() => tmp?.done());

const CASES: [string, string[], string][] = [
  ['vqa', ['image', 'language_tokens', 'padding_mask', 'labels'], 'vqa_score'],
  ['nlvr2', ['image', 'language_tokens', 'padding_mask', 'image2', 'label'], 'acc'],
  ['caption', ['image', 'image_id', 'language_tokens', 'padding_mask', 'masked_tokens', 'language_masked_pos'], 'cider'],
  ['emoji-group', ['image', 'label'], 'top1'],
];

describe('corpus tasks: stream → one step → metric', () => {
  it.each(CASES)('%s', async (task, keys, primary) => {
    // the official ImageNet eval transform does not resize at ≤ 32 px: classify at 48
    const S = task === 'emoji-group' ? 48 : 32;
    const p = await prepareRun({
      ...taskDefaults(task, task === 'vqa' ? 'vqav2' : task === 'caption' ? 'captioning' : task === 'nlvr2' ? 'nlvr2' : 'imageclassification'),
      task,
      model: 'beit3_tiny_patch8_32',
      data: corpus,
      output: join(tmp.dir, task),
      sentencepiece_model: join(ROOT, 'fixtures/sentencepiece/bpe_2k.model'),
      num_max_bpe_tokens: 12,
      drop_path: 0.1,
      input_size: S,
    } as FinetuneSettings);
    p.data.eval = p.data.eval.slice(0, 6);
    const s = { imgSize: S, batchSize: 4, seed: 3, textLen: 12, numClasses: p.data.numClasses, maskTokenId: p.tokenizer!.maskId, vocabSize: p.tokenizer!.vocabSize, captioningMaskProb: 0.6, randaug: true };
    const loader = taskLoader(p.data, 'train', s);
    const first = (await loader.iterate()[Symbol.asyncIterator]().next()).value!.batch;
    expect(Object.keys(first).sort()).toEqual([...keys].sort());
    expect(first.image.shape).toEqual([4, 3, S, S]);
    if (task === 'caption') {
      // the official masking: <s> never masked, at least one position per row
      const pos = first.language_masked_pos.data as BigInt64Array;
      for (let r = 0; r < 4; r++) {
        expect(pos[r * 12]).toBe(0n);
        expect(pos.subarray(r * 12, r * 12 + 12).some((v) => v === 1n)).toBe(true);
      }
    }
    const engine = await TrainStepEngine.create({
      model: p.model,
      task: KIND_TASK[p.kind],
      hp: { lr: 1e-3, minLr: 1e-6, epochs: 1, warmupEpochs: 0, layerDecay: 0.9, weightDecay: 0.05, clipGrad: 1, updateFreq: 1, dropWorstAfter: 0 },
      batchSize: 4,
      textLen: 12,
      seed: 3,
      threads: 1,
    });
    const r = await fit({ engine, data: loader, schedule: [1e-3, 1e-3], epochs: 1, stepsPerEpoch: 2, updateFreq: 1, batchSize: 4, seed: 3 });
    expect(r.losses).toHaveLength(2);
    expect(r.losses.every((l) => Number.isFinite(l) && l > 0)).toBe(true);
    const ev = new TaskEvaluator({ model: p.model, data: p.data, tokenizer: p.tokenizer, imgSize: S, batchSize: 4, textLen: 12, numClasses: p.data.numClasses, ortThreads: 1, numBeams: 2 });
    const m = await ev.evaluate(engine.params());
    expect(m.primary).toBe(primary);
    for (const v of Object.values(m.metrics)) expect(v).toBeGreaterThanOrEqual(0);
    if (primary !== 'cider') for (const v of Object.values(m.metrics)) expect(v).toBeLessThanOrEqual(1);
    await ev.release();
    await engine.release();
    await loader.close();
  }, 120_000);
});
