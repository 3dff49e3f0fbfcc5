// End to end: raw image files + raw strings + tokenizer model + e2e weights + config.json → the
// answers the official code gives (fixtures/beit3-ref/e2e, README sections 6–7). Every size and
// setting comes from config.json.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tensor } from '../../src/graph/tensor.js';
import { loadSafetensors } from '../../src/io/safetensors.js';
import {
  type CaptioningPipeline,
  type ImageClassificationPipeline,
  type Nlvr2Pipeline,
  pipeline,
  RetrievalPipeline,
  type VqaPipeline,
  TaskConfigError,
  TaskInputError,
  topkIndices,
} from '../../src/tasks/index.js';
import { fixture } from '../support/paths.js';
import { maxAbs } from '../support/compare.js';

const DIR = fixture('beit3-ref/e2e');
const CONFIG = join(DIR, 'config.json');
type Json = Record<string, any>;
const cases = JSON.parse(readFileSync(join(DIR, 'cases.json'), 'utf8')) as Json;
const imagePath = (name: string) => join(DIR, cases.images[name].file as string);
let ref: Map<string, Tensor>;

const ints = (t: Tensor) => Array.from(t.data as BigInt64Array, Number);

beforeAll(async () => {
  ref = await loadSafetensors(join(DIR, 'e2e.safetensors'));
});

describe('e2e: VQA', () => {
  let p: VqaPipeline;
  beforeAll(async () => (p = await pipeline('vqa', { config: CONFIG })));
  afterAll(() => p.dispose());
  it('answers equal the official predictions, logits within 1e-4', async () => {
    const items = cases.tasks.vqav2.items as Json[];
    const out = await p.run(
      items.map((i) => ({ image: imagePath(i.image), question: i.question })),
      { topk: 3 },
    );
    expect(out.map((o) => o.answer)).toEqual(items.map((i) => i.answer));
    expect(out.map((o) => o.topk.map((t) => t.answer))).toEqual(
      items.map((i) => (i.top3 as [string, number][]).map((t) => t[0])),
    );
    // raw logits through the batch path
    const tok = await (
      p as unknown as { tokenizer(): Promise<import('../../src/text/beit3-tokenizer.js').Beit3Tokenizer> }
    ).tokenizer();
    const text = tok.batch(
      items.map((i) => i.question as string),
      p.config.textLen,
    );
    expect(ints(text.languageTokens)).toEqual(ints(ref.get('vqav2.language_tokens')!));
    const logits = await p.logits(
      await p.preprocess(items.map((i) => imagePath(i.image))),
      text.languageTokens,
      text.paddingMask,
    );
    expect(maxAbs(logits.data as Float32Array, ref.get('vqav2.logits')!.data as Float32Array)).toBeLessThan(
      1e-4,
    );
  });
});

describe('e2e: NLVR2', () => {
  let p: Nlvr2Pipeline;
  beforeAll(async () => (p = await pipeline('nlvr2', { config: CONFIG, batchSize: 4 })));
  afterAll(() => p.dispose());
  it('labels and logits equal the official ones', async () => {
    const items = cases.tasks.nlvr2.items as Json[];
    const out = await p.run(
      items.map((i) => ({
        left: imagePath(i.image_left),
        right: imagePath(i.image_right),
        statement: i.sentence,
      })),
    );
    expect(out.map((o) => o.label)).toEqual(items.map((i) => i.pred));
    expect(out.map((o) => String(o.answer === true ? 'True' : 'False'))).toEqual(
      items.map((i) => i.pred_text),
    );
    expect(
      maxAbs(
        out.flatMap((o) => o.logits),
        ref.get('nlvr2.logits')!.data as Float32Array,
      ),
    ).toBeLessThan(1e-4);
    for (const o of out) expect(o.probability).toBeGreaterThan(0.5);
  });
});

describe('e2e: retrieval', () => {
  let p: RetrievalPipeline;
  beforeAll(async () => (p = await pipeline('retrieval', { config: CONFIG, batchSize: 5 })));
  afterAll(() => p.dispose());
  it('score matrix, full rankings and official recalls', async () => {
    const r = cases.tasks.retrieval as Json;
    const images = [...(r.images as Json[])].sort((a, b) => a.image_id - b.image_id);
    const texts = r.texts as Json[];
    const vi = await p.embedImages(images.map((i) => imagePath(i.image)));
    const vt = await p.embedTexts(texts.map((t) => t.text));
    expect(
      maxAbs(vi.data as Float32Array, ref.get('retrieval.vision_cls')!.data as Float32Array),
    ).toBeLessThan(1e-4);
    expect(
      maxAbs(vt.data as Float32Array, ref.get('retrieval.language_cls')!.data as Float32Array),
    ).toBeLessThan(1e-4);
    const scores = RetrievalPipeline.scores(vi, vt);
    expect(
      maxAbs(scores.data as Float32Array, ref.get('retrieval.scores')!.data as Float32Array),
    ).toBeLessThan(1e-4);
    const { textRankPerImage, imageRankPerText } = RetrievalPipeline.rankings(scores);
    expect(textRankPerImage.flat()).toEqual(ints(ref.get('retrieval.text_rank_per_image')!));
    expect(imageRankPerText.flat()).toEqual(ints(ref.get('retrieval.image_rank_per_text')!));
    const iids = images.map((i) => i.image_id as number);
    expect(imageRankPerText.map((r) => r.map((row) => iids[row]))).toEqual(texts.map((t) => t.images_ranked));
    const ev = RetrievalPipeline.evaluate(
      scores,
      images.map((i) => i.image_id),
      texts.map((t) => t.image_id),
    );
    for (const [k, v] of Object.entries(r.official_eval as Record<string, number>))
      expect(ev[k as keyof typeof ev]).toBeCloseTo(v, 4);
    // the convenience API gives the same top-k
    const run = await p.run(
      { images: images.map((i) => imagePath(i.image)), texts: texts.map((t) => t.text) },
      { topk: 3 },
    );
    expect(run.imagesPerText.map((x) => x.map((y) => iids[y.index]))).toEqual(
      texts.map((t) => (t.images_ranked as number[]).slice(0, 3)),
    );
  });
});

