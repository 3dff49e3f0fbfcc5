/**
 * The graphs VQ-KD training runs (the official `VQKD.forward` in training mode and the
 * quantizer's k-means initialisation), built here beside the model; the train layer compiles
 * them (src/train/vqkd.ts). Models never import train/, so these return plain graph pieces.
 *
 * Training forward (train-ref README §5.4): pre = pre_process(x); target = teacher(pre);
 * z = l2norm(encode_task_layer(encoder(pre))); codes = nearest rows of the CURRENT codebook;
 * z_q = its rows; loss = mse(z_q, z) + mean(1 − cos(decode(z + (z_q − z).detach()), target)).
 * Side effects inside the same program: cluster_size ← EMA(bins), codebook ← l2norm(EMA of
 * the l2-normalised centroids). The loss uses the codebook from before the update.
 */
import { Graph, type Value } from '../../graph/ir.js';
import { ops } from '../../graph/index.js';
import type { Tensor } from '../../graph/tensor.js';
import { ParamScope } from '../../nn/module.js';
import { gridSize } from './config.js';
import { cosineRecLoss, type VQKD } from './model.js';
import { codebookEmaUpdate, cosineKmeans } from './quantizer.js';
import { type FeatureTeacher, TeacherError } from './teachers/teacher.js';

/** Names of the state the training forward updates (graph inputs = official keys). */
export const CODEBOOK_KEY = 'quantize.embedding.weight';
export const CLUSTER_SIZE_KEY = 'quantize.cluster_size';
export const EMBED_CLUSTER_SIZE_KEY = 'quantize.embedding.cluster_size';
export const INITTED_KEY = 'quantize.embedding.initted';

export interface VqkdTrainGraph {
  graph: Graph;
  image: Value;
  /** quant_loss + rec_loss. */
  loss: Value;
  /** Trainable parameters the forward uses (graph inputs named by key). */
  params: Value[];
  /** Codebook and usage statistic: inputs and their values after this step's EMA. */
  state: { input: Value; next: Value }[];
  /** Scalars and tensors worth returning each step. */
  outputs: Record<string, Value>;
  /** Teacher weights, to bind as constants. */
  teacherBindings: Map<string, Tensor>;
}

/** Checks that teacher and student agree on the token grid and feature size. */
export function checkTeacher(model: VQKD, teacher: FeatureTeacher): void {
  const grid = teacher.grid(model.cfg.encoder.imgSize);
  if (grid !== gridSize(model.cfg))
    throw new TeacherError(
      `teacher ${teacher.name} gives a ${grid}×${grid} grid, the tokenizer ${gridSize(model.cfg)}×${gridSize(model.cfg)}`,
    );
  if (teacher.outDim !== model.cfg.decoderOutDim)
    throw new TeacherError(
      `teacher ${teacher.name} gives ${teacher.outDim}-d features, the tokenizer's decoder_out_dim is ${model.cfg.decoderOutDim}`,
    );
}

export function buildVqkdTrainGraph(model: VQKD, teacher: FeatureTeacher, batch: number): VqkdTrainGraph {
  checkTeacher(model, teacher);
  const { imgSize } = model.cfg.encoder;
  const g = new Graph('vqkd_train');
  const image = g.input('image', 'float32', [batch, 3, imgSize, imgSize]);
  const s = new ParamScope(g, model, { training: true });
  const ts = teacher.module ? new ParamScope(g, teacher.module) : null;
  const pre = model.preprocess(image);
  const target = teacher.targets(ts, pre);
  const q = model.quantize;
  const codebook = s.get(q.embedding.weight);
  const clusterSize = s.get(q.clusterSize);
  const e = model.encodePreprocessed(s, pre, codebook, batch);
  const flatCodes = ops.reshape(e.codes, [-1]);
  const upd = codebookEmaUpdate(e.zFlat, flatCodes, codebook, clusterSize, model.cfg.nCode, model.cfg.decay);
  const rec = model.decode(s, e.zqST, batch);
  const recLoss = cosineRecLoss(rec, target);
  const loss = ops.add(e.loss, recLoss);
  const frozen = new Set(model.frozenKeys());
  const params = [...s.used()].filter(([k]) => !frozen.has(k)).map(([, v]) => v);
  return {
    graph: g,
    image,
    loss,
    params,
    state: [
      { input: codebook, next: upd.codebook },
      { input: clusterSize, next: upd.clusterSize },
    ],
    outputs: {
      quant_loss: e.loss,
      rec_loss: recLoss,
      codes: e.codes,
      bins: upd.bins,
      rec,
      to_quantizer_features: e.features,
      teacher_target: target,
    },
    teacherBindings: ts ? ts.bindings() : new Map(),
  };
}

export interface VqkdKmeansGraph {
  graph: Graph;
  image: Value;
  /** (K,) int64 indices of the initial means into the batch's B·N vectors. */
  init: Value;
  /** Outputs: `means` (K, C) → codebook, `bins` (K,) → embedding.cluster_size. */
  scope: ParamScope;
}

/**
 * `EmbeddingEMA.init_embed_` on a batch: the l2-normalised quantizer inputs of the current
 * encoder, then 10 iterations of cosine k-means from the given initial rows.
 */
export function buildVqkdKmeansGraph(model: VQKD, batch: number, iters = 10): VqkdKmeansGraph {
  const { imgSize } = model.cfg.encoder;
  const g = new Graph('vqkd_kmeans');
  const image = g.input('image', 'float32', [batch, 3, imgSize, imgSize]);
  const init = g.input('init', 'int64', [model.cfg.nCode]);
  const s = new ParamScope(g, model);
  const pre = model.preprocess(image);
  const feats = model.encodeTaskLayer.forward(s, model.encoder.patchTokens(s, pre));
  const z = ops.reshape(feats, [-1, model.cfg.codeDim]);
  const zFlat = ops.div(z, ops.max(ops.sqrt(ops.reduceSum(ops.mul(z, z), [1], true)), 1e-12));
  const { means, bins } = cosineKmeans(zFlat, init, model.cfg.nCode, iters);
  g.output(means, 'means');
  g.output(bins, 'bins');
  return { graph: g, image, init, scope: s };
}

/**
 * `sample_vectors`: K distinct rows when the batch has at least K vectors (randperm prefix),
 * else K draws with replacement (randint) — from the caller's seeded generator.
 */
export function kmeansInitIndices(numVectors: number, nCode: number, rng: { sample(n: number, k: number): number[]; int(n: number): number }): number[] {
  if (numVectors >= nCode) return rng.sample(numVectors, nCode);
  return Array.from({ length: nCode }, () => rng.int(numVectors));
}
