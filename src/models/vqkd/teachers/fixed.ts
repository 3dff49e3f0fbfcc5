/**
 * A parameter-free teacher: targets are a fixed function of the pixels. The built-in one is a
 * seeded random projection of each patch (after ImageNet normalisation); any other graph
 * function of the preprocessed batch can be wrapped the same way with `fixedTeacher`.
 */
import { ops } from '../../../graph/index.js';
import type { Value } from '../../../graph/ir.js';
import { Tensor } from '../../../graph/tensor.js';
import { Rng } from '../../../util/random.js';
import { type FeatureTeacher, IMAGENET_SCALE, IMAGENET_SHIFT, patchify, scalingLayer, TeacherError } from './teacher.js';

/** Wraps `(pre) → (B, N, outDim)` as a teacher whose grid is `imgSize / patchSize`. */
export function fixedTeacher(
  name: string,
  outDim: number,
  patchSize: number,
  fn: (pre: Value) => Value,
): FeatureTeacher {
  return {
    name,
    outDim,
    module: null,
    grid: (imgSize) => {
      if (imgSize % patchSize) throw new TeacherError(`${name}: input ${imgSize}px is not a multiple of patch ${patchSize}`);
      return imgSize / patchSize;
    },
    targets: (_s, pre) => fn(pre),
  };
}

/** Patches (ImageNet-normalised) times a seeded N(0, 1/fan_in) matrix: (B, g², outDim). */
export function randomProjectionTeacher(opts: { patchSize: number; outDim: number; seed?: number }): FeatureTeacher {
  const { patchSize: p, outDim } = opts;
  const fanIn = 3 * p * p;
  const rng = new Rng(opts.seed ?? 0);
  const w = new Float32Array(fanIn * outDim);
  // Box–Muller normals from the project's seeded generator.
  for (let i = 0; i < w.length; i++)
    w[i] = (Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next())) / Math.sqrt(fanIn);
  const weight = new Tensor('float32', [fanIn, outDim], w);
  return fixedTeacher(`random-projection (patch ${p}, ${outDim}-d, seed ${opts.seed ?? 0})`, outDim, p, (pre) => {
    const x = scalingLayer(pre, IMAGENET_SHIFT, IMAGENET_SCALE);
    return ops.matmul(patchify(x, p), pre.graph.constant(weight, 'teacher_projection'));
  });
}
