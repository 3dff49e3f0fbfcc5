import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Tensor } from '../../src/graph/tensor.js';
import { loadSafetensors } from '../../src/io/safetensors.js';
import {
  classesInCheckpoint,
  createModel,
  detectCheckpointTask,
  filterCheckpoint,
  IMAGENET_NORM,
  INCEPTION_NORM,
  interpolatePosEmbed,
  listModels,
  PRETRAINED,
  pretrainedCfg,
} from '../../src/index.js';
import { maxAbs } from '../support/compare.js';

const FIX = join(import.meta.dirname, '../../fixtures/beit3-ref');

describe('position-embedding interpolation (official rule)', () => {
  for (const c of [
    { name: 'up', grid: 6 },
    { name: 'down', grid: 3 },
  ]) {
    it(`${c.name}: matches the official load_model_and_may_interpolate output within 1e-5`, async () => {
      const fx = await loadSafetensors(join(FIX, 'interp.safetensors'));
      const input = fx.get(`${c.name}.pos_embed_in`)!;
      const ref = fx.get(`${c.name}.pos_embed_out`)!;
      const out = interpolatePosEmbed(input, c.grid * c.grid);
      expect(out.shape).toEqual(ref.shape);
      expect(maxAbs(out.data as Float32Array, ref.data as Float32Array)).toBeLessThanOrEqual(1e-5);
      // The three leading rows are copied unchanged.
      expect(Array.from((out.data as Float32Array).subarray(0, 3 * 32))).toEqual(
        Array.from((input.data as Float32Array).subarray(0, 3 * 32)),
      );
    });
  }

  it('filterCheckpoint resizes both key spellings, drops mismatched heads and reports it', async () => {
    const fx = await loadSafetensors(join(FIX, 'interp.safetensors'));
    const input = fx.get('up.pos_embed_in')!;
    const ckpt = new Map<string, Tensor>([
      ['beit3.encoder.embed_positions.A.weight', input],
      ['encoder.embed_positions.A.weight', input],
      ['head.weight', Tensor.f32([10, 32])],
      ['head.bias', Tensor.f32([7])],
      ['beit3.text_embed.weight', Tensor.f32([5, 32])],
    ]);
    const { state: stateDict, notes: changes } = filterCheckpoint(ckpt, {
      'beit3.encoder.embed_positions.A.weight': [39, 32],
      'encoder.embed_positions.A.weight': [19, 32],
      'head.weight': [12, 32],
      'head.bias': [7],
    });
    expect(stateDict.get('beit3.encoder.embed_positions.A.weight')!.shape).toEqual([39, 32]);
    expect(stateDict.get('encoder.embed_positions.A.weight')).toBe(input); // same grid: untouched
    expect(stateDict.has('head.weight')).toBe(false);
    expect(stateDict.has('head.bias')).toBe(true);
    expect(stateDict.has('beit3.text_embed.weight')).toBe(true);
    expect(ckpt.has('head.weight')).toBe(true); // input not modified
    expect(changes).toHaveLength(2);
    expect(changes.join('\n')).toMatch(/dropped head\.weight \[10,32\]/);
    expect(changes.join('\n')).toMatch(/4x4 -> 6x6/);
  });

  it('rejects tables that are not a square grid', () => {
    expect(() => interpolatePosEmbed(Tensor.f32([3 + 15, 4]), 36)).toThrow(/not a square grid/);
    expect(() => interpolatePosEmbed(Tensor.f32([19]), 36)).toThrow(/rows, dim/);
  });
});

