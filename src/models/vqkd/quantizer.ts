/**
 * `norm_ema_quantizer.NormEMAVectorQuantizer` with its `EmbeddingEMA`: an l2-normalised codebook
 * updated by EMA of l2-normalised batch centroids (no gradient), nearest-code search, the
 * commitment loss and the straight-through estimator. Keys: `cluster_size` (usage statistic,
 * a buffer), `embedding.{weight, cluster_size, embed_avg, initted}` (frozen, never trained).
 *
 * Every numeric step is a graph builder (search, EMA update, k-means), so it runs inside ORT:
 * in the tokenizer's forward, in the compiled train step, and in the one-off k-means program.
 */
import { stopGradient } from '../../autodiff/index.js';
import { F as G, ops } from '../../graph/index.js';
import type { Value } from '../../graph/ir.js';
import { Tensor } from '../../graph/tensor.js';
import { Inits } from '../../nn/init.js';
import { Module, type Parameter } from '../../nn/module.js';

export class EmbeddingEMA extends Module {
  readonly weight: Parameter;
  readonly clusterSize: Parameter;
  readonly embedAvg: Parameter;
  /** 1 once the codebook holds k-means (or trained) rows; 0 = k-means on the first batch. */
  readonly initted: Parameter;
  constructor(nCode: number, codeDim: number) {
    super();
    // kmeans_init=True (the registered models): the codebook starts as zeros and initted = 0.
    this.weight = this.addParameter('weight', [nCode, codeDim], Inits.zeros);
    this.clusterSize = this.addParameter('cluster_size', [nCode], Inits.zeros);
    this.embedAvg = this.addParameter('embed_avg', [nCode, codeDim], Inits.zeros);
    this.initted = this.addParameter('initted', [1], Inits.zeros);
  }
}

export class NormEMAVectorQuantizer extends Module {
  readonly clusterSize: Parameter;
  readonly embedding: EmbeddingEMA;
  constructor(
    readonly nCode: number,
    readonly codeDim: number,
    readonly decay = 0.99,
    readonly beta = 1,
  ) {
    super();
    this.clusterSize = this.addParameter('cluster_size', [nCode], Inits.zeros);
    this.embedding = this.addModule('embedding', new EmbeddingEMA(nCode, codeDim));
  }
}

/** `l2norm`: F.normalize(x, p=2, dim=-1), x / max(‖x‖, 1e-12). */
export const l2norm = (x: Value): Value => G.l2Normalize(x, -1, 1e-12);

/**
 * Nearest codebook row of each vector: argmin_k ‖z‖² + ‖e_k‖² − 2 z·e_k, written in the
 * official order of operations (first index on ties, like torch.argmin). z (N, C), e (K, C) → (N,) int64.
 */
export function nearestCode(z: Value, codebook: Value): Value {
  const zz = ops.reduceSum(ops.mul(z, z), [1], true);
  const ee = ops.reduceSum(ops.mul(codebook, codebook), [1]);
  const ze = ops.matmul(z, ops.transpose(codebook, [1, 0]));
  const d = ops.sub(ops.add(zz, ee), ops.mul(ze, 2));
  return ops.argMax(ops.neg(d), 1);
}

/**
 * Per-code counts (bincount with minlength K) and per-code sums of the vectors, by scatter-add
 * (O(N·C) memory; the official one-hot (N, K) matmul would hold N·K floats — 400 MB for a
 * 64-image batch against 8192 codes). codes (N,) int64, z (N, C).
 */
export function codeSums(codes: Value, z: Value, nCode: number): { bins: Value; sums: Value } {
  const g = z.graph;
  const [n, c] = z.shape as number[];
  const bins = ops.scatterElements(
    g.constant(Tensor.zeros(z.dtype, [nCode]), 'bins0'),
    codes,
    g.constant(onesTensor(z.dtype, n), 'ones'),
    0,
    'add',
  );
  const idx = ops.expand(ops.unsqueeze(codes, [1]), [n, c]);
  const sums = ops.scatterElements(g.constant(Tensor.zeros(z.dtype, [nCode, c]), 'sums0'), idx, z, 0, 'add');
  return { bins, sums };
}

