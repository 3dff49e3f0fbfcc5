import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Graph, Program, Tensor } from '../../src/index.js';
import {
  configFor,
  createModel,
  fromEncoderConfig,
  listModels,
  paramBreakdown,
  UnknownModelError,
} from '../../src/models/beit3/index.js';
import { ParamScope } from '../../src/nn/module.js';

describe('beit3 registry', () => {
  it('has every model registered in modeling_finetune.py', () => {
    const names = listModels();
    for (const n of [
      'beit3_base_patch16_224_imageclassification',
      'beit3_large_patch16_224_imageclassification',
      'beit3_base_patch16_224_nlvr2',
      'beit3_base_patch16_384_vqav2',
      'beit3_base_patch16_480_vqav2',
      'beit3_large_patch16_768_vqav2',
      'beit3_base_patch16_480_captioning',
      'beit3_large_patch16_384_retrieval',
      'beit3_base_patch16_224',
      'beit3_giant_patch14_224',
      'beit3_tiny_patch8_32_vqav2',
    ])
      expect(names).toContain(n);
  });

  it('unknown names raise a typed error with close suggestions', () => {
    let err: unknown;
    try {
      createModel('beit3_base_patch16_480_vqa');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UnknownModelError);
    expect((err as UnknownModelError).suggestions).toContain('beit3_base_patch16_480_vqav2');
    expect((err as Error).message).toMatch(/did you mean/);
  });

  it('the tiny size equals the public fixture config', () => {
    const js = JSON.parse(
      readFileSync(join(import.meta.dirname, '../../fixtures/beit3-ref/backbone.json'), 'utf8'),
    );
    expect(configFor('beit3_tiny_patch8_32')).toEqual(fromEncoderConfig(js.encoder_config));
  });

  it('giant reproduces the paper breakdown (692M V, 692M L, 52M VL experts, 317M shared attention, ~1.9B)', () => {
    const b = paramBreakdown(createModel('beit3_giant_patch14_224'));
    const M = (x: number) => x / 1e6;
    // Experts here include their biases and LayerNorms (+0.9M over the paper's 2·1408·6144·40 = 692.1M).
    expect(Math.abs(M(b.vision_experts) - 692) / 692).toBeLessThan(0.002);
    expect(b.language_experts).toBe(b.vision_experts);
    expect(Math.round(M(b.vl_experts))).toBe(52);
    expect(Math.abs(M(b.shared_attention) - 317)).toBeLessThan(1);
    expect(b.heads).toBe(0);
    // Backbone 1.85B; with the MLM/MIM pretraining heads 1.95B: the paper quotes 1.9B.
    expect(b.total / 1e9).toBeGreaterThan(1.84);
    expect(paramBreakdown(createModel('beit3_giant_patch14_224_pretraining')).total / 1e9).toBeLessThan(1.96);
  });

  it('a shared-attention model with VL experts runs (symbolic batch) and routes fused input to VL experts', async () => {
    const model = createModel('beit3_tiny_patch8_32_vqav2', {
      config: { variant: 'shared', vlExpertLayers: 1 },
    }).initialize(3);
    const keys = [...model.shapes().keys()];
    expect(keys).toContain('beit3.encoder.layers.1.ffn.C.fc1.weight');
    expect(keys).not.toContain('beit3.encoder.layers.0.ffn.C.fc1.weight');
    expect(keys).toContain('beit3.encoder.layers.0.self_attn.q_proj.weight');
    const g = new Graph('shared');
    const s = new ParamScope(g, model);
    const x = {
      image: g.input('image', 'float32', ['batch', 3, 32, 32]),
      question: g.input('question', 'int64', ['batch', 5]),
      padding_mask: g.input('padding_mask', 'int64', ['batch', 5]),
    };
    g.output(model.forward(s, x).logits, 'logits');
    expect(s.used().has('beit3.encoder.layers.1.ffn.C.fc1.weight')).toBe(true);
    expect(s.used().has('beit3.encoder.layers.1.ffn.A.fc1.weight')).toBe(false);
    const p = await Program.compile(g, { bind: s.bindings() });
    for (const B of [1, 3]) {
      const img = Tensor.f32(
        [B, 3, 32, 32],
        Array.from({ length: B * 3072 }, (_, i) => Math.sin(i)),
      );
      const q = Tensor.i64(
        [B, 5],
        Array.from({ length: B * 5 }, (_, i) => 4 + (i % 50)),
      );
      const out = await p.run({
        image: img,
        question: q,
        padding_mask: Tensor.i64([B, 5], Array(B * 5).fill(0)),
      });
      expect(out.logits.shape).toEqual([B, 3129]);
      expect([...(out.logits.data as Float32Array)].every(Number.isFinite)).toBe(true);
    }
  });
});

describe('shared-attention variant gradients', () => {
  it('match central finite differences (shared out_proj, VL expert fc2, text expert fc1)', async () => {
    const { grad } = await import('../../src/autodiff/index.js');
    const model = createModel('beit3_tiny_patch8_32_vqav2', {
      numClasses: 6,
      config: { variant: 'shared', vlExpertLayers: 1 },
    }).initialize(11);
    const g = new Graph('fd');
    const s = new ParamScope(g, model);
    const x = {
      image: g.input('image', 'float32', [2, 3, 32, 32]),
      question: g.input('question', 'int64', [2, 5]),
      padding_mask: g.input('padding_mask', 'int64', [2, 5]),
      labels: g.input('labels', 'float32', [2, 6]),
    };
    const { loss } = model.loss(s, x);
    const keys = [
      'beit3.encoder.layers.1.self_attn.out_proj.weight',
      'beit3.encoder.layers.1.ffn.C.fc2.bias',
      'beit3.encoder.layers.0.ffn.B.fc1.weight',
    ];
    const gs = grad(
      loss,
      keys.map((k) => s.used().get(k)!),
    );
    g.output(loss, 'loss');
    gs.forEach((v, i) => g.output(v, `g${i}`));
    const p = await Program.compile(g, { fuse: false }); // parameters fed, not bound
    const state = model.stateDict();
    const feeds: Record<string, Tensor> = {
      image: Tensor.f32(
        [2, 3, 32, 32],
        Array.from({ length: 2 * 3072 }, (_, i) => Math.sin(i * 0.7)),
      ),
      question: Tensor.i64([2, 5], [0, 17, 33, 8, 2, 0, 44, 2, 1, 1]),
      padding_mask: Tensor.i64([2, 5], [0, 0, 0, 0, 0, 0, 0, 0, 1, 1]),
      labels: Tensor.f32([2, 6], [0, 1, 0, 0.3, 0, 0, 0.6, 0, 0, 0, 1, 0]),
    };
    for (const k of s.used().keys()) feeds[k] = state.get(k)!;
    const base = await p.run(feeds);
    for (const [i, k] of keys.entries()) {
      const t = state.get(k)!;
      for (const idx of [0, 7]) {
        const at = (d: number) => {
          const data = Float32Array.from(t.data as Float32Array);
          data[idx] += d;
          return p
            .run({ ...feeds, [k]: new Tensor('float32', t.shape, data) })
            .then((r) => Number(r.loss.data[0]));
        };
        const h = 1e-2;
        const fd = ((await at(h)) - (await at(-h))) / (2 * h);
        const an = Number(base[`g${i}`].data[idx]);
        expect(Math.abs(an)).toBeGreaterThan(1e-4); // a real signal, well above float32 FD noise
        expect(Math.abs(fd - an)).toBeLessThan(5e-5 + 0.05 * Math.abs(an));
      }
    }
  }, 60_000);
});
