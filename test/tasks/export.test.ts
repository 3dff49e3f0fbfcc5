// Exported ONNX files run in onnxruntime-node directly (no project code) and give the in-process
// pipeline's outputs; int8 quantization rewrites the weight MatMuls and stays close.
import { existsSync, readFileSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { Tensor } from '../../src/graph/tensor.js';
import { loadSafetensors } from '../../src/io/safetensors.js';
import {
  exportTaskModel,
  loadTaskConfig,
  loadTaskModel,
  pipeline,
  type VqaPipeline,
  OutputWriteError,
} from '../../src/tasks/index.js';
import { quantizePerColumn } from '../../src/graph/passes/quantize.js';
import { cases, CONFIG, E2E, img, maxAbs, tempDir } from './e2e-fixture.js';
import { Graph, ops, toModelProto } from '../../src/graph/index.js';
import { writeOnnx } from '../../src/tasks/export.js';

const tmp = tempDir('beit3-export-');
let ref: Map<string, Tensor>;
beforeAll(async () => (ref = await loadSafetensors(join(E2E, 'e2e.safetensors'))));
const toOrt = (t: Tensor) => new ort.Tensor(t.dtype as 'float32', t.data as Float32Array, t.shape);

describe('export', () => {
  it('VQA: one self-contained file with named inputs/outputs, same logits as the pipeline (inline and external data)', async () => {
    const loaded = await loadTaskModel(loadTaskConfig(CONFIG, { task: 'vqa' }));
    const out = join(tmp, 'vqa.onnx');
    const r = exportTaskModel(loaded, out);
    expect(r.files).toEqual([out, `${out}.meta.json`]);
    expect(r.graphs[0].inputs.map((i) => i.name)).toEqual(['image', 'question', 'padding_mask']);
    const ext = exportTaskModel(loaded, join(tmp, 'vqa-ext.onnx'), { external: true });
    expect(existsSync(join(tmp, 'vqa-ext.onnx.data'))).toBe(true);
    const items = cases.tasks.vqav2.items as { image: string; question: string }[];
    const p = (await pipeline('vqa', { config: CONFIG })) as VqaPipeline;
    const image = await p.preprocess(items.map((i) => img(i.image)));
    const q = ref.get('vqav2.language_tokens')!;
    const m = ref.get('vqav2.padding_mask')!;
    const ours = await p.logits(image, q, m);
    for (const file of [out, ext.graphs[0].path]) {
      const s = await ort.InferenceSession.create(file);
      expect(s.outputNames).toEqual(['logits']);
      const got = (await s.run({ image: toOrt(image), question: toOrt(q), padding_mask: toOrt(m) })).logits
        .data as Float32Array;
      expect(maxAbs(got, ours.data as Float32Array)).toBeLessThan(1e-6);
      expect(maxAbs(got, ref.get('vqav2.logits')!.data as Float32Array)).toBeLessThan(1e-4);
      await s.release();
    }
    const meta = JSON.parse(readFileSync(r.metaPath, 'utf8'));
    expect(meta.labels).toEqual(cases.tasks.vqav2.label2ans);
    await p.dispose();
  });

  it('retrieval and captioning export one file per graph', async () => {
    const ret = exportTaskModel(
      await loadTaskModel(loadTaskConfig(CONFIG, { task: 'retrieval' })),
      join(tmp, 'ret.onnx'),
    );
    expect(ret.graphs.map((g) => g.role)).toEqual(['image', 'text']);
    const s = await ort.InferenceSession.create(join(tmp, 'ret.text.onnx'));
    const got = await s.run({
      text_description: toOrt(ref.get('retrieval.language_tokens')!),
      padding_mask: toOrt(ref.get('retrieval.padding_mask')!),
    });
    expect(
      maxAbs(got.language_cls.data as Float32Array, ref.get('retrieval.language_cls')!.data as Float32Array),
    ).toBeLessThan(1e-4);
    await s.release();
    const cap = exportTaskModel(
      await loadTaskModel(loadTaskConfig(CONFIG, { task: 'captioning' })),
      join(tmp, 'cap.onnx'),
    );
    expect(cap.graphs.map((g) => g.role)).toEqual(['first', 'step']);
    expect(cap.graphs[1].inputs.map((i) => i.name).slice(0, 4)).toEqual([
      'text_ids',
      'text_len',
      'src',
      'beam_scores',
    ]);
  });
});

describe('int8 quantization', () => {
  it('per-column symmetric int8: dequantized error ≤ half a step', () => {
    const K = 5;
    const N = 3;
    const w = Float32Array.from({ length: K * N }, (_, i) => Math.sin(i * 1.7) * (1 + (i % N)));
    const { q, scale } = quantizePerColumn(w, K, N);
    for (let n = 0; n < N; n++) {
      let amax = 0;
      for (let k = 0; k < K; k++) amax = Math.max(amax, Math.abs(w[k * N + n]));
      expect(scale[n]).toBeCloseTo(amax / 127, 7);
      for (let k = 0; k < K; k++)
        expect(Math.abs(q[k * N + n] * scale[n] - w[k * N + n])).toBeLessThanOrEqual(scale[n] / 2 + 1e-7);
    }
    expect(Math.max(...Array.from(q, Math.abs))).toBe(127);
  });

  it('q8 pipelines (default scope) keep the fixture answers; scope "all" rewrites every weight MatMul; exports load in plain ORT', async () => {
    const fp = (await pipeline('vqa', { config: CONFIG })) as VqaPipeline;
    const q8 = (await pipeline('vqa', { config: CONFIG, dtype: 'q8' })) as VqaPipeline;
    const items = cases.tasks.vqav2.items as { image: string; question: string; answer: string }[];
    const image = await fp.preprocess(items.map((i) => img(i.image)));
    const a = await fp.logits(image, ref.get('vqav2.language_tokens')!, ref.get('vqav2.padding_mask')!);
    const b = await q8.logits(image, ref.get('vqav2.language_tokens')!, ref.get('vqav2.padding_mask')!);
    const range = Math.max(...Array.from(a.data as Float32Array, Math.abs));
    const err = maxAbs(a.data as Float32Array, b.data as Float32Array);
    expect(err).toBeLessThan(0.1 * range);
    expect(err).toBeGreaterThan(0); // it really is another computation
    const answers = await q8.run(items.map((i) => ({ image: img(i.image), question: i.question })));
    expect(answers.map((x) => x.answer)).toEqual(items.map((i) => i.answer));
    const loaded = await loadTaskModel(loadTaskConfig(CONFIG, { task: 'vqa' }));
    const L = loaded.config.model.layers;
    // FFN scope: fc1, fc2 of both experts per layer, less the last layer's language-expert FFN,
    // which the CLS-only VQA head never reads (dropped from the graph as dead nodes)
    const ffn = exportTaskModel(loaded, join(tmp, 'vqa-q8ffn.onnx'), {
      dtype: 'q8',
      quantize: { scope: 'ffn' },
    });
    expect(ffn.quantized!.quantized).toBe(L * 4 - 2);
    // all: q, k, v, out, fc1, fc2 of both experts (less the last layer's dead language q, out, fc1,
    // fc2) + pooler + 2 head layers; the patch projection (Reshape) stays float
    const r = exportTaskModel(loaded, join(tmp, 'vqa-q8.onnx'), { dtype: 'q8', quantize: { scope: 'all' } });
    expect(r.quantized!.quantized).toBe(L * 6 * 2 - 4 + 3);
    const all = (await pipeline('vqa', {
      config: CONFIG,
      dtype: 'q8',
      quantize: { scope: 'all' },
    })) as VqaPipeline;
    const c = await all.logits(image, ref.get('vqav2.language_tokens')!, ref.get('vqav2.padding_mask')!);
    const s = await ort.InferenceSession.create(join(tmp, 'vqa-q8.onnx'));
    const got = await s.run({
      image: toOrt(image),
      question: toOrt(ref.get('vqav2.language_tokens')!),
      padding_mask: toOrt(ref.get('vqav2.padding_mask')!),
    });
    expect(maxAbs(got.logits.data as Float32Array, c.data as Float32Array)).toBeLessThan(1e-5);
    await s.release();
    await Promise.all([fp.dispose(), q8.dispose(), all.dispose()]);
  });
});
void Tensor;

describe('writeOnnx rejects unwritable paths', () => {
  // Writing an ONNX model where it cannot go (missing folder, a directory in the way) fails with
  // an OutputWriteError naming the requested path, and leaves no temp or partial file behind.
  const dir = tempDir('write-errors-');

  function model() {
    const g = new Graph('w');
    const w = g.constant(Tensor.f32([512], new Float32Array(512).fill(1))); // 2 KiB: external-able
    g.output(ops.add(g.input('x', 'float32', [512]), w), 'y');
    return toModelProto(g);
  }

  describe('writeOnnx on an unwritable path', () => {
    it('names the missing folder', () => {
      const out = join(dir, 'no/such/folder/m.onnx');
      expect(() => writeOnnx(model(), out)).toThrow(OutputWriteError);
      expect(() => writeOnnx(model(), out)).toThrow(`cannot write ${out}: its folder does not exist`);
    });

    it('refuses an existing directory and leaves no temp file', () => {
      const out = join(dir, 'taken.onnx');
      mkdirSync(out);
      expect(() => writeOnnx(model(), out)).toThrow(`cannot write ${out}: it is a directory`);
      expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    });

    it('with external data: a directory where <out>.data goes leaves neither the model nor temp files', () => {
      const sub = join(dir, 'ext');
      mkdirSync(sub);
      const out = join(sub, 'm.onnx');
      mkdirSync(`${out}.data`);
      expect(() => writeOnnx(model(), out, { external: true })).toThrow(OutputWriteError);
      expect(() => writeOnnx(model(), out, { external: true })).toThrow(
        `cannot write ${out}.data: it is a directory`,
      );
      expect(existsSync(out)).toBe(false);
      expect(readdirSync(sub)).toEqual(['m.onnx.data']);
    });

    it('writes normally otherwise', () => {
      const out = join(dir, 'ok.onnx');
      expect(writeOnnx(model(), out, { external: true })).toEqual([out, `${out}.data`]);
    });
  });
});