function onesTensor(dtype: Value['dtype'], n: number): Tensor {
  const t = Tensor.zeros(dtype, [n]);
  (t.data as Float32Array).fill(1);
  return t;
}

/** `ema_inplace`: avg·d + new·(1 − d). */
export function ema(avg: Value, next: Value, decay: number): Value {
  return ops.add(ops.mul(avg, decay), ops.mul(next, 1 - decay));
}

export interface EmaUpdate {
  /** `quantize.embedding.weight` after the step (unit rows). */
  codebook: Value;
  /** `quantize.cluster_size` after the step. */
  clusterSize: Value;
  /** Code counts of the batch. */
  bins: Value;
}

/**
 * The training-mode side effects of the official forward: usage EMA, then the codebook EMA of
 * the l2-normalised centroids (codes without vectors keep their row), renormalised.
 */
export function codebookEmaUpdate(
  zFlat: Value,
  codes: Value,
  codebook: Value,
  clusterSize: Value,
  nCode: number,
  decay: number,
): EmaUpdate {
  const { bins, sums } = codeSums(codes, zFlat, nCode);
  const newClusterSize = ema(clusterSize, bins, decay);
  const empty = ops.equal(bins, 0);
  const binsSafe = ops.where(empty, 1, bins);
  const centroids = l2norm(ops.div(sums, ops.unsqueeze(binsSafe, [1])));
  const target = ops.where(ops.unsqueeze(empty, [1]), codebook, centroids);
  return { codebook: l2norm(ema(codebook, target, decay)), clusterSize: newClusterSize, bins };
}

export interface QuantizeOutputs {
  /** l2-normalised input vectors (B·N, C) in (b, y, x) order. */
  zFlat: Value;
  /** Nearest codes (B·N,) int64. */
  codes: Value;
  /** Gathered codebook rows (B·N, C) (pre-update codebook). */
  zq: Value;
  /** beta · mean((z_q − z)²); gradient only into z. */
  loss: Value;
  /** Straight-through z + (z_q − z).detach(), (B·N, C). */
  zqST: Value;
}

/** The quantizer's forward math on (B·N, C) vectors (before l2norm) against a codebook value. */
export function quantize(zIn: Value, codebook: Value, beta = 1): QuantizeOutputs {
  const zFlat = l2norm(zIn);
  const codes = nearestCode(zFlat, codebook);
  const zq = stopGradient(ops.gather(codebook, codes, 0));
  const diff = ops.sub(zq, zFlat);
  let loss = ops.reduceMean(ops.mul(diff, diff), [0, 1]);
  if (beta !== 1) loss = ops.mul(loss, beta);
  const zqST = ops.add(zFlat, stopGradient(diff));
  return { zFlat, codes, zq, loss, zqST };
}

/**
 * `kmeans(samples, K, iters, use_cosine_sim=True)` unrolled into graph ops: `init` (K,) int64
 * indices of the initial means (the caller draws them: a permutation prefix, or with
 * replacement when there are fewer samples than codes). Returns the means and the last
 * iteration's counts (what `init_embed_` copies into weight and embedding.cluster_size).
 */
export function cosineKmeans(samples: Value, init: Value, nCode: number, iters = 10): { means: Value; bins: Value } {
  let means = ops.gather(samples, init, 0);
  let bins: Value | undefined;
  for (let i = 0; i < iters; i++) {
    const dists = ops.matmul(samples, ops.transpose(means, [1, 0]));
    const buckets = ops.argMax(dists, 1);
    const c = codeSums(buckets, samples, nCode);
    bins = c.bins;
    const empty = ops.equal(bins, 0);
    const newMeans = l2norm(ops.div(c.sums, ops.unsqueeze(ops.where(empty, 1, bins), [1])));
    means = ops.where(ops.unsqueeze(empty, [1]), means, newMeans);
  }
  return { means, bins: bins! };
}
