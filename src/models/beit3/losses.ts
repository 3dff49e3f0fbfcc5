/** The official fine-tuning losses (engine_for_finetuning.py / utils.py), as graph ops. */
import type { Value } from '../../graph/ir.js';
import { ops } from '../../graph/index.js';
import { Tensor } from '../../graph/tensor.js';

/** One-hot (N, C) float32 of int64 labels (N,). */
export function oneHot(labels: Value, numClasses: number): Value {
  const classes = labels.graph.constant(
    Tensor.i64(
      [numClasses],
      Array.from({ length: numClasses }, (_, i) => i),
    ),
    'classes',
  );
  return ops.cast(ops.equal(ops.unsqueeze(labels, [1]), classes), 'float32');
}

/** mean_b −log softmax(logits)[b, label_b] (torch CrossEntropyLoss). */
export function crossEntropy(logits: Value, labels: Value): Value {
  const C = logits.shape[1] as number;
  const logp = ops.logSoftmax(logits, -1);
  return ops.neg(ops.reduceMean(ops.reduceSum(ops.mul(logp, oneHot(labels, C)), [1]), [0]));
}

/** timm LabelSmoothingCrossEntropy: mean_b[(1−ε)(−log p_y) + ε·mean_c(−log p_c)]. */
export function labelSmoothingCrossEntropy(logits: Value, labels: Value, smoothing = 0.1): Value {
  const C = logits.shape[1] as number;
  const logp = ops.logSoftmax(logits, -1);
  const nll = ops.reduceSum(ops.mul(logp, oneHot(labels, C)), [1]);
  const smooth = ops.reduceMean(logp, [1]);
  return ops.neg(ops.reduceMean(ops.add(ops.mul(nll, 1 - smoothing), ops.mul(smooth, smoothing)), [0]));
}

/** timm SoftTargetCrossEntropy (mixup/cutmix targets): mean_b Σ_c −t_bc log p_bc. */
export function softTargetCrossEntropy(logits: Value, targets: Value): Value {
  return ops.neg(ops.reduceMean(ops.reduceSum(ops.mul(targets, ops.logSoftmax(logits, -1)), [1]), [0]));
}

/** VQA: BCEWithLogitsLoss(mean)(logits, labels) · num_classes (numerically stable form). */
export function vqaBceLoss(logits: Value, labels: Value): Value {
  const C = logits.shape[1] as number;
  // max(x,0) − x·y + log(1 + exp(−|x|))
  const l = ops.add(
    ops.sub(ops.relu(logits), ops.mul(logits, labels)),
    ops.log(ops.add(ops.exp(ops.neg(ops.abs(logits))), 1)),
  );
  return ops.mul(ops.reduceMean(l, [0, 1]), C);
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
  const hot = oneHot(targets, V);
  const on = 1 - eps;
  const off = eps / (V - 1);
  // Σ_c q_c log q_c is a constant; Σ_c q_c log p_c = off·Σ log p + (on − off)·log p_y.
  const qlogq = on * Math.log(on) + (V - 1) * off * Math.log(off);
  const cross = ops.add(
    ops.mul(ops.reduceSum(logp, [1]), off),
    ops.mul(ops.reduceSum(ops.mul(logp, hot), [1]), on - off),
  );
  const perToken = ops.sub(qlogq, cross);
  let loss: Value;
  if (opts.dropWorst) {
    const ratio = opts.dropWorstRatio ?? 0.2;
    // Keep the k smallest: threshold = k-th smallest (TopK, no gradient), weights = loss ≤ threshold.
    const n = ops.cast(dimAsFloat(perToken), 'float32');
    const k = ops.cast(ops.cast(ops.mul(n, 1 - ratio), 'int64'), 'int64');
    const g = perToken.graph;
    const [vals] = g.addNode(
      'TopK',
      [perToken, ops.reshape(k, [1])],
      [
        { dtype: 'float32', shape: ['k'] },
        { dtype: 'int64', shape: ['k'] },
      ],
      {
        largest: { i: 0 },
        sorted: { i: 1 },
      },
    );
    const thr = ops.reduceMax(vals, [0]);
    const keep = ops.cast(ops.lessOrEqual(perToken, thr), 'float32');
    loss = ops.div(ops.reduceSum(ops.mul(perToken, keep), [0]), ops.reduceSum(keep, [0]));
  } else loss = ops.reduceMean(perToken, [0]);
  const pred = argmax(logits);
  const accuracy = ops.reduceMean(ops.cast(ops.equal(pred, targets), 'float32'), [0]);
  return { loss, perToken, accuracy };
}

export function argmax(x: Value): Value {
  const [i] = x.graph.addNode('ArgMax', [x], [{ dtype: 'int64', shape: x.shape.slice(0, -1) }], {
    axis: { i: -1 },
    keepdims: { i: 0 },
  });
  return i;
}

function dimAsFloat(x: Value): Value {
  const [shape] = x.graph.addNode('Shape', [x], [{ dtype: 'int64', shape: [x.rank] }]);
  return ops.squeeze(ops.slice(shape, [0], [1], [0]), [0]);
}