describe('e2e: image classification', () => {
  let p: ImageClassificationPipeline;
  beforeAll(async () => (p = await pipeline('classify', { config: CONFIG })));
  afterAll(() => p.dispose());
  it('top-k classes and names equal the official ones', async () => {
    const items = cases.tasks.imageclassification.items as Json[];
    const out = await p.run(items.map((i) => imagePath(i.image)));
    expect(out.map((o) => o.topk.map((t) => t.index))).toEqual(items.map((i) => i.topk));
    expect(out.map((o) => o.topk.map((t) => t.label))).toEqual(items.map((i) => i.topk_names));
    expect(
      maxAbs(
        out.flatMap((o) => Array.from(o.logits)),
        ref.get('imageclassification.logits')!.data as Float32Array,
      ),
    ).toBeLessThan(1e-4);
  });
  it('decoding in worker threads gives the same answers', async () => {
    const items = cases.tasks.imageclassification.items as Json[];
    const w = (await pipeline('classify', {
      config: CONFIG,
      workers: 1,
      batchSize: 3,
    })) as ImageClassificationPipeline;
    const out = await w.run(items.map((i) => imagePath(i.image)));
    expect(out.map((o) => o.topk.map((t) => t.index))).toEqual(items.map((i) => i.topk));
    await w.dispose();
  });
});

describe('e2e: captioning (official beam search)', () => {
  let p: CaptioningPipeline;
  beforeAll(async () => (p = await pipeline('caption', { config: CONFIG })));
  afterAll(() => p.dispose());
  it('decoded rows and captions equal the official ones', async () => {
    const c = cases.tasks.captioning as Json;
    const items = c.items as Json[];
    const x = await p.preprocess(items.map((i) => imagePath(i.image)));
    expect(
      maxAbs(
        (await p.firstLogits(x)).data as Float32Array,
        ref.get('captioning.step0.logits')!.data as Float32Array,
      ),
    ).toBeLessThan(1e-4);
    const out = await p.run(items.map((i) => imagePath(i.image)));
    expect(out.map((o) => o.decodedIds)).toEqual(items.map((i) => i.decoded_ids));
    expect(out.map((o) => o.caption)).toEqual(items.map((i) => i.caption));
    expect(out.map((o) => o.captionNoCleanup)).toEqual(items.map((i) => i.caption_no_cleanup));
    items.forEach((i, k) => expect(out[k].score).toBeCloseTo(i.best_hypothesis.score as number, 4));
  });
});

describe('pipelines reject bad library input', () => {
  // Library callers that bypass the CLI's option checks still get typed errors for bad input.
  const CONFIG = fixture('beit3-ref/e2e/config.json');
  const IMAGE = fixture('images/source', 'chelsea.png');
  let cls: ImageClassificationPipeline;
  beforeAll(async () => {
    cls = (await pipeline('imageclassification', { config: CONFIG })) as ImageClassificationPipeline;
  });
  afterAll(async () => cls.dispose());

  describe('task library input checks', () => {
    it('topk must be a positive integer (0 / NaN / 1.5 used to return silently empty or odd lists)', async () => {
      for (const topk of [0, -1, Number.NaN, 1.5])
        await expect(cls.run([IMAGE], { topk })).rejects.toThrow(
          new TaskInputError(`topk must be an integer ≥ 1, got ${topk}`),
        );
      expect(topkIndices([0.1, 0.9, 0.5], 2)).toEqual([1, 2]);
      expect((await cls.run([IMAGE], { topk: 2 }))[0].topk).toHaveLength(2);
    });

    it('a null or numeric image is a TaskInputError, not a TypeError', async () => {
      for (const bad of [null, 5] as unknown as string[])
        await expect(cls.run([bad])).rejects.toThrow(
          /image must be a path, encoded bytes, an RgbImage or a \[3, 40, 40\] tensor/,
        );
    });

    it('a config that is not a path, name or TaskConfig names the option; features without one say they need it', async () => {
      // (no config at all is the task's shipped model: test/tasks/shipped.test.ts)
      await expect(pipeline('vqa', { config: 5 } as never)).rejects.toThrow(TaskConfigError);
      await expect(pipeline('vqa', { config: 5 } as never)).rejects.toThrow(
        /options\.config must be a config file path, a shipped model name or a loaded TaskConfig/,
      );
      await expect(pipeline('features', {})).rejects.toThrow(/features need options\.config/);
    });
  });
});
