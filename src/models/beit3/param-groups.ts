/**
 * How a BEiT-3 model declares its optimizer groups (unilm beit3/optim_factory.py and
 * run_beit3_finetuning.py): the `no_weight_decay()` list, `get_num_layer_for_vit`'s layer ids,
 * and the layer-wise lr decay / task-head values. `train/param-groups.ts` applies the rule:
 * `getParameterGroups(model.namedParameters() as shapes, weightDecay, beit3GroupRule(model, hp))`.
 */
import type { Module } from '../../nn/module.js';

/** BEiT3Wrapper.no_weight_decay(): the vision position table and cls token, but not the text table or mask token. */
export const BEIT3_NO_WEIGHT_DECAY: readonly string[] = [
  'pos_embed',
  'cls_token',
  'beit3.encoder.embed_positions.A.weight',
  'beit3.vision_embed.cls_token',
  'logit_scale',
];

/** Names that optim_factory sends to layer 0 besides anything containing "embed". */
const LAYER0_NAMES = new Set([
  'cls_token',
  'mask_token',
  'pos_embed',
  'language_pos_embed',
  'word_embeddings.weight',
  'vision_cls_token',
  'vision_pos_embed',
]);

/**
 * get_num_layer_for_vit(name, num_max_layer): substring rules on the name — "embed" anywhere
 * → 0, "layers.<i>." → i + 1, everything else (heads, final LayerNorm, logit_scale) → the top.
 */
export function getNumLayerForVit(name: string, numMaxLayer: number): number {
  if (name.includes('embed')) return 0;
  if (LAYER0_NAMES.has(name)) return 0;
  if (name.startsWith('patch_embed')) return 0;
  if (name.startsWith('rel_pos_bias')) return numMaxLayer - 1;
  const at = name.indexOf('layers.');
  if (at >= 0) {
    const id = Number.parseInt(name.slice(at + 'layers.'.length).split('.')[0], 10);
    if (Number.isInteger(id)) return id + 1;
  }
  return numMaxLayer - 1;
}

/** get_is_head_flag_for_vit: only names starting with "head" (VQA's pooler is not boosted). */
export function getIsHeadFlagForVit(name: string): number {
  return name.startsWith('head') ? 1 : 0;
}

export interface Beit3GroupOptions {
  /** --layer_decay (official default 0.9; 1 turns it off). */
  layerDecay?: number;
  /** --task_head_lr_weight (used only when layer_decay ≥ 1 and the weight > 1). */
  taskHeadLrWeight?: number;
}

/** The group rule run_beit3_finetuning.py builds for a model with `numLayers` encoder layers. */
export function beit3GroupRule(
  numLayers: number,
  opts: Beit3GroupOptions = {},
): {
  skipList: readonly string[];
  layers?: { values: number[]; layerId: (name: string, numMaxLayer: number) => number };
} {
  const layerDecay = opts.layerDecay ?? 0.9;
  const headWeight = opts.taskHeadLrWeight ?? 0;
  if (layerDecay < 1) {
    const values = Array.from({ length: numLayers + 2 }, (_, i) => layerDecay ** (numLayers + 1 - i));
    return { skipList: BEIT3_NO_WEIGHT_DECAY, layers: { values, layerId: getNumLayerForVit } };
  }
  if (headWeight > 1)
    return {
      skipList: BEIT3_NO_WEIGHT_DECAY,
      layers: { values: [1.0, headWeight], layerId: (name) => getIsHeadFlagForVit(name) },
    };
  return { skipList: BEIT3_NO_WEIGHT_DECAY };
}

/** (name, shape) of every trainable parameter in named_parameters() order. */
export function namedParameterShapes(model: Module): [string, readonly number[]][] {
  return [...model.namedParameters()].map(([n, p]) => [n, p.shape]);
}
