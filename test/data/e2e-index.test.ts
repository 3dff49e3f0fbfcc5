// The data layer with the real decode / transform / tokenizer stages against the official
// pipeline's collated tensors (fixtures/beit3-ref/e2e: unilm datasets.py + collate output).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readFileSync } from 'node:fs';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import {
  DataLoader,
  mapStage,
  unilmIndexSource,
  writeUnilmIndex,
  makeImageNetIndex,
  scanImageFolder,
  webDatasetSource,
  decodeWdsSample,
  type LoaderBatch,
} from '../../src/data/index.js';
import { decodeImage } from '../../src/vision/decode.js';
import { vlEvalTransform, imagenetEvalTransform } from '../../src/vision/transforms.js';
import { Beit3Tokenizer } from '../../src/text/beit3-tokenizer.js';
import { loadSafetensors } from '../../src/io/safetensors.js';
import { Tensor } from '../../src/graph/tensor.js';
import { tempDir, tarBytes, collect } from './helpers.js';
import { maxAbs } from '../support/compare.js';

const E2E = path.resolve(import.meta.dirname, '../../fixtures/beit3-ref/e2e');
const cases = JSON.parse(readFileSync(path.join(E2E, 'cases.json'), 'utf8'));
const config = JSON.parse(readFileSync(path.join(E2E, 'config.json'), 'utf8'));
const S: number = config.tiny_config.img_size;
const L: number = config.tiny_config.num_max_bpe_tokens;
const imageFile = (name: string): string => cases.images[name].file as string; // relative to E2E, as an index image_path

let dir: string;
let cleanup: () => Promise<void>;
let ref: Map<string, Tensor>;
let tokenizer: Beit3Tokenizer;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
  ref = await loadSafetensors(path.join(E2E, 'e2e.safetensors'));
  tokenizer = await Beit3Tokenizer.load(
    path.resolve(import.meta.dirname, '../../fixtures/sentencepiece/unigram_8k.model'),
  );
});
afterAll(() => cleanup());

function concatBatches(batches: LoaderBatch<any>[], key: string): Tensor {
  const parts = batches.map((b) => b.batch[key] as Tensor);
  const rows = parts.reduce((n, t) => n + t.shape[0], 0);
  const out = Tensor.zeros(parts[0].dtype, [rows, ...parts[0].shape.slice(1)]);
  let off = 0;
  for (const t of parts) {
    (out.data as Float32Array).set(t.data as Float32Array, off);
    off += t.data.length;
  }
  return out;
}

function stackRef(names: string[], suffix: string): Tensor {
  const ts = names.map((n) => ref.get(`image.${n}.${suffix}`)!);
  const out = Tensor.zeros('float32', [ts.length, ...ts[0].shape]);
  ts.forEach((t, i) => (out.data as Float32Array).set(t.data as Float32Array, i * t.data.length));
  return out;
}

/** The official VL item: image through the eval transform, text_segment through _get_text_segment. */
const vlItem = (item: { image_path: string; text_segment: number[] }) => async () => ({
  image: vlEvalTransform(await decodeImage(path.resolve(E2E, item.image_path)), S),
  ...segment(item.text_segment),
});
const segment = (ids: number[]) => {
  const s = tokenizer.textSegment(ids, L);
  return { language_tokens: s.tokens, padding_mask: s.paddingMask };
};

