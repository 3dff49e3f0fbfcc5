/**
 * The composite library: layers, losses and mask helpers built from primitive op builders (so
 * autodiff needs no extra rules). nn/ and the models use these; nothing else builds composites.
 * The inference compiler may still map some of them to ORT fused kernels (ORT's own graph fusions
 * recognise the erf-GELU and LayerNormalization patterns at optimization level 'all').
 */
import { type FusedForm, GraphError, type Value } from './ir.js';
import * as ops from './ops/index.js';
import { type Dim, normAxis, ShapeError, shapeToString } from './shape.js';
import { Tensor } from './tensor.js';

/** y = x · Wᵀ + b with PyTorch's weight layout [out, in]. */
export function linear(x: Value, weight: Value, bias?: Value | null): Value {
  if (weight.rank !== 2)
    throw new ShapeError(`linear: weight must be [out, in], got ${shapeToString(weight.shape)}`);
  const inX = x.shape[x.rank - 1];
  const inW = weight.shape[1];
  if (typeof inX === 'number' && typeof inW === 'number' && inX !== inW)
    throw new ShapeError(
      `linear: input ${shapeToString(x.shape)} has ${inX} features, weight ${shapeToString(weight.shape)} expects ${inW}`,
    );
  const y = ops.matmul(x, ops.transpose(weight, [1, 0]));
  if (!bias) return y;
  if (bias.rank !== 1 || bias.shape[0] !== weight.shape[0])
    throw new ShapeError(
      `linear: bias ${shapeToString(bias.shape)} does not match weight ${shapeToString(weight.shape)}`,
    );
  return ops.add(y, bias);
}

/** GELU, exact erf form (PyTorch's default): 0.5·x·(1 + erf(x/√2)). */
export function gelu(x: Value): Value {
  const y = ops.mul(ops.mul(x, 0.5), ops.add(ops.erf(ops.mul(x, Math.SQRT1_2)), 1));
  if (x.dtype === 'float32') x.graph.fusions.set(y, { op: 'Gelu', domain: 'com.microsoft', inputs: [x] });
  return y;
}

/** Layer normalization over the last axis (ONNX LayerNormalization; PyTorch eps default 1e-5). */
export function layerNorm(x: Value, weight: Value, bias: Value | null, eps = 1e-5): Value {
  return ops.layerNormalization(x, weight, bias, eps);
}

/** x / max(‖x‖₂, eps) along `axis`, as torch.nn.functional.normalize. */
export function l2Normalize(x: Value, axis = -1, eps = 1e-12): Value {
  const a = normAxis('l2Normalize', axis, x.rank);
  const norm = ops.sqrt(ops.reduceSum(ops.mul(x, x), [a], true));
  return ops.div(x, ops.max(norm, eps));
}

export interface CrossEntropyOptions {
  /** Targets equal to this are excluded from the loss and from the mean (torch default -100). */
  ignoreIndex?: number;
  /** torch `label_smoothing`: target = (1-ε)·onehot + ε/C. */
  labelSmoothing?: number;
}

/**
 * Softmax cross-entropy, mean over non-ignored targets (torch.nn.functional.cross_entropy with
 * reduction 'mean'). logits [..., C], labels int64 [...].
 */
export function crossEntropy(logits: Value, labels: Value, opts: CrossEntropyOptions = {}): Value {
  if (labels.dtype !== 'int64')
    throw new GraphError(`crossEntropy: labels ${labels.name} must be int64, got ${labels.dtype}`);
  if (
    labels.rank !== logits.rank - 1 ||
    labels.shape.some(
      (d, i) => typeof d === 'number' && typeof logits.shape[i] === 'number' && d !== logits.shape[i],
    )
  )
    throw new ShapeError(
      `crossEntropy: labels ${shapeToString(labels.shape)} do not match logits ${shapeToString(logits.shape)} without the class axis`,
    );
  const ignore = opts.ignoreIndex ?? -100;
  const eps = opts.labelSmoothing ?? 0;
  const logp = ops.logSoftmax(logits, -1);
  const isIgnored = ops.equal(labels, ignore);
  const safe = ops.where(isIgnored, 0, labels);
  const picked = ops.squeeze(ops.gatherElements(logp, ops.unsqueeze(safe, [-1]), -1), [-1]);
  let perItem = ops.neg(picked);
  if (eps > 0) {
    const smooth = ops.neg(ops.reduceMean(logp, [-1]));
    perItem = ops.add(ops.mul(perItem, 1 - eps), ops.mul(smooth, eps));
  }
  const valid = ops.cast(ops.not(isIgnored), logits.dtype);
  const all = Array.from({ length: labels.rank }, (_, i) => i);
  return ops.div(ops.reduceSum(ops.mul(perItem, valid), all), ops.reduceSum(valid, all));
}

