/**
 * The VQ-KD teacher as a plug-in: any frozen feature extractor expressed as a graph. It receives
 * the student's preprocessed batch (B, 3, H, W) in [−1, 1] (`VQKD.pre_process` output, what the
 * official `get_regress_target` receives), applies its own input normalisation, and returns
 * per-patch targets (B, N, D) on the student's token grid. Its weights (if any) are a module whose
 * keys are the checkpoint's (`teacher_model.*` for the official CLIP teacher); the training graph
 * binds them as constants, so they never get gradients or optimizer state.
 */
import { ops } from '../../../graph/index.js';
import type { Value } from '../../../graph/ir.js';
import { Tensor } from '../../../graph/tensor.js';
import type { Module, ParamScope } from '../../../nn/module.js';
import { Beit3Error } from '../../../util/errors.js';

export class TeacherError extends Beit3Error {
  override name = 'TeacherError';
}

export interface FeatureTeacher {
  /** For logs and errors, e.g. 'clip-vit (width 24, 2 layers)'. */
  readonly name: string;
  /** Feature size D of the targets (the student's decoder_out_dim must equal it). */
  readonly outDim: number;
  /** Patch grid side of the targets for the given input side (must equal the student's). */
  grid(imgSize: number): number;
  /** Frozen weights, or null for a parameter-free extractor. */
  readonly module: Module | null;
  /** (B, 3, H, W) preprocessed images in [−1, 1] → (B, N, D) targets; `s` is a scope over `module`. */
  targets(s: ParamScope | null, pre: Value): Value;
}

/** A scaling layer of modeling_vqkd: [−1, 1] back to [0, 1] (clamped), then (x − shift)/scale per channel. */
export function scalingLayer(pre: Value, shift: readonly number[], scale: readonly number[]): Value {
  const g = pre.graph;
  const c = (v: readonly number[], n: string) => g.constant(Tensor.f32([1, 3, 1, 1], v), n);
  const x01 = ops.div(ops.clip(ops.mul(ops.add(pre, 1), 127.5), 0, 255), 255);
  return ops.div(ops.sub(x01, c(shift, 'teacher_shift')), c(scale, 'teacher_scale'));
}

/** ScalingLayerForClip (CLIP's mean/std). */
export const CLIP_SHIFT = [0.48145466, 0.4578275, 0.40821073];
export const CLIP_SCALE = [0.26862954, 0.26130258, 0.27577711];
/** ScalingLayerForIM (ImageNet mean/std, the DINO teacher). */
export const IMAGENET_SHIFT = [0.485, 0.456, 0.406];
export const IMAGENET_SCALE = [0.229, 0.224, 0.225];

/** Row-major patches (B, g², 3·p·p) of a (B, 3, H, W) image, flattened (c, ky, kx) like a Conv2d weight. */
export function patchify(x: Value, p: number): Value {
  const [b, c, h] = x.shape as number[];
  const g = h / p;
  const y = ops.transpose(ops.reshape(x, [b, c, g, p, g, p]), [0, 2, 4, 1, 3, 5]);
  return ops.reshape(y, [b, g * g, c * p * p]);
}