describe('official unilm index → loader → collated batches equal the official tensors', () => {
  it('VQA: vqa.test.jsonl through decode/transform/segment stages, in batches of 3', async () => {
    const items = cases.tasks.vqav2.items;
    const index = path.join(dir, 'vqa.test.jsonl');
    await writeUnilmIndex(
      index,
      items.map((it: any) => ({
        image_path: imageFile(it.image),
        text_segment: it.ids,
        labels: [],
        scores: [],
        qid: it.qid,
      })),
    );
    const loader = new DataLoader({
      source: await unilmIndexSource(index, 'vqav2'),
      stages: [mapStage(async (it: any) => ({ ...(await vlItem(it)()), qid: it.qid }), { concurrency: 2 })],
      batch: { size: 3 },
    });
    const batches = await collect(loader.iterate());
    expect(batches.map((b) => b.indices.length)).toEqual([3, 3, 2]);
    const tokens = concatBatches(batches, 'language_tokens');
    expect(tokens.dtype).toBe('int64');
    expect(tokens.toArray()).toEqual(ref.get('vqav2.language_tokens')!.toArray());
    expect(concatBatches(batches, 'padding_mask').toArray()).toEqual(
      ref.get('vqav2.padding_mask')!.toArray(),
    );
    expect(concatBatches(batches, 'qid').toArray()).toEqual(items.map((i: any) => i.qid));
    const images = concatBatches(batches, 'image');
    expect(images.shape).toEqual([items.length, 3, S, S]);
    expect(
      maxAbs(
        images,
        stackRef(
          items.map((i: any) => i.image),
          'vl',
        ),
      ),
    ).toBe(0);
  });

  it('NLVR2: two images per item and labels', async () => {
    const items = cases.tasks.nlvr2.items;
    const index = path.join(dir, 'nlvr2.test-P.index.jsonl');
    await writeUnilmIndex(
      index,
      items.map((it: any) => ({
        image_path: imageFile(it.image_left),
        image2_path: imageFile(it.image_right),
        text_segment: it.ids,
        label: it.label,
        identifier: it.identifier,
      })),
    );
    const loader = new DataLoader({
      source: await unilmIndexSource(index, 'nlvr2'),
      stages: [
        mapStage(async (it: any) => ({
          ...(await vlItem(it)()),
          image2: vlEvalTransform(await decodeImage(path.resolve(E2E, it.image2_path)), S),
          label: it.label,
        })),
      ],
      batch: { size: items.length },
    });
    const [b] = await collect(loader.iterate());
    expect((b.batch.language_tokens as Tensor).toArray()).toEqual(
      ref.get('nlvr2.language_tokens')!.toArray(),
    );
    expect((b.batch.padding_mask as Tensor).toArray()).toEqual(ref.get('nlvr2.padding_mask')!.toArray());
    expect((b.batch.label as Tensor).toArray()).toEqual(ref.get('nlvr2.label')!.toArray());
    expect(
      maxAbs(
        b.batch.image as Tensor,
        stackRef(
          items.map((i: any) => i.image_left),
          'vl',
        ),
      ),
    ).toBe(0);
    expect(
      maxAbs(
        b.batch.image2 as Tensor,
        stackRef(
          items.map((i: any) => i.image_right),
          'vl',
        ),
      ),
    ).toBe(0);
  });

  it('ImageNet: the class-folder index equals the official one, and labels/images through the imagenet transform', async () => {
    const items = cases.tasks.imageclassification.items;
    // lay out the official val/<class>/<file> folder from the fixture images
    for (const it of items) {
      const dest = path.join(dir, 'imagenet', it.index_entry.image_path);
      await mkdir(path.dirname(dest), { recursive: true });
      await copyFile(path.resolve(E2E, imageFile(it.image)), dest);
    }
    const folder = await scanImageFolder(path.join(dir, 'imagenet', 'val'), { extensions: 'all' });
    expect(folder.classes).toEqual(cases.tasks.imageclassification.class_names);
    const entries = folder.items.map((i) => ({ image_path: `val/${i.relativePath}`, label: i.label }));
    expect(entries).toEqual(items.map((i: any) => i.index_entry));
    // the official builder (classes from the train folder, prefix-stripped paths) writes the same file
    for (const c of folder.classes) await mkdir(path.join(dir, 'imagenet', 'train', c), { recursive: true });
    const built = await makeImageNetIndex(
      path.join(dir, 'imagenet', 'train'),
      path.join(dir, 'imagenet', 'val'),
      path.join(dir, 'imagenet'),
    );
    expect(built.train).toEqual([]);
    expect(built.val.map(({ image_path, label }) => ({ image_path, label }))).toEqual(entries);
    const index = path.join(dir, 'imagenet', 'imagenet.val.index.jsonl');
    expect(readFileSync(index, 'utf8').split('\n')[0]).toBe(
      JSON.stringify(entries[0]).replace(/":/g, '": ').replace(/,"/g, ', "'),
    );
    const loader = new DataLoader({
      source: await unilmIndexSource(index, 'imagenet'),
      stages: [
        mapStage(async (it: any) => ({
          image: imagenetEvalTransform(await decodeImage(path.join(dir, 'imagenet', it.image_path)), S),
          label: it.label,
        })),
      ],
      batch: { size: 4 },
    });
    const batches = await collect(loader.iterate());
    expect(concatBatches(batches, 'label').toArray()).toEqual(
      ref.get('imageclassification.label')!.toArray(),
    );
    expect(
      maxAbs(
        concatBatches(batches, 'image'),
        stackRef(
          items.map((i: any) => i.image),
          'imagenet',
        ),
      ),
    ).toBe(0);
  });

  it('WebDataset: a tar shard of image files + raw captions, tokenized in the loader, equals the retrieval batch', async () => {
    const texts = cases.tasks.retrieval.texts;
    const entries = [];
    for (const t of texts) {
      const key = `r${String(t.text_index).padStart(3, '0')}`;
      const file = path.resolve(E2E, imageFile(t.image));
      entries.push({ name: `${key}${path.extname(file)}`, data: await readFile(file) });
      entries.push({ name: `${key}.txt`, data: t.text });
      entries.push({ name: `${key}.json`, data: JSON.stringify({ image_id: t.image_id }) });
    }
    const shard = path.join(dir, 'retrieval-000000.tar');
    await writeFile(shard, await tarBytes(entries));
    const loader = new DataLoader({
      source: webDatasetSource(shard, { shuffleShards: false }),
      stages: [
        mapStage(
          async (raw: any) => {
            const s = decodeWdsSample(raw);
            const image = vlEvalTransform(await decodeImage(s.image!, { name: s.key }), S);
            return {
              image,
              ...segment(tokenizer.encode(s.text!)),
              image_id: (s.json as { image_id: number }).image_id,
            };
          },
          { concurrency: 2 },
        ),
      ],
      batch: { size: 5 },
    });
    const batches = await collect(loader.iterate());
    expect(concatBatches(batches, 'language_tokens').toArray()).toEqual(
      ref.get('retrieval.language_tokens')!.toArray(),
    );
    expect(concatBatches(batches, 'padding_mask').toArray()).toEqual(
      ref.get('retrieval.padding_mask')!.toArray(),
    );
    expect(concatBatches(batches, 'image_id').toArray()).toEqual(ref.get('retrieval.image_id')!.toArray());
    expect(
      maxAbs(
        concatBatches(batches, 'image'),
        stackRef(
          texts.map((t: any) => t.image),
          'vl',
        ),
      ),
    ).toBe(0);
  });
});
