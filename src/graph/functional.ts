/**
 * Composite layers built from primitive op builders (so autodiff needs no extra rules). The
 * inference compiler may still map some of them to ORT fused kernels (ORT's own graph fusions
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

/** Dropout with a mask drawn in-graph (RandomUniformLike); p = 0 returns x unchanged. */
export function dropout(x: Value, p: number, seed?: number): Value {
  if (p <= 0) return x;
  const keep = ops.cast(ops.greaterOrEqual(ops.randomUniformLike(x, 0, 1, seed), p), x.dtype);
  return ops.mul(ops.mul(x, keep), 1 / (1 - p));
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
  let scores = ops.matmul(ops.mul(q, scale), ops.transpose(k, [0, 1, 3, 2]));
  if (masks.attnMask) scores = ops.add(scores, masks.attnMask);
  if (masks.keyPaddingMask) {
    const m = masks.keyPaddingMask;
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
  const fused = attentionFusion(qp, kp, vp, numHeads, masks); // its mask nodes must precede the core
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

/**
 * Registers ORT's contrib MultiHeadAttention (float32, CPU) as the fused form of the attention
 * core [B, L, D] → [B, L, D]; its mask inputs are built here and become dead code otherwise.
 */
function attentionFusion(
  q: Value,
  k: Value,
  v: Value,
  numHeads: number,
  masks: AttentionMasks,
): FusedForm | null {
  if (q.dtype !== 'float32') return null;
  const am = masks.attnMask;
  if (am && (am.rank < 2 || am.rank > 4)) return null;
  const bias = am
    ? am.rank === 2
      ? ops.unsqueeze(am, [0, 1])
      : am.rank === 3
        ? ops.unsqueeze(am, [1])
        : am
    : null;
  const kpm = masks.keyPaddingMask ? ops.cast(ops.not(masks.keyPaddingMask), 'int32') : null;
  return {
    op: 'MultiHeadAttention',
    domain: 'com.microsoft',
    inputs: [q, k, v, null, kpm, bias],
    attrs: { num_heads: { i: numHeads }, mask_filter_value: { f: -1e30 } },
  };
}
