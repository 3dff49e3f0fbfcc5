// int8 (dtype 'q8') against float32 on the e2e fixture models: the default scope keeps every VQA
// answer and every retrieval top-1 (issue goals: ≥ 98% / ≥ 99%); the scopes rewrite the MatMuls
// they name and nothing else.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  exportTaskModel,
  loadTaskConfig,
  loadTaskModel,
  pipeline,
  type QuantizeScope,
  RetrievalPipeline,
  type VqaPipeline,
} from '../../src/tasks/index.js';

const E2E = resolve('fixtures/beit3-ref/e2e');
const config = join(E2E, 'config.json');
const cases = JSON.parse(readFileSync(join(E2E, 'cases.json'), 'utf8'));
const img = (n: string) => join(E2E, cases.images[n].file);
const tmp = mkdtempSync(join(tmpdir(), 'beit3-q8-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function vqaAnswers(dtype: 'fp32' | 'q8'): Promise<string[]> {
  const items = cases.tasks.vqav2.items as { image: string; question: string }[];
  const p = (await pipeline('vqa', { config, dtype })) as VqaPipeline;
  const r = await p.run(items.map((i) => ({ image: img(i.image), question: i.question })));
  await p.dispose();
  return r.map((x) => x.answer);
}

/** Top-1 image per text, then top-1 text per image. */
async function retrievalTop1(dtype: 'fp32' | 'q8'): Promise<number[]> {
  const p = (await pipeline('retrieval', { config, dtype })) as RetrievalPipeline;
  const images = (cases.tasks.retrieval.images as { image: string; image_id: number }[])
    .slice()
    .sort((a, b) => a.image_id - b.image_id)
    .map((i) => img(i.image));
  const texts = (cases.tasks.retrieval.texts as { text: string }[]).map((t) => t.text);
  const s = RetrievalPipeline.scores(await p.embedImages(images), await p.embedTexts(texts));
  await p.dispose();
  const r = RetrievalPipeline.rankings(s);
  return [...r.imageRankPerText.map((x) => x[0]), ...r.textRankPerImage.map((x) => x[0])];
}

const agreement = <T>(a: T[], b: T[]) => a.filter((x, i) => x === b[i]).length / a.length;

describe('q8 agreement with fp32 (e2e fixture models)', () => {
  it('default q8: VQA answers ≥ 98%, retrieval top-1 (both directions) ≥ 99%', async () => {
    const [fa, qa] = [await vqaAnswers('fp32'), await vqaAnswers('q8')];
    expect(fa).toEqual((cases.tasks.vqav2.items as { answer: string }[]).map((i) => i.answer));
    expect(agreement(qa, fa)).toBeGreaterThanOrEqual(0.98);
    const [fr, qr] = [await retrievalTop1('fp32'), await retrievalTop1('q8')];
    expect(fr.length).toBe(cases.tasks.retrieval.texts.length + cases.tasks.retrieval.images.length);
    expect(agreement(qr, fr)).toBeGreaterThanOrEqual(0.99);
  });

  it('scopes: ffn = fc1/fc2, mixed = + attention of inner layers, layers = + all attention, all = + pooler and head', async () => {
    const loaded = await loadTaskModel(loadTaskConfig(config, { task: 'vqa' }));
    const L = loaded.config.model.layers;
    const count = (scope: QuantizeScope) =>
      exportTaskModel(loaded, join(tmp, `${scope}.onnx`), {
        dtype: 'q8',
        quantize: { scope },
      }).quantized!;
    // two experts (A = vision, B = language) per layer
    expect(count('ffn').quantized).toBe(L * 2 * 2);
    expect(count('layers').quantized).toBe(L * 2 * 6);
    // the default keeps the attention projections of the first and last layer in float32
    expect(count('mixed').quantized).toBe(L * 2 * 2 + Math.max(0, L - 2) * 2 * 4);
    const all = count('all');
    expect(all.quantized).toBe(L * 2 * 6 + 3); // pooler dense, head.0, head.3
    // float MatMuls left: attention scores and weights (2 per expert and layer)
    expect(all.skipped).toBeGreaterThan(0);
  });
});