/** Mean binary cross-entropy on logits, numerically stable: max(x,0) − x·t + log(1 + e^{−|x|}). */
export function bceWithLogits(logits: Value, targets: Value): Value {
  const x = logits;
  const per = ops.add(
    ops.sub(ops.relu(x), ops.mul(x, targets)),
    ops.log(ops.add(ops.exp(ops.neg(ops.abs(x))), 1)),
  );
  return ops.reduceMean(
    per,
    Array.from({ length: per.rank }, (_, i) => i),
  );
}

/** timm SoftTargetCrossEntropy (mixup/cutmix targets): mean_b Σ_c −t_bc log p_bc over logits [B, C]. */
export function softTargetCrossEntropy(logits: Value, targets: Value): Value {
  return ops.neg(ops.reduceMean(ops.reduceSum(ops.mul(targets, ops.logSoftmax(logits, -1)), [1]), [0]));
}

/** Dropout with a mask drawn in-graph (RandomUniformLike); p = 0 returns x unchanged. */
export function dropout(x: Value, p: number, seed?: number): Value {
  if (p <= 0) return x;
  const keep = ops.cast(ops.greaterOrEqual(ops.randomUniformLike(x, 0, 1, seed), p), x.dtype);
  return ops.mul(ops.mul(x, keep), 1 / (1 - p));
}

/**
 * Drop path (stochastic depth) on a residual branch [B, ...]: each sample is kept with
 * probability 1 − p and scaled by 1/(1 − p) (timm drop_path); p = 0 returns x unchanged.
 */
export function dropPath(x: Value, p: number, seed?: number): Value {
  if (p <= 0) return x;
  const rest = x.rank - 1;
  const perSample = ops.slice(x, Array(rest).fill(0), Array(rest).fill(1), range(1, x.rank)); // (B, 1, …)
  const u = ops.randomUniformLike(perSample, 0, 1, seed);
  const keep = ops.cast(ops.greaterOrEqual(u, p), x.dtype);
  return ops.mul(x, ops.mul(keep, 1 / (1 - p)));
}

export interface AttentionMasks {
  /** bool [B, S]: true marks a padded key; its score becomes -inf (as torch key_padding_mask). */
  keyPaddingMask?: Value | null;
  /** Additive float mask broadcastable to [B, H, L, S] (e.g. [L, S] causal mask with -inf). */
  attnMask?: Value | null;
}

/**
 * softmax(q·kᵀ·scale + attnMask, masked on padded keys) · v. q [B,H,L,d], k/v [B,H,S,d].
 * `scale` defaults to 1/√d.
 */
export function scaledDotProductAttention(
  q: Value,
  k: Value,
  v: Value,
  masks: AttentionMasks = {},
  scale?: number,
): Value {
  if (q.rank !== 4 || k.rank !== 4 || v.rank !== 4)
    throw new ShapeError(
      `attention: q/k/v must be [B,H,L,d], got ${shapeToString(q.shape)}, ${shapeToString(k.shape)}, ${shapeToString(v.shape)}`,
    );
  const d = q.shape[3];
  if (scale === undefined) {
    if (typeof d !== 'number')
      throw new ShapeError('attention: head dim must be static when scale is not given');
    scale = 1 / Math.sqrt(d);
  }
  return attention(ops.mul(q, scale), k, v, [masks.attnMask], masks.keyPaddingMask);
}

