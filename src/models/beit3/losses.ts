/**
 * The BEiT-3-specific fine-tuning losses (engine_for_finetuning.py / utils.py), composed from the
 * graph composite library. Generic losses (cross entropy with label smoothing, BCE on logits,
 * soft-target CE) are graph/functional's and are used from there directly.
 */
import * as F from '../../graph/functional.js';
import type { Value } from '../../graph/ir.js';
import { ops } from '../../graph/index.js';

/** VQA: BCEWithLogitsLoss(mean)(logits, labels) · num_classes (numerically stable form). */
export function vqaBceLoss(logits: Value, labels: Value): Value {
  return ops.mul(F.bceWithLogits(logits, labels), logits.shape[1] as number);
}

/** Row-wise cross entropy against the diagonal (labels = arange(B)) of a square logit matrix. */
function diagonalCrossEntropy(logits: Value, diag: Value): Value {
  // lse_b = L_b0 − logp_b0 (any column gives log-sum-exp); CE_b = lse_b − L_bb.
  const logp = ops.logSoftmax(logits, -1);
  const lse = ops.sub(ops.slice(logits, [0], [1], [1]), ops.slice(logp, [0], [1], [1]));
  return ops.reduceMean(ops.sub(ops.reshape(lse, [-1]), diag), [0]);
}

/** ClipLoss (world size 1) for normalized (B, D) embeddings and the 0-d `logit_scale` parameter. */
export function clipLoss(vision: Value, language: Value, logitScale: Value): Value {
  const s = ops.exp(logitScale);
  const perImage = ops.mul(ops.matmul(vision, ops.transpose(language, [1, 0])), s);
  const perText = ops.transpose(perImage, [1, 0]);
  const diag = ops.mul(ops.reduceSum(ops.mul(vision, language), [1]), s);
  return ops.mul(ops.add(diagonalCrossEntropy(perImage, diag), diagonalCrossEntropy(perText, diag)), 0.5);
}

/**
 * utils.BertCaptioningLoss: KL(q ‖ softmax(logits)) per masked token with label-smoothed q, averaged.
 * With `dropWorst` (global_step > drop_worst_after) only the int(N·(1−ratio)) smallest losses count.
 */
export function captioningLoss(
  logits: Value,
  targets: Value,
  opts: { smoothing?: number; dropWorstRatio?: number; dropWorst?: boolean } = {},
): { loss: Value; perToken: Value; accuracy: Value } {
  const eps = opts.smoothing ?? 0.1;
  const V = logits.shape[1] as number;
  const logp = ops.logSoftmax(logits, -1);
  const logpY = ops.squeeze(ops.gatherElements(logp, ops.unsqueeze(targets, [1]), 1), [1]); // log p_y
  const on = 1 - eps;
  const off = eps / (V - 1);
  // Σ_c q_c log q_c is a constant; Σ_c q_c log p_c = off·Σ log p + (on − off)·log p_y.
  const qlogq = on * Math.log(on) + (V - 1) * off * Math.log(off);
  const cross = ops.add(
    ops.mul(ops.reduceSum(logp, [1]), off),
    ops.mul(logpY, on - off),
  );
  const perToken = ops.sub(qlogq, cross);
  let loss: Value;
  if (opts.dropWorst) {
    const ratio = opts.dropWorstRatio ?? 0.2;
    // Keep the k smallest: threshold = k-th smallest (TopK, no gradient), weights = loss ≤ threshold.
    const n = ops.cast(F.dimOf(perToken, 0), 'float32');
    const k = ops.cast(ops.mul(n, 1 - ratio), 'int64');
    const [vals] = ops.topK(perToken, k, 0, false);
    const thr = ops.reduceMax(vals, [0]);
    const keep = ops.cast(ops.lessOrEqual(perToken, thr), 'float32');
    loss = ops.div(ops.reduceSum(ops.mul(perToken, keep), [0]), ops.reduceSum(keep, [0]));
  } else loss = ops.reduceMean(perToken, [0]);
  const pred = ops.argMax(logits, -1);
  const accuracy = ops.reduceMean(ops.cast(ops.equal(pred, targets), 'float32'), [0]);
  return { loss, perToken, accuracy };
}
