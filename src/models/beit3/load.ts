/**
 * Loading pretrained / fine-tuned checkpoints into a model the way unilm's
 * `utils.load_model_and_may_interpolate` + `load_state_dict` do: foreign `head.*` of another
 * shape dropped, the vision position table resized (bicubic) to the model's patch grid, then a
 * non-strict load that reports missing and unexpected keys.
 */
import type { Tensor } from '../../graph/tensor.js';
import { loadCheckpoint } from '../../io/checkpoint.js';
import type { LoadStateDictResult, Module } from '../../nn/module.js';
import { filterCheckpoint } from './pretrained.js';

export interface LoadPretrainedOptions {
  /** Default false, like the official fine-tuning load. */
  strict?: boolean;
  /** Prepended to every checkpoint key (e.g. 'beit3.' for a bare backbone state dict). */
  prefix?: string;
  /** .pth lookup keys ('model|module'). */
  modelKey?: string;
}

export interface LoadPretrainedResult extends LoadStateDictResult {
  /** What the load-time filter changed (dropped heads, interpolated positions). */
  changes: string[];
}

export async function loadPretrained(
  model: Module,
  source: string | ReadonlyMap<string, Tensor>,
  opts: LoadPretrainedOptions = {},
): Promise<LoadPretrainedResult> {
  const raw = typeof source === 'string' ? await loadCheckpoint(source, { modelKey: opts.modelKey }) : source;
  const prefixed = new Map<string, Tensor>();
  for (const [k, t] of raw) prefixed.set((opts.prefix ?? '') + k, t);
  const { state, notes: changes } = filterCheckpoint(prefixed, model);
  const r = model.loadStateDict(state, { strict: opts.strict ?? false });
  return { ...r, changes };
}