/**
 * The attention core softmax(q·kᵀ + Σ biases)·v for an already scaled q [B,H,L,d] and k/v
 * [B,H,S,d]: every bias broadcasts to [B,H,L,S] and is added (−inf / −1e8 entries block keys);
 * `keyPaddingMask` (bool [B, S], true = padded) sets those scores to −inf.
 */
export function attention(
  q: Value,
  k: Value,
  v: Value,
  biases: readonly (Value | null | undefined)[] = [],
  keyPaddingMask?: Value | null,
): Value {
  let scores = ops.matmul(q, ops.transpose(k, [0, 1, 3, 2]));
  for (const b of biases) if (b) scores = ops.add(scores, b);
  if (keyPaddingMask) {
    const m = keyPaddingMask;
    if (m.dtype !== 'bool' || m.rank !== 2)
      throw new ShapeError(`attention: keyPaddingMask must be bool [B, S], got ${m.toString()}`);
    const negInf = q.graph.constant(
      new Tensor(
        q.dtype,
        [],
        q.dtype === 'float64' ? Float64Array.of(-Infinity) : Float32Array.of(-Infinity),
      ),
      'neg_inf',
    );
    scores = ops.where(ops.unsqueeze(m, [1, 2]), negInf, scores);
  }
  return ops.matmul(ops.softmax(scores, -1), v);
}

/** [B, L, H·d] → [B, H, L, d] */
export function splitHeads(x: Value, numHeads: number): Value {
  const [b, l, dim] = x.shape;
  if (x.rank !== 3 || typeof dim !== 'number' || dim % numHeads !== 0)
    throw new ShapeError(
      `splitHeads: expected [B, L, D] with D divisible by ${numHeads}, got ${shapeToString(x.shape)}`,
    );
  return ops.transpose(ops.reshape(x, [b, l, numHeads, dim / numHeads] as Dim[]), [0, 2, 1, 3]);
}

/** [B, H, L, d] → [B, L, H·d] */
export function mergeHeads(x: Value): Value {
  const [b, h, l, d] = x.shape;
  if (typeof h !== 'number' || typeof d !== 'number')
    throw new ShapeError(`mergeHeads: heads and head dim must be static, got ${shapeToString(x.shape)}`);
  return ops.reshape(ops.transpose(x, [0, 2, 1, 3]), [b, l, h * d] as Dim[]);
}

export interface MultiHeadAttentionParams {
  qWeight: Value;
  qBias?: Value | null;
  kWeight: Value;
  kBias?: Value | null;
  vWeight: Value;
  vBias?: Value | null;
  outWeight: Value;
  outBias?: Value | null;
}

/**
 * Multi-head attention as torch.nn.MultiheadAttention / torchscale MultiheadAttention:
 * query [B, L, D], key/value [B, S, D], PyTorch-layout projection weights.
 */
export function multiHeadAttention(
  query: Value,
  key: Value,
  value: Value,
  p: MultiHeadAttentionParams,
  numHeads: number,
  masks: AttentionMasks = {},
): Value {
  const [qp, kp, vp] = [
    linear(query, p.qWeight, p.qBias),
    linear(key, p.kWeight, p.kBias),
    linear(value, p.vWeight, p.vBias),
  ];
  const fused = attentionFusion(qp, kp, vp, numHeads, {
    keep:
      masks.keyPaddingMask && qp.dtype === 'float32'
        ? ops.cast(ops.not(masks.keyPaddingMask), 'int32')
        : null,
    bias: masks.attnMask,
  }); // its mask nodes must precede the core
  const merged = mergeHeads(
    scaledDotProductAttention(
      splitHeads(qp, numHeads),
      splitHeads(kp, numHeads),
      splitHeads(vp, numHeads),
      masks,
    ),
  );
  if (fused) merged.graph.fusions.set(merged, fused);
  return linear(merged, p.outWeight, p.outBias);
}

export interface FusedAttentionInputs {
  /** int32 [B, S]: 1 = attend, 0 = padded key (the kernel's key_padding_mask). */
  keep?: Value | null;
  /** Additive bias broadcastable to [B, H, L, S], rank 2–4 (leading axes are added as in numpy). */
  bias?: Value | null;
  /** The kernel's scale; default 1/√d (pass 1 when q is already scaled). */
  scale?: number;
}

