/**
 * Optimizer parameter groups the way unilm's `optim_factory.get_parameter_groups` builds them
 * (BEiT-3 and BEiT v2 share it): per parameter, in `named_parameters()` order,
 * - no weight decay when it is 1-D (or 0-D where the model says so), its name ends in `.bias`,
 *   or it is in the model's `no_weight_decay()` list; otherwise the run's weight decay;
 * - with a layer assigner, the group is `layer_{id}_{decay|no_decay}` and its lr scale is
 *   `values[id]` (layer-wise lr decay, or the task-head weight); without one, `decay`/`no_decay`
 *   with scale 1;
 * - groups in the order their first parameter appears, parameters in order inside a group.
 * The model declares its rule (no-decay list, layer ids, values: see `GroupRule`); this module
 * only applies it, so BEiT-3 and VQ-KD declare their groups the same way.
 */
import { Beit3Error } from '../util/errors.js';

export class ParamGroupError extends Beit3Error {
  override name = 'ParamGroupError';
}

/** What a model declares about its optimizer groups (models/beit3/param-groups.ts, models/vqkd). */
export interface GroupRule {
  /** The model's `no_weight_decay()` names (exact matches). */
  skipList: readonly string[];
  /**
   * Parameters of rank ≤ this are never decayed. BEiT-3's `len(shape) == 1` is 1 with 0-d
   * parameters decayed unless listed; BEiT v2's `ndim <= 1` is also 1 but covers 0-d: use
   * `noDecayZeroDim` for that.
   */
  noDecayZeroDim?: boolean;
  /** Layer assigner (LayerDecayValueAssigner): lr scale per layer id, and the id of a name. */
  layers?: {
    values: readonly number[];
    /** `scale_handler(name, len(values))`, e.g. get_num_layer_for_vit. */
    layerId: (name: string, numMaxLayer: number) => number;
  };
}

export interface ParamGroup {
  name: string;
  lrScale: number;
  weightDecay: number;
  /** Parameter names in named_parameters() order. */
  params: string[];
}

/** get_parameter_groups over (name, shape) pairs; frozen parameters must be left out by the caller. */
export function getParameterGroups(
  params: Iterable<readonly [string, readonly number[]]>,
  weightDecay: number,
  rule: GroupRule,
): ParamGroup[] {
  if (!Number.isFinite(weightDecay) || weightDecay < 0)
    throw new ParamGroupError(`weight decay must be a finite number ≥ 0, got ${weightDecay}`);
  const skip = new Set(rule.skipList);
  const groups = new Map<string, ParamGroup>();
  for (const [name, shape] of params) {
    const noDecay =
      shape.length === 1 ||
      (rule.noDecayZeroDim === true && shape.length === 0) ||
      name.endsWith('.bias') ||
      skip.has(name);
    let groupName = noDecay ? 'no_decay' : 'decay';
    let scale = 1;
    if (rule.layers) {
      const { values, layerId } = rule.layers;
      const id = layerId(name, values.length);
      if (!Number.isInteger(id) || id < 0 || id >= values.length)
        throw new ParamGroupError(`parameter ${name}: layer id ${id} outside [0, ${values.length - 1}]`);
      groupName = `layer_${id}_${groupName}`;
      scale = values[id];
    }
    let g = groups.get(groupName);
    if (!g)
      groups.set(
        groupName,
        (g = { name: groupName, lrScale: scale, weightDecay: noDecay ? 0 : weightDecay, params: [] }),
      );
    g.params.push(name);
  }
  return [...groups.values()];
}

/** Per-step group values: lr = schedule value · lr_scale (exact double product), constant weight decay. */
export function groupValues(
  groups: readonly ParamGroup[],
  scheduleValue: number,
): { lr: number[]; weightDecay: number[] } {
  return { lr: groups.map((g) => scheduleValue * g.lrScale), weightDecay: groups.map((g) => g.weightDecay) };
}
