import type { Value } from '../../../graph/ir.js';
import { Module, type ParamScope } from '../../../nn/module.js';
import { BEiT3 } from '../backbone.js';
import type { Beit3Config } from '../config.js';

export type TaskName =
  'backbone' | 'imageclassification' | 'vqav2' | 'nlvr2' | 'retrieval' | 'captioning' | 'pretraining';

/** Graph values by name (inputs or outputs of a model call). */
export type Values = Record<string, Value>;

/** What a call needs: input name → dtype and shape (with `batch`/`text_len`... symbols). */
export interface InputSpec {
  dtype: 'float32' | 'int64' | 'bool';
  shape: (number | string)[];
}

/**
 * A fine-tuning model: `beit3` (the backbone, keys `beit3.*`) plus a head. `forward` is the
 * official forward; `loss` the official train_batch loss from engine_for_finetuning.py.
 */
export abstract class Beit3TaskModel extends Module {
  abstract readonly task: TaskName;
  readonly beit3: BEiT3;
  constructor(readonly cfg: Beit3Config) {
    super();
    this.beit3 = this.addModule('beit3', new BEiT3(cfg));
  }
  /** Inputs of the default (training) forward, e.g. {image, question, padding_mask}. */
  abstract inputs(batch: number | string, textLen: number): Record<string, InputSpec>;
  abstract forward(s: ParamScope, inp: Values): Values;
  /** Official training loss; `inp` also holds the targets (label, labels, ...). Returns {loss, ...extras}. */
  abstract loss(s: ParamScope, inp: Values): Values;
}

export function imageSpec(cfg: Beit3Config, batch: number | string): InputSpec {
  return { dtype: 'float32', shape: [batch, cfg.inChans, cfg.imgSize, cfg.imgSize] };
}
export const textSpec = (batch: number | string, len: number): InputSpec => ({
  dtype: 'int64',
  shape: [batch, len],
});

export function need(inp: Values, ...names: string[]): Value[] {
  const missing = names.filter((n) => !inp[n]);
  if (missing.length)
    throw new Error(
      `missing model input(s): ${missing.join(', ')} (got ${Object.keys(inp).join(', ') || 'none'})`,
    );
  return names.map((n) => inp[n]);
}