/**
 * ORT's contrib MultiHeadAttention (float32, CPU) as the fused form of an attention core
 * [B, L, D] → [B, L, D] (q, k, v with heads merged). Inference serialization swaps it in;
 * training graphs keep the primitive chain, and the extra mask nodes built here are then dead
 * code. Build it before the core: the kernel's inputs must precede the chain it replaces.
 */
export function attentionFusion(
  q: Value,
  k: Value,
  v: Value,
  numHeads: number,
  m: FusedAttentionInputs = {},
): FusedForm | null {
  if (q.dtype !== 'float32') return null;
  const b = m.bias;
  if (b && (b.rank < 2 || b.rank > 4)) return null;
  const bias = b && b.rank < 4 ? ops.unsqueeze(b, range(0, 4 - b.rank)) : (b ?? null);
  return {
    op: 'MultiHeadAttention',
    domain: 'com.microsoft',
    inputs: [q, k, v, null, m.keep ?? null, bias],
    attrs: {
      num_heads: { i: numHeads },
      ...(m.scale !== undefined ? { scale: { f: m.scale } } : {}),
      mask_filter_value: { f: -1e30 },
    },
  };
}

/** x broadcast to the batch dimension of `like` ((1, ...) → (B, ...)), also for a symbolic batch. */
export function expandBatch(x: Value, like: Value): Value {
  const b = like.shape[0];
  if (typeof b === 'number') return ops.expand(x, [b, ...(x.shape.slice(1) as number[])]);
  // Symbolic batch: add a zero derived from `like` (finite values), which broadcasts x.
  const zero = ops.mul(
    ops.slice(like, Array(like.rank - 1).fill(0), Array(like.rank - 1).fill(1), range(1, like.rank)),
    0,
  );
  const z = ops.reshape(zero, [b, ...Array(x.rank - 1).fill(1)] as Dim[]);
  return ops.add(x, z);
}

/** Additive key bias float32 (B,1,1,L): −inf where `padding` (int or bool, (B,L)) is non-zero, else 0. */
export function keyPaddingBias(padding: Value): Value {
  const isPad = padding.dtype === 'bool' ? padding : ops.not(ops.equal(padding, ops.lift(0, padding)));
  const zero = padding.graph.constant(Tensor.scalar(0, 'float32'), 'zero');
  return ops.unsqueeze(ops.where(isPad, -Infinity, zero), [1, 2]);
}

/** Pads the last axis with `left` zeros in front (a number, or an int64 scalar computed at run time). */
export function padLastLeft(x: Value, left: number | Value): Value {
  const r = x.rank;
  if (typeof left === 'number') {
    const p = Array(2 * r).fill(0);
    p[r - 1] = left;
    return ops.pad(x, p);
  }
  const g = x.graph;
  const before = g.constant(Tensor.i64([r - 1], Array(r - 1).fill(0)), 'pads');
  const after = g.constant(Tensor.i64([r], Array(r).fill(0)), 'pads');
  const pads = ops.concat([before, ops.reshape(left, [1]), after], 0);
  return ops.pad(x, pads, 0, [...x.shape.slice(0, -1), ops.freshDim(`${x.name}_padded`)]);
}

/** Size of axis `axis` of x as an int64 scalar value (read at run time). */
export function dimOf(x: Value, axis: number): Value {
  const a = normAxis('dimOf', axis, x.rank);
  return ops.squeeze(ops.shapeOf(x, a, a + 1), [0]);
}

/** Row-major indices of the non-zero entries of a mask of any shape, as int64 (N,). */
export function nonzeroFlat(mask: Value): Value {
  const flat = ops.reshape(mask, [-1]);
  const b = flat.dtype === 'bool' ? flat : ops.not(ops.equal(flat, ops.lift(0, flat)));
  return ops.reshape(ops.nonZero(b), [-1]);
}

function range(a: number, b: number): number[] {
  return Array.from({ length: b - a }, (_, i) => a + i);
}
