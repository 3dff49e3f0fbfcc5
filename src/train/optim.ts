/**
 * Optimizer math as graph builders, so the update runs inside the compiled train step (no
 * per-parameter host round trips). Semantics follow torch.optim.AdamW and
 * torch.nn.utils.clip_grad_norm_.
 */
import type { Value } from '../graph/ir.js';
import * as ops from '../graph/ops/index.js';

export interface AdamWConfig {
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Decoupled weight decay coefficient (torch default 0.01). */
  weightDecay?: number;
}

export interface ParamOptions {
  /** Apply weight decay to this parameter (default true; BEiT-3 turns it off for biases, norms, embeddings). */
  weightDecay?: boolean;
  /** Multiplies the learning rate for this parameter (layer-wise lr decay). Default 1. */
  lrScale?: number;
}

export const ADAMW_DEFAULTS: Required<AdamWConfig> = {
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  weightDecay: 0.01,
};

/** √(Σ‖g‖²) over all gradients (a scalar). */
export function globalNorm(grads: readonly Value[]): Value {
  const sq = grads.map((g) =>
    ops.reduceSum(
      ops.mul(g, g),
      Array.from({ length: g.rank }, (_, i) => i),
    ),
  );
  return ops.sqrt(sq.reduce((a, b) => ops.add(a, b)));
}

/** Scales gradients so their global norm is at most maxNorm (coef = maxNorm / (norm + 1e-6), capped at 1). */
export function clipByGlobalNorm(grads: readonly Value[], norm: Value, maxNorm: number): Value[] {
  const coef = ops.min(ops.div(maxNorm, ops.add(norm, 1e-6)), 1);
  return grads.map((g) => ops.mul(g, coef));
}

export interface AdamWScalars {
  /** Learning rate fed per step (scalar). */
  lr: Value;
  /** 1 − β1^t and 1 − β2^t for the current (1-based) step t (scalars). */
  bc1: Value;
  bc2: Value;
}

/** One AdamW update of a parameter: returns [new param, new m, new v]. */
export function adamwUpdate(
  p: Value,
  g: Value,
  m: Value,
  v: Value,
  s: AdamWScalars,
  cfg: Required<AdamWConfig>,
  po: ParamOptions = {},
): [Value, Value, Value] {
  const lr = po.lrScale !== undefined && po.lrScale !== 1 ? ops.mul(s.lr, po.lrScale) : s.lr;
  const m2 = ops.add(ops.mul(m, cfg.beta1), ops.mul(g, 1 - cfg.beta1));
  const v2 = ops.add(ops.mul(v, cfg.beta2), ops.mul(ops.mul(g, g), 1 - cfg.beta2));
  const decayed =
    (po.weightDecay ?? true) && cfg.weightDecay !== 0
      ? ops.mul(p, ops.sub(1, ops.mul(lr, cfg.weightDecay)))
      : p;
  const denom = ops.add(ops.div(ops.sqrt(v2), ops.sqrt(s.bc2)), cfg.eps);
  const stepSize = ops.div(lr, s.bc1);
  const p2 = ops.sub(decayed, ops.mul(ops.div(m2, denom), stepSize));
  return [p2, m2, v2];
}
