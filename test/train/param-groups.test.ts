import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createModel } from '../../src/models/beit3/index.js';
import {
  beit3GroupRule,
  getNumLayerForVit,
  namedParameterShapes,
} from '../../src/models/beit3/param-groups.js';
import { finetuneGroups } from '../../src/train/finetune.js';
import { getParameterGroups, ParamGroupError } from '../../src/train/param-groups.js';

const TRAIN_REF = join(import.meta.dirname, '../../fixtures/train-ref');
const MODEL: Record<string, string> = {
  imagenet: 'beit3_tiny_patch8_32_imageclassification',
  vqav2: 'beit3_tiny_patch8_32_vqav2',
  nlvr2: 'beit3_tiny_patch8_32_nlvr2',
  coco_retrieval: 'beit3_tiny_patch8_32_retrieval',
  coco_captioning: 'beit3_tiny_patch8_32_captioning',
};

describe('official parameter groups (optim_factory.get_parameter_groups)', () => {
  for (const task of Object.keys(MODEL))
    it(`${task}: names, order, members, lr_scale and weight_decay equal the official printout`, () => {
      const js = JSON.parse(readFileSync(join(TRAIN_REF, `${task}.trajectory.json`), 'utf8'));
      const hp = js.hyperparameters;
      const classes = task === 'imagenet' ? 10 : task === 'vqav2' ? 12 : undefined;
      const model = createModel(MODEL[task], { numClasses: classes });
      const groups = finetuneGroups(model, {
        weightDecay: hp.weight_decay,
        layerDecay: hp.layer_decay,
        taskHeadLrWeight: hp.task_head_lr_weight,
      });
      expect(
        groups.map((g) => ({
          name: g.name,
          lr_scale: g.lrScale,
          weight_decay: g.weightDecay,
          params: g.params,
        })),
      ).toEqual(
        js.param_groups.map((g: Record<string, unknown>) => ({
          name: g.name,
          lr_scale: g.lr_scale,
          weight_decay: g.weight_decay,
          params: g.params,
        })),
      );
    });

  it('retrieval: logit_scale is the first named parameter, so layer_3_no_decay is the first group', () => {
    const groups = finetuneGroups(createModel(MODEL.coco_retrieval), { weightDecay: 0.05, layerDecay: 0.65 });
    expect(groups[0].name).toBe('layer_3_no_decay');
    expect(groups[0].params[0]).toBe('logit_scale');
  });

  it('task_head_lr_weight variant (layer_decay 1): only names starting with "head" are boosted, not VQA`s pooler', () => {
    const model = createModel(MODEL.vqav2, { numClasses: 12 });
    const groups = finetuneGroups(model, { weightDecay: 0.01, layerDecay: 1, taskHeadLrWeight: 20 });
    expect(groups.map((g) => [g.name, g.lrScale])).toEqual([
      ['layer_0_decay', 1],
      ['layer_0_no_decay', 1],
      ['layer_1_decay', 20],
      ['layer_1_no_decay', 20],
    ]);
    const head = groups.filter((g) => g.lrScale === 20).flatMap((g) => g.params);
    expect(head.every((n) => n.startsWith('head.'))).toBe(true);
    expect(groups.flatMap((g) => g.params).filter((n) => n.startsWith('pooler.')).length).toBeGreaterThan(0);
    expect(head.some((n) => n.startsWith('pooler.'))).toBe(false);
  });

  it('no assigner (layer_decay 1, head weight ≤ 1): two groups decay / no_decay with scale 1', () => {
    const model = createModel(MODEL.imagenet, { numClasses: 10 });
    const groups = getParameterGroups(
      namedParameterShapes(model),
      0.05,
      beit3GroupRule(model.cfg.layers, { layerDecay: 1 }),
    );
    expect(groups.map((g) => [g.name, g.lrScale, g.weightDecay])).toEqual([
      ['decay', 1, 0.05],
      ['no_decay', 1, 0],
    ]);
    const noDecay = new Set(groups[1].params);
    expect(noDecay.has('beit3.encoder.embed_positions.A.weight')).toBe(true); // in no_weight_decay()
    expect(noDecay.has('beit3.encoder.embed_positions.B.weight')).toBe(false); // the text table is decayed
    expect(noDecay.has('beit3.vision_embed.mask_token')).toBe(false);
    expect(noDecay.has('fc_norm.weight')).toBe(true); // 1-D
  });

  it('layer ids follow get_num_layer_for_vit`s substring rules', () => {
    const L = 12 + 2;
    expect(getNumLayerForVit('beit3.vision_embed.mask_token', L)).toBe(0);
    expect(getNumLayerForVit('beit3.encoder.embed_positions.B.weight', L)).toBe(0);
    expect(getNumLayerForVit('beit3.encoder.layers.10.ffn.A.fc1.weight', L)).toBe(11);
    expect(getNumLayerForVit('beit3.encoder.layer_norm.A.weight', L)).toBe(13);
    expect(getNumLayerForVit('logit_scale', L)).toBe(13);
    expect(getNumLayerForVit('cls_token', L)).toBe(0);
  });

  it('rejects a bad weight decay or an out-of-range layer id with a typed error', () => {
    expect(() => getParameterGroups([['w', [2, 2]]], -1, { skipList: [] })).toThrow(ParamGroupError);
    expect(() =>
      getParameterGroups([['w', [2, 2]]], 0.1, { skipList: [], layers: { values: [1], layerId: () => 3 } }),
    ).toThrow(/layer id 3/);
  });
});