describe('pretrained cfg per registered name (timm default_cfg)', () => {
  it('every registered name has one, with the official eval preprocessing of its task', () => {
    expect([...PRETRAINED.keys()].sort()).toEqual(listModels().sort());
    const cls = pretrainedCfg('beit3_base_patch16_224_imageclassification');
    expect(cls).toMatchObject({ imgSize: 224, transform: 'imagenet', interpolation: 'bicubic', cropPct: 1 });
    expect(cls).toMatchObject({ numClasses: 1000, normalizeOutput: false, textLen: 64 });
    expect([cls.mean, cls.std]).toEqual([IMAGENET_NORM.mean, IMAGENET_NORM.std]);
    const vqa = pretrainedCfg('beit3_large_patch16_480_vqav2');
    expect(vqa).toMatchObject({ imgSize: 480, transform: 'vl', numClasses: 3129, normalizeOutput: false });
    expect([vqa.mean, vqa.std]).toEqual([INCEPTION_NORM.mean, INCEPTION_NORM.std]);
    expect(pretrainedCfg('beit3_base_patch16_384_retrieval')).toMatchObject({
      transform: 'vl',
      normalizeOutput: true,
    });
    expect(pretrainedCfg('beit3_base_patch16_224_nlvr2').numClasses).toBe(2);
    expect(() => pretrainedCfg('beit3_base_patch16_224_vqa')).toThrow(/did you mean/);
  });

  it('the model a name builds agrees with its cfg (image size, final LayerNorm, classes)', () => {
    for (const name of [
      'beit3_tiny_patch8_32_vqav2',
      'beit3_tiny_patch8_32_retrieval',
      'beit3_tiny_patch8_32_imageclassification',
    ]) {
      const m = createModel(name);
      const c = pretrainedCfg(name);
      expect(m.cfg.imgSize).toBe(c.imgSize);
      expect(m.cfg.normalizeOutput).toBe(c.normalizeOutput);
      const keys = [...m.shapes().keys()];
      expect(keys.some((k) => k.startsWith('beit3.encoder.layer_norm.'))).toBe(c.normalizeOutput);
    }
  });
});

describe('filterCheckpoint: head detection, final LayerNorm, backbone only', () => {
  const state = (name: string, classes?: number) =>
    createModel(name, classes ? { numClasses: classes } : {})
      .initialize(1)
      .stateDict();

  it('detects the task and the class count of each head from its marker keys', () => {
    for (const [name, task, classes] of [
      ['beit3_tiny_patch8_32_vqav2', 'vqav2', 3129],
      ['beit3_tiny_patch8_32_nlvr2', 'nlvr2', 2],
      ['beit3_tiny_patch8_32_imageclassification', 'imageclassification', 7],
      ['beit3_tiny_patch8_32_retrieval', 'retrieval', undefined],
      ['beit3_tiny_patch8_32_captioning', 'captioning', undefined],
      ['beit3_tiny_patch8_32_pretraining', 'pretraining', undefined],
    ] as const) {
      const s = state(name, task === 'imageclassification' ? 7 : undefined);
      expect(detectCheckpointTask(s.keys())).toBe(task);
      expect(filterCheckpoint(s, new Map()).task).toBe(task);
      expect(classesInCheckpoint(task, s)).toBe(classes);
    }
    expect(detectCheckpointTask(state('beit3_tiny_patch8_32').keys())).toBeUndefined();
  });

  it('ignores the final LayerNorm a model without it lacks, and other heads for backbone-only use', () => {
    const retrieval = state('beit3_tiny_patch8_32_retrieval');
    const vqa = createModel('beit3_tiny_patch8_32_vqav2');
    const kept = filterCheckpoint(retrieval, vqa);
    expect([...kept.state.keys()].filter((k) => k.startsWith('beit3.encoder.layer_norm.'))).toHaveLength(4);
    const f = filterCheckpoint(retrieval, vqa, { ignoreFinalNorm: true });
    expect([...f.state.keys()].filter((k) => k.startsWith('beit3.encoder.layer_norm.'))).toHaveLength(0);
    expect(f.notes).toEqual(['ignored 4 final-LayerNorm keys (normalize_output=false)']);
    expect(f.state.has('vision_head.weight')).toBe(true); // not backbone-only: left for the load to report
    const bb = filterCheckpoint(retrieval, createModel('beit3_tiny_patch8_32'), { backboneOnly: true });
    expect([...bb.state.keys()].every((k) => k.startsWith('beit3.'))).toBe(true);
    expect(bb.notes.join()).toMatch(/ignored \d+ head keys/);
    expect(retrieval.has('vision_head.weight')).toBe(true); // input not modified
  });
});
