/**
 * unilm `beit2/modeling_vqkd.VQKD` as tokenizer and student: keys `encoder.*`, `decoder.*`,
 * `quantize.*`, `encode_task_layer.{0,2}.*`, `decode_task_layer.{0,2}.*` (the checkpoint's
 * `teacher_model.*`, `scaling_layer.*`, `loss*` keys belong to training and are dropped at load).
 */
import { ops } from '../../graph/index.js';
import type { Value } from '../../graph/ir.js';
import { Tensor } from '../../graph/tensor.js';
import { Inits } from '../../nn/init.js';
import { Linear } from '../../nn/layers.js';
import { Module, type ParamScope } from '../../nn/module.js';
import { gridSize, type VqkdConfig, validateVqkdConfig, VqkdConfigError } from './config.js';
import { NormEMAVectorQuantizer, type QuantizeOutputs, quantize } from './quantizer.js';
import { TRUNC_02, VisionTransformer } from './vit.js';

/** nn.Sequential(Linear(in, in), Tanh(), Linear(in, out)): children `0` and `2`. */
export class TaskLayer extends Module {
  readonly fc1: Linear;
  readonly fc2: Linear;
  constructor(inDim: number, outDim: number) {
    super();
    this.fc1 = this.addModule('0', new Linear(inDim, inDim, { init: TRUNC_02 }));
    this.fc2 = this.addModule('2', new Linear(inDim, outDim, { init: TRUNC_02 }));
  }
  forward(s: ParamScope, x: Value): Value {
    return this.fc2.forward(s, ops.tanh(this.fc1.forward(s, x)));
  }
}

/** ImageNet mean/std of timm (process_type 'imagenet_norm'). */
const IMAGENET_MEAN = [0.485, 0.456, 0.406];
const IMAGENET_STD = [0.229, 0.224, 0.225];

export interface EncodeOutputs extends QuantizeOutputs {
  /** Preprocessed input (B, 3, H, W) in [−1, 1]. */
  pre: Value;
  /** Encoder patch tokens after fc_norm (B, N, D). */
  encoderTokens: Value;
  /** encode_task_layer output (B, N, codeDim), before l2norm. */
  features: Value;
}

export class VQKD extends Module {
  readonly encoder: VisionTransformer;
  readonly decoder: VisionTransformer;
  readonly quantize: NormEMAVectorQuantizer;
  readonly encodeTaskLayer: TaskLayer;
  readonly decodeTaskLayer: TaskLayer;
  constructor(readonly cfg: VqkdConfig) {
    super();
    validateVqkdConfig(cfg);
    this.encoder = this.addModule('encoder', new VisionTransformer(cfg.encoder));
    this.decoder = this.addModule('decoder', new VisionTransformer(cfg.decoder));
    this.quantize = this.addModule(
      'quantize',
      new NormEMAVectorQuantizer(cfg.nCode, cfg.codeDim, cfg.decay, cfg.beta),
    );
    this.encodeTaskLayer = this.addModule('encode_task_layer', new TaskLayer(cfg.encoder.embedDim, cfg.codeDim));
    this.decodeTaskLayer = this.addModule(
      'decode_task_layer',
      new TaskLayer(cfg.decoder.embedDim, cfg.decoderOutDim),
    );
    // Fresh codebook: kmeans_init → zeros + initted 0 (EmbeddingEMA); stated here for clarity.
    this.quantize.embedding.weight.init = Inits.zeros;
  }

  /** Keys of buffers and frozen codebook tensors (never in the optimizer). */
  frozenKeys(): string[] {
    return [...this.namedParameters()].map(([k]) => k).filter((k) => k.startsWith('quantize.'));
  }

  /**
   * `pre_process` ('default'): a batch whose max is ≤ 1 is [0, 1] data and is scaled by 255,
   * then x/127.5 − 1. The decision is per call over the whole batch, as in the official code.
   */
  preprocess(x: Value): Value {
    if (this.cfg.processType === 'imagenet_norm') {
      const c = (v: number[]) => x.graph.constant(tensor4(v), 'imagenet');
      return ops.div(ops.sub(x, c(IMAGENET_MEAN)), c(IMAGENET_STD));
    }
    const m = ops.reduceMax(x, [0, 1, 2, 3]);
    const scaled = ops.where(ops.lessOrEqual(m, 1), ops.mul(x, 255), x);
    return ops.sub(ops.div(scaled, 127.5), 1);
  }

  /** encoder → encode_task_layer → quantizer against `codebook` (default: the stored weight). */
  encode(s: ParamScope, image: Value, codebook?: Value): EncodeOutputs {
    const [b, c, h, w] = image.shape;
    const { imgSize } = this.cfg.encoder;
    if (image.rank !== 4 || c !== 3 || h !== imgSize || w !== imgSize)
      throw new VqkdConfigError(
        `VQKD.encode: images must be (B, 3, ${imgSize}, ${imgSize}), got [${image.shape.join(', ')}] (resize first)`,
      );
    const pre = this.preprocess(image);
    return this.encodePreprocessed(s, pre, codebook, b);
  }

  encodePreprocessed(s: ParamScope, pre: Value, codebook?: Value, batch = pre.shape[0]): EncodeOutputs {
    const encoderTokens = this.encoder.patchTokens(s, pre);
    const features = this.encodeTaskLayer.forward(s, encoderTokens);
    const flat = ops.reshape(features, [-1, this.cfg.codeDim]);
    const q = quantize(flat, codebook ?? s.get(this.quantize.embedding.weight), this.cfg.beta);
    const n = gridSize(this.cfg) ** 2;
    return { ...q, pre, encoderTokens, features, codes: ops.reshape(q.codes, [batch, n]) };
  }

  /** decoder ViT (patch 1) over the (B, C, h, w) code map, then decode_task_layer: (B, N, out). */
  decode(s: ParamScope, zq: Value, batch: Value['shape'][number]): Value {
    const g = gridSize(this.cfg);
    const map = ops.transpose(ops.reshape(zq, [batch, g, g, this.cfg.codeDim]), [0, 3, 1, 2]);
    return this.decodeTaskLayer.forward(s, this.decoder.patchTokens(s, map));
  }
}

const tensor4 = (v: number[]): Tensor => Tensor.f32([1, 3, 1, 1], v);

/** rec loss 'cosine': mean over tokens of 1 − ⟨t/‖t‖, r/‖r‖⟩ (plain norms, as in calculate_rec_loss). */
export function cosineRecLoss(rec: Value, target: Value): Value {
  const unit = (x: Value) => ops.div(x, ops.sqrt(ops.reduceSum(ops.mul(x, x), [-1], true)));
  const cos = ops.reduceSum(ops.mul(unit(target), unit(rec)), [-1]);
  return ops.reduceMean(ops.sub(1, cos), [0, 1]);
}
