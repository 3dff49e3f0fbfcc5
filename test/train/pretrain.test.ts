// Masked data modeling end to end on tiny models: the objective learns on a structured synthetic
// corpus, the shared loop resumes it exactly, the seed decides everything, and the published
// checkpoint (released pretrained layout) loads for fine-tuning.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePth } from '../../src/io/pth.js';
import { configFor, createTaskModel } from '../../src/models/beit3/index.js';
import { loadPretrained } from '../../src/models/beit3/load.js';
import { loadInit } from '../../src/train/recipe.js';
import { Beit3Tokenizer } from '../../src/text/beit3-tokenizer.js';
import {
  applyBeitInit,
  compilePretrain,
  corpusStreams,
  PatchColourTokenizer,
  type Pretrain,
  pretrainGroups,
  pretrainSchedule,
  runPretraining,
} from '../../src/train/pretrain.js';
import { Beit3ForPretraining } from '../../src/models/beit3/heads/pretraining.js';
import { tempDir } from '../data/helpers.js';
import { flatImage, row, sample, VOCAB, WORDS, writeSyntheticCorpus } from './pretrain-synthetic.js';

const T = 10;
const B = 8;

async function syntheticStep(p: Pretrain, k: number) {
  const b = { images: [] as never[], texts: [] as never[], pairs: [] as never[] };
  for (let i = 0; i < B; i++) {
    const seed = k * 100 + i;
    const s = sample(seed);
    (b.images as unknown[]).push(p.batcher.image(flatImage(s.colour), `img${s.colour}`, seed));
    const r = row(new Array<number>(s.textLen).fill(s.word), T);
    (b.texts as unknown[]).push(p.batcher.text(r.tokens, r.padding, seed));
    const pr = row([WORDS[s.colour]], T);
    (b.pairs as unknown[]).push(p.batcher.pair(flatImage(s.colour), `img${s.colour}`, pr.tokens, pr.padding, seed));
  }
  return p.step.microStep(await p.batcher.assemble(b), p.schedule[k]);
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

describe('MDM objective on a structured synthetic corpus', () => {
  it('decoupled: the loss falls and masked-token accuracy of images and pairs rises far above chance in 40 steps', async () => {
    const steps = 40;
    const p = await compilePretrain({
      model: 'beit3_tiny_patch8_32_pretraining',
      batch: { images: B, texts: B, pairs: B },
      textLen: T,
      tokenizer: new PatchColourTokenizer(8, 2),
      vocab: VOCAB,
      hp: { lr: 2e-3, warmupSteps: 5, steps },
      seed: 1,
      view: { colorJitter: 0 },
    });
    expect(p.objective.terms).toEqual(['mim', 'mlm_text', 'mlm_pair']);
    const hist: Record<string, number[]> = {};
    const losses: number[] = [];
    for (let k = 0; k < steps; k++) {
      const r = await syntheticStep(p, k);
      losses.push(r.loss);
      for (const [n, v] of Object.entries(r.outputs)) (hist[n] ??= []).push(Number(v.data[0]));
      // the total is the sum of the three terms
      expect(r.loss).toBeCloseTo(hist['mim.loss'][k] + hist['mlm_text.loss'][k] + hist['mlm_pair.loss'][k], 4);
    }
    const first = (n: string) => mean(hist[n].slice(0, 3));
    const last = (n: string) => mean(hist[n].slice(-5));
    expect(mean(losses.slice(-5))).toBeLessThan(0.8 * mean(losses.slice(0, 3)));
    for (const n of ['mim.loss', 'mlm_text.loss', 'mlm_pair.loss']) expect(last(n), n).toBeLessThan(first(n));
    // chance: 1/8 colours (mim, pair words)
    expect(last('mim.acc')).toBeGreaterThan(0.6);
    expect(last('mlm_pair.acc')).toBeGreaterThan(0.5);
    await p.step.release();
  }, 120_000);

  it('shared attention with a VL expert in the top layer trains too; pairs route through the C experts', async () => {
    const p = await compilePretrain({
      model: 'beit3_tiny_patch8_32_pretraining',
      variant: 'shared',
      vlExpertLayers: 1,
      batch: { images: B, texts: B, pairs: B },
      textLen: T,
      tokenizer: new PatchColourTokenizer(8, 2),
      vocab: VOCAB,
      hp: { lr: 2e-3, warmupSteps: 3, steps: 15 },
      seed: 2,
      view: { colorJitter: 0 },
    });
    const used = p.objective.params.map((v) => v.name);
    expect(used).toContain('beit3.encoder.layers.1.ffn.C.fc1.weight');
    expect(used).toContain('beit3.encoder.layers.0.self_attn.q_proj.weight');
    const losses: number[] = [];
    for (let k = 0; k < 15; k++) losses.push((await syntheticStep(p, k)).loss);
    expect(mean(losses.slice(-3))).toBeLessThan(mean(losses.slice(0, 3)));
    await p.step.release();
  }, 120_000);

  it('BEiT init: trunc normal 0.02 with out_proj / fc2 rescaled by 1/√(2·layer); no decay on 1-D, biases, positions, cls/mask tokens', () => {
    const cfg = configFor('beit3_tiny_patch8_32_pretraining');
    const m = new Beit3ForPretraining(cfg, 8);
    const { rescaled } = applyBeitInit(m);
    expect(rescaled).toBe(2 * 2 * 2); // 2 layers × (out_proj + fc2) × experts A, B
    m.initialize(3);
    const sd = m.stateDict();
    const std = (k: string) => {
      const x = sd.get(k)!.data as Float32Array;
      const mu = mean([...x]);
      return Math.sqrt(mean([...x].map((v) => (v - mu) ** 2)));
    };
    const maxAbs = (k: string) => Math.max(...[...(sd.get(k)!.data as Float32Array)].map(Math.abs));
    // trunc_normal(std 0.02, ±0.02) has std ≈ 0.0108
    expect(std('beit3.encoder.layers.0.self_attn.q_proj.A.weight')).toBeCloseTo(0.0108, 3);
    expect(maxAbs('beit3.encoder.layers.0.self_attn.q_proj.A.weight')).toBeLessThanOrEqual(0.02);
    expect(maxAbs('beit3.encoder.layers.0.ffn.B.fc2.weight')).toBeLessThanOrEqual(0.02 / Math.sqrt(2) + 1e-7);
    expect(maxAbs('beit3.encoder.layers.1.self_attn.out_proj.A.weight')).toBeLessThanOrEqual(0.02 / 2 + 1e-7);
    expect(maxAbs('beit3.encoder.layers.1.ffn.A.fc1.weight')).toBeGreaterThan(0.015);
    expect(maxAbs('beit3.vision_embed.mask_token')).toBeLessThanOrEqual(0.02);
    const groups = pretrainGroups(m, 0.05);
    const noDecay = groups.find((g) => g.weightDecay === 0)!.params;
    for (const k of ['beit3.encoder.embed_positions.A.weight', 'beit3.encoder.embed_positions.B.weight', 'beit3.vision_embed.cls_token', 'beit3.vision_embed.mask_token', 'mlm_head.bias', 'beit3.encoder.layer_norm.A.weight'])
      expect(noDecay, k).toContain(k);
    const decay = groups.find((g) => g.weightDecay === 0.05)!.params;
    expect(decay).toContain('mim_head.weight');
    expect(decay).toContain('beit3.text_embed.weight');
    // warmup from 0 to the peak, cosine to min
    const s = pretrainSchedule({ lr: 1e-3, minLr: 1e-5, warmupSteps: 4, steps: 10 });
    expect(s.length).toBe(10);
    expect(s[0]).toBe(0);
    expect(s[3]).toBeCloseTo(1e-3, 12);
    expect(s[9]).toBeGreaterThan(1e-5);
    expect(s[9]).toBeLessThan(1e-4);
  });
});

describe('beit3 pretraining on the shared loop', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let tok: Beit3Tokenizer;
  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir());
    await writeSyntheticCorpus(dir, 12);
    tok = await Beit3Tokenizer.load(join(import.meta.dirname, '../../fixtures/sentencepiece/unigram_8k.model'));
  });
  afterAll(() => cleanup());

  const run = (out: string, o: { seed?: number; maxSteps?: number; resume?: boolean } = {}) =>
    runPretraining({
      model: { ...configFor('beit3_tiny_patch8_32_pretraining'), vocabSize: tok.vocabSize },
      batch: { images: 3, texts: 2, pairs: 2 },
      textLen: T,
      tokenizer: new PatchColourTokenizer(8, 2),
      vocab: tok,
      textTokenizer: tok,
      streams: corpusStreams(dir),
      hp: { lr: 1e-3, warmupSteps: 2, steps: 6, updateFreq: 2 },
      stepsPerEpoch: 3,
      seed: o.seed ?? 7,
      outputDir: join(dir, out),
      maxSteps: o.maxSteps,
      resume: o.resume,
    });

  it('resume gives the same later losses, the seed decides the run, and the checkpoint loads for fine-tuning', async () => {
    const a = await run('a');
    expect(a.steps).toBe(6);
    expect(a.losses.length).toBe(12); // update_freq 2
    const b1 = await run('b', { maxSteps: 2 }); // stops mid-epoch with a checkpoint
    expect(b1.stopped).toBe('max_steps');
    const b2 = await run('b', { resume: true });
    expect([...b1.losses, ...b2.losses]).toEqual(a.losses);
    const terms = a.log.records.filter((r) => r.type === 'step').map((r) => (r as { terms: Record<string, number> }).terms);
    for (const k of ['mim.loss', 'mim.acc', 'mlm_text.loss', 'mlm_text.acc', 'mlm_pair.loss', 'mlm_pair.acc']) expect(terms[0][k], k).toBeTypeOf('number');
    const c = await run('c', { seed: 8, maxSteps: 1 });
    expect(c.losses[0]).not.toBe(a.losses[0]);

    // the released pretrained layout: a torch.save zip with beit3.* + mlm_head + mim_head under 'model'
    expect(a.published).toBe(join(dir, 'a', 'pretrained.pth'));
    const state = parsePth(readFileSync(a.published!), {});
    expect(state.metadata.model_key).toBe('model');
    const keys = [...state.keys()];
    expect(keys.every((k) => /^(beit3|mlm_head|mim_head)\./.test(k))).toBe(true);
    expect(keys).toContain('mim_head.weight');
    expect(state.get('mim_head.weight')!.shape).toEqual([8, 32]);
    // fine-tuning init (unilm load_model_and_may_interpolate): the whole backbone loads, heads are new
    const cfg = { ...configFor('beit3_tiny_patch8_32_imageclassification'), vocabSize: tok.vocabSize };
    const ft = createTaskModel('imageclassification', cfg, 5);
    const r = await loadPretrained(ft, a.published!);
    expect(r.missing.every((k) => k.startsWith('head.') || k.startsWith('fc_norm.'))).toBe(true);
    // the MDM heads, and the final LayerNorm that classification (normalize_output=False) does not use
    expect(r.unexpected.sort()).toEqual([
      'beit3.encoder.layer_norm.A.bias', 'beit3.encoder.layer_norm.A.weight', 'beit3.encoder.layer_norm.B.bias', 'beit3.encoder.layer_norm.B.weight',
      'mim_head.bias', 'mim_head.weight', 'mlm_head.bias', 'mlm_head.weight',
    ]);
    const q = 'beit3.encoder.layers.1.self_attn.q_proj.B.weight';
    expect(Array.from(ft.stateDict().get(q)!.data as Float32Array)).toEqual(Array.from(state.get(q)!.data as Float32Array));
    // and `beit3 finetune --init` (loadInit: every backbone key must fit) takes it as is
    const ft2 = createTaskModel('imageclassification', cfg, 5);
    const notes = await loadInit(ft2, a.published!);
    expect(notes.join('\n')).toMatch(/ignored \(other heads\): mlm_head.weight, mlm_head.bias, mim_head.weight, mim_head.bias/);
    expect(Array.from(ft2.stateDict().get(q)!.data as Float32Array)).toEqual(Array.from(state.get(q)!.data as Float32Array));
    // plots and the log from the shared loop
    const files = (await import('node:fs')).readdirSync(join(dir, 'a'));
    expect(files).toContain('log.jsonl');
    expect(files).toContain('checkpoint-last.safetensors');
    expect(files.some((f) => f.endsWith('.svg'))).toBe(true);
  }, 240_000);
});
