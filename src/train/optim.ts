/**
 * Optimizer math as graph builders, so the update runs inside the compiled train step (no
 * per-parameter host round trips). Semantics follow torch 1.13: `clip_grad_norm_` /
 * unilm `get_grad_norm_` and the single-tensor `torch.optim.AdamW`. The scalar factors that
 * torch computes as python doubles (1 − lr·wd, lr / (1 − β1^t), √(1 − β2^t)) are computed the
 * same way on the host and fed per step, so they round to float32 exactly as torch's do.
 */
import type { Value } from '../graph/ir.js';
import * as ops from '../graph/ops/index.js';

export interface AdamWConfig {
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Decoupled weight decay of the legacy `paramOptions` form (torch default 0.01); groups carry their own. */
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

/**
 * ‖[‖g_p‖₂ for p]‖₂, as torch.nn.utils.clip_grad_norm_ computes it (a scalar). `squares`
 * (g_p ⊙ g_p, e.g. shared with AdamW's second moment) saves a pass per parameter.
 */
export function globalNorm(grads: readonly Value[], squares?: readonly Value[]): Value {
  const norms = grads.map((g, i) =>
    ops.sqrt(
      ops.reduceSum(
        squares?.[i] ?? ops.mul(g, g),
        Array.from({ length: g.rank }, (_, i) => i),
      ),
    ),
  );
  const sq = norms.map((n) => ops.mul(n, n));
  return ops.sqrt(sq.reduce((a, b) => ops.add(a, b)));
}

/** clamp(maxNorm / (norm + 1e-6), max = 1): the factor clip_grad_norm_ multiplies EVERY gradient by. */
export function clipCoefficient(norm: Value, maxNorm: number): Value {
  return ops.min(ops.div(maxNorm, ops.add(norm, 1e-6)), 1);
}

/** Scales gradients so their global norm is at most maxNorm (coef applied even when it is 1). */
export function clipByGlobalNorm(grads: readonly Value[], norm: Value, maxNorm: number): Value[] {
  const coef = clipCoefficient(norm, maxNorm);
  return grads.map((g) => ops.mul(g, coef));
}

/** Per-step scalars of one parameter's group (0-d values of the parameter dtype). */
export interface AdamWScalars {
  /** 1 − lr·wd of the group; null when the group has no weight decay (p · 1 is skipped). */
  decay: Value | null;
  /** lr / (1 − β1^t). */
  stepSize: Value;
  /** √(1 − β2^t). */
  bc2Sqrt: Value;
  /**
   * The clip coefficient (scalar) the gradient is multiplied by first; folded into the moment
   * factors ((1 − β1)·c, (1 − β2)·c²) so the clipped gradient is never materialised: one pass
   * over every parameter less, the same values up to float rounding (exact when c = 1).
   */
  gradScale?: Value | null;
  /** g ⊙ g when already computed (the gradient norm needs it too). */
  gradSquare?: Value;
}

/**
 * One AdamW update, in torch's order: p ← p·(1 − lr·wd); m ← β1·m + (1 − β1)·g;
 * v ← β2·v + (1 − β2)·g²; p ← p − step_size · m / (√v / √bc2 + eps). Returns [p, m, v].
 */
export function adamwUpdate(
  p: Value,
  g: Value,
  m: Value,
  v: Value,
  s: AdamWScalars,
  cfg: Required<Pick<AdamWConfig, 'beta1' | 'beta2' | 'eps'>>,
): [Value, Value, Value] {
  const c = s.gradScale;
  const k1 = c ? ops.mul(c, 1 - cfg.beta1) : 1 - cfg.beta1;
  const k2 = c ? ops.mul(ops.mul(c, c), 1 - cfg.beta2) : 1 - cfg.beta2;
  const m2 = ops.add(ops.mul(m, cfg.beta1), ops.mul(g, k1));
  const v2 = ops.add(ops.mul(v, cfg.beta2), ops.mul(s.gradSquare ?? ops.mul(g, g), k2));
  const decayed = s.decay ? ops.mul(p, s.decay) : p;
  const denom = ops.add(ops.div(ops.sqrt(v2), s.bc2Sqrt), cfg.eps);
  const p2 = ops.sub(decayed, ops.mul(ops.div(m2, denom), s.stepSize));
  return [p2, m2, v2];
}

/** Host side of AdamWScalars for optimizer step t (1-based) and a group's lr / weight decay (python doubles). */
export function adamwHostScalars(
  lr: number,
  weightDecay: number,
  t: number,
  cfg: Required<Pick<AdamWConfig, 'beta1' | 'beta2'>>,
): { decay: number; stepSize: number; bc2Sqrt: number } {
  const bc1 = 1 - cfg.beta1 ** t;
  const bc2 = 1 - cfg.beta2 ** t;
  return { decay: 1 - lr * weightDecay, stepSize: lr / bc1, bc2Sqrt: Math.sqrt(bc2) };
}
