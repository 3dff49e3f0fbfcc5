import type { Value } from '../../../graph/ir.js';
import { ops } from '../../../graph/index.js';
import { Tensor } from '../../../graph/tensor.js';
import * as F from '../../../graph/functional.js';
import { Linear } from '../../../nn/layers.js';
import type { ParamScope } from '../../../nn/module.js';
import { blockedBias, type KVCache } from '../backbone.js';
import type { Beit3Config } from '../config.js';
import { numVisionTokens } from '../config.js';
import { captioningLoss } from '../losses.js';
import { Beit3TaskModel, imageSpec, type InputSpec, need, textSpec, type Values } from './base.js';

/**
 * BEiT3ForCaptioning: image + text in one sequence with the unified mask (image↔image,
 * text→image, causal text→text; image→text blocked), mlm_head over the text positions.
 */
export class Beit3ForCaptioning extends Beit3TaskModel {
  readonly task = 'captioning' as const;
  readonly mlmHead: Linear;
  constructor(
    cfg: Beit3Config,
    readonly lossOptions: { smoothing?: number; dropWorstRatio?: number; dropWorstAfter?: number } = {},
  ) {
    super(cfg);
    this.mlmHead = this.addModule('mlm_head', new Linear(cfg.embedDim, cfg.vocabSize));
  }
  inputs(batch: number | string, textLen: number): Record<string, InputSpec> {
    return {
      image: imageSpec(this.cfg, batch),
      text_ids: textSpec(batch, textLen),
      padding_mask: textSpec(batch, textLen),
      language_masked_pos: textSpec(batch, textLen),
    };
  }

  /** The unified attention mask as additive biases per query stream (vision rows, text rows). */
  private unifiedBias(s: ParamScope, T: number) {
    const nv = numVisionTokens(this.cfg);
    const g = s.graph;
    return {
      v: blockedBias(g, nv, nv + T, (_i, j) => j >= nv),
      t: blockedBias(g, T, nv + T, (i, j) => j >= nv && j - nv > i),
    };
  }

  /** Text hidden states (B, T, D) of the training forward, plus the per-layer caches. */
  private encode(s: ParamScope, image: Value, textIds: Value, padding?: Value) {
    const T = textIds.shape[1] as number;
    return this.beit3.forward(s, { image, textIds, textPadding: padding, attnBias: this.unifiedBias(s, T) });
  }

  /** Official forward: logits at masked positions (N, V) when language_masked_pos is given, else (B, T, V). */
  forward(s: ParamScope, inp: Values): Values {
    const [image, textIds] = need(inp, 'image', 'text_ids');
    const t = this.encode(s, image, textIds, inp.padding_mask).out.t!;
    if (!inp.language_masked_pos) return { logits: this.mlmHead.forward(s, t) };
    const D = this.cfg.embedDim;
    const rows = ops.gather(ops.reshape(t, [-1, D]), F.nonzeroFlat(inp.language_masked_pos), 0);
    return { logits: this.mlmHead.forward(s, rows) };
  }

  /** BertCaptioningLoss on masked tokens; `global_step` > drop_worst_after switches to drop-worst. */
  loss(s: ParamScope, inp: Values, globalStep = 0): Values {
    const [labels, pos] = need(inp, 'language_tokens', 'language_masked_pos');
    const { logits } = this.forward(s, { ...inp, text_ids: inp.text_ids ?? inp.masked_tokens });
    const target = ops.gather(ops.reshape(labels, [-1]), F.nonzeroFlat(pos), 0);
    const after = this.lossOptions.dropWorstAfter ?? 12000;
    const base = {
      smoothing: this.lossOptions.smoothing ?? 0.1,
      dropWorstRatio: this.lossOptions.dropWorstRatio ?? 0.2,
    };
    const r = captioningLoss(logits, target, { ...base, dropWorst: globalStep > after });
    const dropped = captioningLoss(logits, target, { ...base, dropWorst: true });
    return { loss: r.loss, acc: r.accuracy, loss_drop_worst: dropped.loss, logits };
  }

  /**
   * First incremental-decoding step (CaptioningHandler.eval_batch): image + text_ids (B, 2) =
   * [<s>, <mask>] (or longer prompts). Returns logits (B, T, V) and every layer's key/value cache
   * over the Nv + T tokens (B, H, Nv + T, d). The caller trims the last (mask) entry.
   */
  decodeFirst(s: ParamScope, image: Value, textIds: Value): { logits: Value; caches: KVCache[] } {
    const r = this.encode(s, image, textIds);
    return { logits: this.mlmHead.forward(s, r.out.t!), caches: r.caches };
  }

  /**
   * Later step: text_ids (B, 2) = [previous word, <mask>] at text positions textLen−2, textLen−1
   * (`textLen` int64 scalar = the official `text_len`), attending to `past` caches of length
   * Lp (= Nv + textLen − 2) plus itself causally. Returns logits (B, 2, V) and caches (Lp + 2).
   */
  decodeStep(
    s: ParamScope,
    textIds: Value,
    textLen: Value,
    past: KVCache[],
  ): { logits: Value; caches: KVCache[] } {
    const n = textIds.shape[1] as number;
    const g = s.graph;
    const offsets = g.constant(
      Tensor.i64(
        [n],
        Array.from({ length: n }, (_, i) => i),
      ),
      'offsets',
    );
    const positions = ops.add(textLen, offsets);
    const causal = blockedBias(g, n, n, (i, j) => j > i);
    const rowT = F.padLastLeft(causal, F.dimOf(past[0].key, 2));
    const r = this.beit3.forward(s, { textIds, textPositions: positions, past, attnBias: { t: rowT } });
    return { logits: this.mlmHead.forward(s, r.out.t!), caches: r.caches };
  }
}
