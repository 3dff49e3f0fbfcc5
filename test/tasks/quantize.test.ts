// int8 (dtype 'q8') against float32 on the e2e fixture models: the default scope keeps every VQA
// answer and every retrieval top-1 (issue goals: ≥ 98% / ≥ 99%); the scopes rewrite the MatMuls
// they name and nothing else.
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  exportTaskModel,
  loadTaskConfig,
  loadTaskModel,
  pipeline,
  RetrievalPipeline,
  type VqaPipeline,
} from '../../src/tasks/index.js';
import { quantizeModelProto, type QuantizeScope } from '../../src/graph/passes/quantize.js';
import { CONFIG, cases, img, tempDir } from './e2e-fixture.js';

const config = CONFIG;
const tmp = tempDir('beit3-q8-');

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
    // two experts (A = vision, B = language) per layer. The VQA head reads only the CLS token (a
    // vision position), so in the last layer the language expert's q_proj, out_proj, fc1 and fc2
    // never reach the output and the exported graph drops them as dead nodes; its k_proj and
    // v_proj stay (the CLS query attends to the text keys and values).
    expect(count('ffn').quantized).toBe(L * 2 * 2 - 2);
    expect(count('layers').quantized).toBe(L * 2 * 6 - 4);
    // the default keeps the attention projections of the first and last layer in float32
    expect(count('mixed').quantized).toBe(L * 2 * 2 - 2 + Math.max(0, L - 2) * 2 * 4);
    const all = count('all');
    expect(all.quantized).toBe(L * 2 * 6 - 4 + 3); // pooler dense, head.0, head.3
    // float MatMuls left: attention scores and weights (2 per expert and layer)
    expect(all.skipped).toBeGreaterThan(0);
  });
});

const { onnx } = onnxProto;
const F32 = onnx.TensorProto.DataType.FLOAT;
const f32 = (name: string, dims: number[], seed: number): onnxProto.onnx.ITensorProto => {
  const a = Float32Array.from({ length: dims.reduce((x, y) => x * y, 1) }, (_, i) =>
    Math.sin(i * 0.7 + seed),
  );
  return { name, dims, dataType: F32, rawData: new Uint8Array(a.buffer) };
};

/** x → per layer: Linear(q_proj) → Linear(fc1) (PyTorch (out, in) weights, Transpose + MatMul + Add bias). */
function chain(layers: number, D: number): onnxProto.onnx.IModelProto {
  const nodes: onnxProto.onnx.INodeProto[] = [];
  const inits: onnxProto.onnx.ITensorProto[] = [];
  let x = 'x';
  let k = 0;
  for (let l = 0; l < layers; l++)
    for (const w of ['self_attn.q_proj.A', 'ffn.A.fc1']) {
      const p = `beit3.encoder.layers.${l}.${w}`;
      inits.push(f32(`${p}.weight`, [D, D], k++), f32(`${p}.bias`, [D], k++));
      nodes.push(
        { opType: 'Transpose', input: [`${p}.weight`], output: [`${p}.wt`] },
        { opType: 'MatMul', input: [x, `${p}.wt`], output: [`${p}.mm`] },
        { opType: 'Add', input: [`${p}.mm`, `${p}.bias`], output: [`${p}.y`] },
      );
      x = `${p}.y`;
    }
  const io = (name: string) => ({
    name,
    type: { tensorType: { elemType: F32, shape: { dim: [{ dimValue: 3 }, { dimValue: D }] } } },
  });
  return {
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'chain',
      node: nodes,
      initializer: inits,
      input: [io('x')],
      output: [{ ...io(x), name: x }],
    },
  };
}

describe('quantizeModelProto', () => {
  it('mixed keeps the attention of the first and last layer in float; ffn/layers as named', () => {
    const quantized = (scope: QuantizeScope) => {
      const m = chain(4, 8);
      quantizeModelProto(m, { scope });
      return m
        .graph!.node!.filter((n) => n.opType === 'DynamicQuantizeMatMul')
        .map((n) => n.input![1].replace(/^beit3\.encoder\.layers\.(\d+)\.(\S+?)\.wt\..*$/, '$1.$2'));
    };
    const attn = (l: number) => `${l}.self_attn.q_proj.A`;
    const ffn = (l: number) => `${l}.ffn.A.fc1`;
    expect(quantized('ffn')).toEqual([0, 1, 2, 3].map(ffn));
    expect(quantized('mixed')).toEqual([ffn(0), attn(1), ffn(1), attn(2), ffn(2), ffn(3)]);
    expect(quantized('layers')).toEqual([0, 1, 2, 3].flatMap((l) => [attn(l), ffn(l)]));
  });

  it('folding the bias into the kernel gives the same outputs as the separate Add', async () => {
    const x = new ort.Tensor(
      'float32',
      Float32Array.from({ length: 3 * 8 }, (_, i) => Math.cos(i)),
      [3, 8],
    );
    const outs: Float32Array[] = [];
    for (const foldBias of [false, true]) {
      const m = chain(2, 8);
      const stats = quantizeModelProto(m, { scope: 'layers', foldBias });
      expect(stats.quantized).toBe(4);
      expect(m.graph!.node!.filter((n) => n.opType === 'Add').length).toBe(foldBias ? 0 : 4);
      const s = await ort.InferenceSession.create(onnx.ModelProto.encode(m).finish());
      outs.push((await s.run({ x }))[s.outputNames[0]].data as Float32Array);
      await s.release();
    }
    for (let i = 0; i < outs[0].length; i++) expect(outs[1][i]).toBeCloseTo(outs[0][i], 4);
  });
});
