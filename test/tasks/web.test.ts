// `beit3 export`ed models run in onnxruntime-web (its WASM backend, single-threaded, inside Node)
// and give the in-process pipeline's outputs: fp32 VQA and both retrieval encoders, and the
// int8 (DynamicQuantizeMatMul) VQA export.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as ort from 'onnxruntime-web';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Tensor } from '../../src/graph/tensor.js';
import { loadSafetensors } from '../../src/io/safetensors.js';
import {
  exportTaskModel,
  loadTaskConfig,
  loadTaskModel,
  pipeline,
  type RetrievalPipeline,
  type VqaPipeline,
} from '../../src/tasks/index.js';
import { cases, CONFIG, E2E, img, maxAbs, tempDir } from './e2e-fixture.js';

const tmp = tempDir('beit3-web-');
let ref: Map<string, Tensor>;

beforeAll(async () => {
  // the WASM binary from the installed package (no network, no bundler)
  const dist = dirname(createRequire(import.meta.url).resolve('onnxruntime-web'));
  ort.env.wasm.wasmPaths = `${pathToFileURL(dist).href}/`;
  ort.env.wasm.numThreads = 1;
  ref = await loadSafetensors(join(E2E, 'e2e.safetensors'));
});

const toWeb = (t: Tensor) => new ort.Tensor(t.dtype as 'float32', t.data as Float32Array, t.shape);

/** Loads an exported file in onnxruntime-web (bytes, as a browser would fetch them) and runs it. */
async function runWeb(path: string, feeds: Record<string, Tensor>): Promise<Record<string, Float32Array>> {
  const s = await ort.InferenceSession.create(new Uint8Array(readFileSync(path)), {
    executionProviders: ['wasm'],
  });
  try {
    const out = await s.run(Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, toWeb(v)])));
    return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.data as Float32Array]));
  } finally {
    await s.release();
  }
}

describe('onnxruntime-web (WASM) runs exported models', () => {
  const items = cases.tasks.vqav2.items as { image: string; question: string }[];

  for (const dtype of ['fp32', 'q8'] as const)
    it(`VQA (${dtype}): same logits as the in-process pipeline`, async () => {
      const loaded = await loadTaskModel(loadTaskConfig(CONFIG, { task: 'vqa' }));
      const out = join(tmp, `vqa-${dtype}.onnx`);
      exportTaskModel(loaded, out, { dtype });
      const p = (await pipeline('vqa', { config: CONFIG, dtype })) as VqaPipeline;
      const image = await p.preprocess(items.map((i) => img(i.image)));
      const question = ref.get('vqav2.language_tokens')!;
      const padding_mask = ref.get('vqav2.padding_mask')!;
      const ours = (await p.logits(image, question, padding_mask)).data as Float32Array;
      await p.dispose();
      const web = await runWeb(out, { image, question, padding_mask });
      expect(Object.keys(web)).toEqual(['logits']);
      expect(maxAbs(web.logits, ours)).toBeLessThan(1e-4);
      if (dtype === 'fp32')
        expect(maxAbs(web.logits, ref.get('vqav2.logits')!.data as Float32Array)).toBeLessThan(1e-4);
    });

  it('retrieval image and text encoders: same features as the pipeline', async () => {
    const loaded = await loadTaskModel(loadTaskConfig(CONFIG, { task: 'retrieval' }));
    const r = exportTaskModel(loaded, join(tmp, 'ret.onnx'));
    const [imageGraph, textGraph] = r.graphs;
    const p = (await pipeline('retrieval', { config: CONFIG })) as RetrievalPipeline;
    const ims = (cases.tasks.retrieval.images as { image: string; image_id: number }[])
      .slice()
      .sort((a, b) => a.image_id - b.image_id)
      .map((i) => img(i.image));
    const texts = (cases.tasks.retrieval.texts as { text: string }[]).map((t) => t.text);
    const image = await p.preprocess(ims);
    const web = await runWeb(imageGraph.path, { image });
    expect(maxAbs(web.vision_cls, (await p.embedImages(ims)).data as Float32Array)).toBeLessThan(1e-4);
    const webText = await runWeb(textGraph.path, {
      text_description: ref.get('retrieval.language_tokens')!,
      padding_mask: ref.get('retrieval.padding_mask')!,
    });
    const ours = (await p.embedTexts(texts)).data as Float32Array;
    expect(maxAbs(webText.language_cls, ours)).toBeLessThan(1e-4);
    expect(
      maxAbs(webText.language_cls, ref.get('retrieval.language_cls')!.data as Float32Array),
    ).toBeLessThan(1e-4);
    await p.dispose();
  });
});
